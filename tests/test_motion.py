"""A film's frames: what did not change is not judged again (by the net, by refine's candidates, by the
ladder), what changed is, and the film keeps its frames, rate and tile size."""
import numpy as np
import pytest
from PIL import Image

from conftest import make_video, run
from hypothesis import given, settings, strategies as st

from pic2emoji.motion import JUDGE_EVERY, Memory, around, net_again, pooled_top, top_k
from pic2emoji.options import Options
from pic2emoji.refine import Refiner
from pic2emoji.views import view_of

RED, BLUE, GREEN, YELLOW, GREY = (230, 30, 30), (30, 60, 230), (40, 190, 60), (240, 220, 40), (128, 128, 128)


def patches_of(colours: np.ndarray) -> np.ndarray:
    """(rows, cols, 3) cell colours -> (rows·cols, 36, 36, 3) flat patches."""
    cells = colours.shape[0] * colours.shape[1]
    return np.broadcast_to(colours.reshape(-1, 1, 1, 3), (cells, 36, 36, 3)).astype(np.uint8)


def scene(rows=6, cols=8, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).choice(np.array([RED, BLUE, GREEN, YELLOW, GREY]), (rows, cols))


@pytest.fixture
def refiner():
    tiles = np.stack([np.full((36, 36, 3), c, np.float32) for c in (RED, BLUE, GREEN, YELLOW, GREY)])
    return Refiner(view_of(tiles), k=3)


def counting(monkeypatch, owner, name):
    """Wrap owner.name so each call's first argument's length is recorded."""
    calls, real = [], getattr(owner, name)
    monkeypatch.setattr(owner, name, lambda first, *a, **k: calls.append(len(first)) or real(first, *a, **k))
    return calls


def test_a_still_frame_recalls_the_candidates_and_the_rung_and_gives_the_same_grid(refiner, monkeypatch):
    cells = scene()
    view, start = view_of(patches_of(cells)), refiner.nearest(patches_of(cells))
    grid, recall = refiner.frame(view, cells.shape[:2], start)
    np.testing.assert_array_equal(grid, refiner(patches_of(cells), cells.shape[:2], start))  # a photo's grid
    candidates = counting(monkeypatch, refiner, "candidates")
    again, recall_again = refiner.frame(view, cells.shape[:2], start, last=recall)
    np.testing.assert_array_equal(again, grid)
    assert candidates == [] and recall_again.rung == recall.rung


def test_a_films_rung_is_judged_against_the_lookup_every_few_frames(refiner, monkeypatch):
    """A rung that held goes on unjudged for JUDGE_EVERY - 1 frames (judging is the lookup's mosaic and
    two estimates); then it is judged again, and the search runs where it no longer holds."""
    import pic2emoji.refine as module
    estimates = counting(monkeypatch, module, "estimate")
    refiner.keep = (1.0, 100.0)  # orange from red and yellow is kept, whatever it costs the cells' own colour
    for cells, rung in ((scene(), None), (np.full((6, 8, 3), (235, 125, 35)), refiner.first)):
        view, start = view_of(patches_of(cells)), refiner.nearest(patches_of(cells))
        grid, recall = refiner.frame(view, cells.shape[:2], start)
        assert recall.rung == rung  # the lookup's grid; a rung
        judged = []
        for _ in range(2 * JUDGE_EVERY):
            estimates.clear()
            again, recall = refiner.frame(view, cells.shape[:2], start, last=recall)
            judged.append(len(estimates) > 0)
            np.testing.assert_array_equal(again, grid)
        assert judged == ([False] * (JUDGE_EVERY - 1) + [True]) * 2 and recall.since == 0


def test_a_cell_that_changed_is_given_new_candidates_the_rest_keep_theirs(refiner, monkeypatch):
    cells = scene()
    view, start = view_of(patches_of(cells)), refiner.nearest(patches_of(cells))
    _, recall = refiner.frame(view, cells.shape[:2], start)
    moved = cells.copy()
    moved[2, 3] = BLUE if tuple(cells[2, 3]) != BLUE else RED
    view, start = view_of(patches_of(moved)), refiner.nearest(patches_of(moved))
    candidates = counting(monkeypatch, refiner, "candidates")
    _, again = refiner.frame(view, cells.shape[:2], start, last=recall)
    assert candidates == [1]  # that one cell, among all classes
    assert start[2 * 8 + 3] in again.top[2 * 8 + 3]
    np.testing.assert_array_equal(np.delete(again.top, 2 * 8 + 3, 0), np.delete(recall.top, 2 * 8 + 3, 0))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(1, 12), st.sampled_from([0, 3, 50]), st.booleans())
