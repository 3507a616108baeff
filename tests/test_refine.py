"""The whole-mosaic refinement, model-free: flat-colour tiles whose mixtures are known."""
import numpy as np
import pytest

from pic2emoji.data import oracle_view
from pic2emoji.refine import Refiner, srgb_to_lab

RED, YELLOW, GREY, ORANGE = (230, 30, 30), (240, 220, 40), (128, 128, 128), (235, 125, 35)


def tiles(*colours):
    return np.stack([np.full((36, 36, 3), c, np.float32) for c in colours])


def blocks(*colours):
    return oracle_view(tiles(*colours))


def photo(colour, rows=6, cols=6):
    return np.full((rows * cols, 36, 36, 3), colour, np.uint8)


def test_lab_of_the_standard_colours():
    lab = srgb_to_lab(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0]], np.float32))
    np.testing.assert_allclose(lab, [[100, 0, 0], [0, 0, 0], [53.24, 80.09, 67.20]], atol=0.05)


def test_orange_from_red_and_yellow_seen_from_a_step_back():
    refiner = Refiner(blocks(RED, YELLOW, GREY), weight=7)
    start = refiner.nearest(photo(ORANGE))  # the lookup: one colour everywhere
    assert len(np.unique(start)) == 1
    grid = refiner(photo(ORANGE), (6, 6), start)
    assert set(np.unique(grid)) == {0, 1}  # red and yellow, mixed
    windows = tiles(RED, YELLOW, GREY)[:, 0, 0][grid]
    mixed = (windows[:-1, :-1] + windows[1:, :-1] + windows[:-1, 1:] + windows[1:, 1:]) / 4
    assert np.abs(mixed - ORANGE).max(-1).mean() < np.abs(tiles(RED)[0, 0, 0] - ORANGE).max()


def test_a_colour_an_emoji_has_stays_that_emoji():
    refiner = Refiner(blocks(RED, YELLOW, GREY))
    np.testing.assert_array_equal(refiner(photo(GREY), (6, 6), np.full(36, 2)), np.full((6, 6), 2))


def test_allowed_classes_only_and_the_same_every_run():
    refiner = Refiner(blocks(RED, YELLOW, GREY, ORANGE))
    allowed = np.array([True, True, True, False])
    rng = np.random.default_rng(1)
    patches = rng.integers(0, 256, (5 * 7, 36, 36, 3), dtype=np.uint8)
    start = refiner.nearest(patches, allowed)
    assert allowed[start].all()
    grids = [refiner(patches, (5, 7), start, allowed) for _ in range(2)]
    np.testing.assert_array_equal(*grids)
    assert allowed[grids[0]].all()


@pytest.mark.parametrize("shape", [(1, 5), (5, 1), (1, 1), (2, 3)])
def test_thin_grids(shape):
    refiner = Refiner(blocks(RED, YELLOW, GREY))
    patches = photo(ORANGE, *shape)
    assert refiner(patches, shape, refiner.nearest(patches)).shape == shape
