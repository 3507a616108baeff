"""The Converter: the net's picks, palettes, methods, steady frames and the background behind the emoji."""
import numpy as np
import pytest
from PIL import Image

from conftest import GREY, dark_scene, halves, solid


def test_red_photo_gives_red_emoji_and_blue_gives_blue(converter, tmp_path):
    grid = converter.grid(halves(tmp_path / "rb.png", (230, 30, 30), (30, 60, 230)), cols=4)
    assert grid.shape == (4, 4)
    assert {converter.texts[c] for c in grid[:2].ravel()} <= {"🟥", "🍅"}
    assert {converter.texts[c] for c in grid[2:].ravel()} <= {"🟦", "🌊", "💧"}


def test_terminal_palette_masks_logits(converter, tmp_path):
    allowed = converter.allowed("terminal")
    assert allowed.any()
    grid = converter.grid(solid(tmp_path / "w.png", (250, 250, 250)), cols=3, palette="terminal")
    assert allowed[grid].all()


def test_grid_of_a_pil_image_matches_the_file(converter, tmp_path):
    path = halves(tmp_path / "h.png", (230, 30, 30), (30, 60, 230))
    with Image.open(path) as image:
        np.testing.assert_array_equal(converter.grid(image.copy(), cols=4), converter.grid(path, cols=4))


def test_steady_frames_do_not_flicker_and_a_real_change_shows_at_once(converter):
    rng = np.random.default_rng(0)
    # a picture of near-ties for the tiny set: a smooth blend from red to blue, plus camera noise
    blend = np.linspace(0, 1, 288)[None, :, None]
    base = (1 - blend) * np.array([230, 30, 30]) + blend * np.array([30, 60, 230]) + np.zeros((216, 1, 1))
    noisy = lambda: Image.fromarray(np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8))
    plain, steady, previous, last = [], [], None, None
    for _ in range(6):
        frame = noisy()
        grid = converter.grid(frame, cols=16, method="net")
        held = converter.cells(frame, cols=16, method="net", previous=previous).grid
        if last is not None:
            plain.append((grid != last).mean())
            steady.append((held != previous).mean())
        last, previous = grid, held
    assert np.mean(plain) > 0.02 and np.mean(steady) <= 0.5 * np.mean(plain)  # noise alone flips over 2% a frame
    green = Image.new("RGB", (288, 216), (30, 200, 60))
    changed = converter.cells(green, cols=16, method="net", previous=previous).grid
    np.testing.assert_array_equal(changed, converter.grid(green, cols=16, method="net"))  # the new scene, whole, in one frame


def test_every_method_keeps_to_the_palette_and_repeats_itself(converter, tmp_path):
    path = halves(tmp_path / "ry.png", (235, 125, 35), (120, 90, 60), (120, 96))
    allowed = converter.allowed("terminal")
    for method in ("refine", "net", "lookup"):
        grids = [converter.grid(path, cols=6, palette="terminal", method=method) for _ in range(2)]
        np.testing.assert_array_equal(*grids)
        assert grids[0].shape == (5, 6) and allowed[grids[0]].all()


def test_the_tiles_on_any_background_are_the_tiles_laid_on_it(converter):
    from pic2emoji.views import view_of
    from pic2emoji.pixels import composite
    tiles = converter.renderer.rgba(np.arange(len(converter.tile_of)), 36)  # as the mosaic draws them
    for background in ((0, 0, 0), GREY, (200, 30, 90)):
        laid = view_of(composite(tiles, background))
        np.testing.assert_allclose(converter.views_on(background), laid, atol=1e-3)


def test_auto_chooses_for_each_photo_and_nothing_asked_keeps_the_models(converter, tmp_path):
    from pic2emoji.background import choose_background
    from pic2emoji.options import AUTO, Options
    from pic2emoji.photo import cut_patches
    from pic2emoji.views import view_of
    dark = converter.cells(dark_scene(), cols=8, background=AUTO)
    pixels, shape, _ = converter.pixels(dark_scene(), Options(cols=8))
    expected = choose_background(view_of(cut_patches(pixels, shape)), shape, converter.layers(), GREY,
                                 converter.allowed("all"))
    assert dark.background == expected != GREY
    np.testing.assert_array_equal(dark.grid, converter.grid(dark_scene(), cols=8, background=expected))
    assert converter.cells(dark_scene(), cols=8).background == GREY  # asked for nothing: the model's
    again = converter.cells(dark_scene(), cols=8, background=AUTO)
    np.testing.assert_array_equal(dark.grid, again.grid)  # the same photo, the same choice


def test_a_background_may_be_given_as_a_name_a_list_or_an_array(converter):
    from pic2emoji.options import Options
    from pic2emoji.errors import OutputError
    grids = [converter.cells(dark_scene(), cols=8, background=b) for b in ("black", [0, 0, 0], np.zeros(3, np.uint8))]
    assert all(c.background == (0, 0, 0) for c in grids)
    np.testing.assert_array_equal(grids[0].grid, grids[2].grid)
    assert Options(background=np.array([10, 20, 30])).background == (10, 20, 30)
    assert Options(background="AUTO").background == "auto" and Options("txt", background="white").background == (255, 255, 255)
    with pytest.raises(OutputError, match="background"):
        Options(background=(300, 0, 0))


def test_a_host_converter_gives_the_devices_grids_for_photos_and_films(converter, tiny_set, tiny_model, tmp_path):
    from pic2emoji.converter import Converter
    from pic2emoji.options import Options
    host = Converter(tiny_set, tiny_model, host=True)
    photo = halves(tmp_path / "p.png", (230, 30, 30), (30, 60, 230), size=(160, 120))
    for method in ("net", "refine"):
        assert (host.grid(photo, cols=8, method=method) == converter.grid(photo, cols=8, method=method)).all()
    frames = [Image.open(photo).rotate(angle) for angle in (0, 5, 10)]
    ours = [c.grid for c in host.frames(frames, Options("gif", cols=8))]
    theirs = [c.grid for c in converter.frames(frames, Options("gif", cols=8))]
    assert all((a == b).all() for a, b in zip(ours, theirs))