def test_pooled_top_is_argpartitions_choice(seed, k, levels, masked):
    """The k largest of each row, exactly, whatever the pool: near or far, repeating itself, short of
    allowed columns (-inf), with ties (scores of a few levels) and rows over `wide`."""
    rng = np.random.default_rng(seed)
    scores = (rng.integers(0, levels, (30, 40)) if levels else rng.normal(size=(30, 40))).astype(np.float32)
    if masked:
        scores[:, rng.random(40) < 0.3] = -np.inf
    pool = np.concatenate([rng.integers(0, 40, (30, 3)), np.tile(np.arange(40)[rng.permutation(40)[:k]], (30, 1))], 1)
    top = pooled_top(scores, k, pool, wide=rng.integers(k, 20))
    assert top.shape == (30, k) and all(len(set(row)) == k for row in top.tolist())
    kth = -np.partition(-scores, k - 1, 1)[:, k - 1]
    chosen = np.take_along_axis(scores, top, 1)
    assert (chosen >= kth[:, None]).all()  # none below the k-th largest: the same set up to ties
    np.testing.assert_array_equal(np.sort(chosen, 1), np.sort(np.take_along_axis(scores, np.argpartition(-scores, k - 1, 1)[:, :k], 1), 1))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(1, 24), st.sampled_from([0, 3, 50]), st.booleans(), st.integers(3, 40))
def test_top_k_bounded_by_group_maxima_is_argpartitions_choice(seed, k, levels, masked, group):
    """Groups of any size (a shorter last one, fewer groups than k), ties, -inf columns, rows over `wide`."""
    rng = np.random.default_rng(seed)
    scores = (rng.integers(0, levels, (40, 301)) if levels else rng.normal(size=(40, 301))).astype(np.float32)
    if masked:
        scores[:, rng.random(301) < 0.5] = -np.inf
    top = top_k(scores, k, 1, group)
    assert top.shape == (40, k) and all(len(set(row)) == k for row in top.tolist())
    expected = np.take_along_axis(scores, np.argpartition(-scores, k - 1, 1)[:, :k], 1)
    np.testing.assert_array_equal(np.sort(np.take_along_axis(scores, top, 1), 1), np.sort(expected, 1))


@pytest.mark.parametrize("rows,bands", [(10, 2), (700, 2), (701, 3), (300, 1)])
def test_top_k_in_bands_is_argpartitions_choice(rows, bands):
    scores = np.random.default_rng(rows).integers(0, 9, (rows, 50)).astype(np.float32)  # ties too
    top = top_k(scores, 7, bands)
    assert top.shape == (rows, 7) and all(len(set(row)) == 7 for row in top.tolist())
    expected = np.take_along_axis(scores, np.argpartition(-scores, 6, 1)[:, :7], 1)
    np.testing.assert_array_equal(np.sort(np.take_along_axis(scores, top, 1), 1), np.sort(expected, 1))


def test_around_gives_each_cell_its_own_and_its_neighbours_classes():
    top = np.arange(12).reshape(12, 1)  # a 3×4 grid, cell i holding class i
    pool = around(top, (3, 4))
    assert sorted(pool[5].tolist()) == [0, 1, 2, 4, 5, 6, 8, 9, 10]
    assert sorted(set(pool[0].tolist())) == [0, 1, 4, 5]  # a corner: the edge's own again


def test_a_film_of_one_picture_gives_one_mosaic_and_the_net_judges_it_once(converter, monkeypatch):
    frame = Image.fromarray(np.kron(scene(3, 4), np.ones((8, 8, 1))).astype(np.uint8))
    judged = counting(monkeypatch, converter, "_net")
    import pic2emoji.converter as module
    pictures, on_grid = [], module.on_grid
    monkeypatch.setattr(module, "on_grid", lambda *a: pictures.append(a) or on_grid(*a))
    grids = [cells.grid for cells in converter.frames([frame.copy() for _ in range(4)], Options("mp4", cols=4))]
    assert judged == [12]  # the first frame's 12 cells, then none
    assert len(pictures) == 1  # a frame is cut at 36 px a cell only for the net
    assert all(np.array_equal(g, grids[0]) for g in grids)
    np.testing.assert_array_equal(grids[0], converter.cells(frame, Options("mp4", cols=4)).grid)  # as a photo


@pytest.mark.parametrize("method", ["refine", "net"])
def test_a_cell_that_changes_is_judged_again_and_shows_at_once(converter, monkeypatch, method):
    red = np.full((24, 32, 3), RED, np.uint8)
    blue_cell = red.copy()
    blue_cell[8:16, 8:16] = BLUE  # cell (1, 1) of the 3×4 grid
    judged = []
    real = converter._net
    monkeypatch.setattr(converter, "_net", lambda patches, *a: judged.append(patches.copy()) or real(patches, *a))
    frames = [Image.fromarray(f) for f in (red, red, blue_cell)]
    grids = [cells.grid for cells in converter.frames(frames, Options("mp4", cols=4, method=method))]
    assert len(judged) == 2  # the first frame, then the third; the second is the first again
    assert any(np.abs(p.mean((0, 1)) - BLUE).max() < 30 for p in judged[1])  # the blue cell went through the net
    assert converter.texts[grids[2][1, 1]] in {"🟦", "🌊", "💧"}
    assert (np.delete(grids[2].ravel(), 5) == np.delete(grids[1].ravel(), 5)).all()


def test_the_net_takes_the_cells_that_moved_most_in_whole_chunks_and_within_its_budget():
    judged = []
    net = lambda cells: judged.append(len(cells)) or np.full(len(cells), 7)
    view = np.zeros((12, 108), np.float32)
    memory = Memory()
    assert net_again(net, view, memory, 2, None).tolist() == [7] * 12 and judged == [12]  # the first frame
    memory.picks = np.zeros(12, np.int32)
    moved = view.copy()
    moved[5] += 50  # one cell moved: a chunk of two, it and the one that moved most of the rest
    moved[9] += 1
    picks = net_again(net, moved, memory, 2, None)
    assert np.flatnonzero(picks == 7).tolist() == [5, 9] and judged == [12, 2]
    net_again(net, moved, memory, 2, None)
    assert judged == [12, 2]  # judged where they are now: nothing moved since
    everything = moved + np.arange(12, dtype=np.float32)[:, None] * 10 + 20
    memory.credit = 0
    net_again(net, everything, memory, 2, 1 / 3)
    assert judged[-1] == 4  # a third of the frame's six chunks, on the cells that moved most
    assert (memory.views[8:] == everything[8:]).all() and (memory.views[:4] != everything[:4]).all()
    net_again(net, everything, memory, 2, 1 / 3)
    assert judged[-1] == 4  # the next two chunks, on the budget
    net_again(net, everything + 100, memory, 2, None)
    assert judged[-1] == 12  # no budget: every cell that moved


def test_a_film_keeps_its_frames_and_rate_and_a_tile_size_given_or_its_own(tiny_set, tiny_model, tmp_path):
    import av
    source = make_video(tmp_path / "in.mp4", [RED, RED, BLUE, BLUE, GREEN, RED, RED], rate=12, size=(64, 48))
    for extra, size in (([], (192, 256)), (["--tile-px", 6], (36, 48))):  # own: 4 tile px a source px, at least 16
        result = run("infer", tiny_set, source, "--model", tiny_model, "-o", tmp_path / "m.mp4", "--cols", 8,
                     "--overwrite", *extra)
        assert result.exit_code == 0, result.output
        with av.open(str(tmp_path / "m.mp4")) as film:
            stream = film.streams.video[0]
            frames = [f.to_ndarray(format="rgb24") for f in film.decode(stream)]
            assert float(stream.average_rate) == pytest.approx(12) and len(frames) == 7
        assert frames[0].shape[:2] == size
        blue, red = frames[2].mean((0, 1)), frames[5].mean((0, 1))
        assert blue[2] > blue[0] and red[0] > red[2]


def test_a_films_own_tile_size_follows_its_source():
    assert Options("mp4").for_source(320, 72).tile_px == 18  # 4.4 source px a cell
    assert Options("mp4").for_source(64, 72).tile_px == 16 and Options("mp4").for_source(4000, 72).tile_px == 32
    assert Options("mp4", tile_px=9).for_source(320, 72).tile_px == 9
