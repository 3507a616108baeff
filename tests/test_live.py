"""The live camera's rules (live.py; the page is held to them in test_web.py): the net's budget, cells that
follow their neighbours, the colour table, the colour touch-up and settling a still camera."""
import numpy as np

from pic2emoji.colour import delta_e2000, srgb_to_lab
from pic2emoji.live import LEVELS, Band, TouchUp, colour_table, colour_step, follow, live_frame, settle
from pic2emoji.quality import estimate
from pic2emoji.refine import Refiner
from pic2emoji.views import view_of

COLOURS = np.array([(230, 30, 30), (30, 60, 230), (40, 190, 60), (240, 220, 40), (128, 128, 128), (20, 20, 20)],
                   np.float32)


def flat_views(colours) -> np.ndarray:
    """(N, 3) colours -> (N, 108): the views of flat cells."""
    return np.repeat(np.asarray(colours, np.float32), 36, 0).reshape(len(colours), 108)


CLASS_VIEWS = flat_views(COLOURS)


def nearest_net(views):
    """A stand-in for net.onnx on a band whose cell views are `views`: the nearest classes by view, best first."""
    def net(which, previous):
        order = ((views[which][:, None] - CLASS_VIEWS) ** 2).sum(-1).argsort(1, kind="stable")
        return order[:, 0].astype(np.int32), np.tile(order[:, :4], 1).astype(np.int32)
    return net


def test_the_net_judges_a_share_of_the_moved_cells_and_saves_its_budget():
    rng = np.random.default_rng(0)
    cols, rows = 8, 6
    first = flat_views(COLOURS[rng.integers(0, 6, rows * cols)])
    band = Band.new(rows * cols, 108, 4)
    assert live_frame(band, first, cols, nearest_net(first), CLASS_VIEWS, 8.0, share=0.25) == 48  # all new
    moved = first[::-1].copy()
    changed = int((moved != first).any(1).sum())  # most cells: a few had the same colour as their mirror
    assert changed > 24 and live_frame(band, moved, cols, nearest_net(moved), CLASS_VIEWS, 8.0, share=0.25) == 12
    assert (band.classes >= 0).all()  # the others followed their neighbours
    judged = [live_frame(band, moved, cols, nearest_net(moved), CLASS_VIEWS, 8.0, share=0.25) for _ in range(7)]
    assert max(judged) == 12 and sum(judged) == changed - 12 and judged[-3:] == [0, 0, 0]  # then still: the net
    # catches up with the cells that followed, a share a frame
    assert band.credit == 48  # ... and saves up its budget, to one whole band
    assert live_frame(band, first, cols, nearest_net(first), CLASS_VIEWS, 8.0, share=0.25) == changed  # all at once


def test_a_cell_that_skips_the_net_takes_what_moved_into_it():
    """A row panned one cell to the right: each cell's content is its left neighbour's, which the net had
    judged; its own TOP has nothing like it."""
    cols = 6
    grid = np.array([0, 1, 2, 3, 4, 5] * 3, np.int32)
    top = np.tile(np.array([[5, 5, 5, 5]], np.int32), (18, 1))
    cells = np.arange(6, 12)  # the middle row, moved one cell right
    view = CLASS_VIEWS[np.roll(grid[cells], 1)]
    picked = follow(view, cells, cols, grid, top, CLASS_VIEWS)
    assert picked[1:].tolist() == [0, 1, 2, 3, 4]
    same = follow(CLASS_VIEWS[grid[cells]] + 1, cells, cols, grid, top, CLASS_VIEWS)  # within the steady margin
    assert same.tolist() == grid[cells].tolist()


def test_the_colour_table_gives_the_emoji_nearest_each_colour():
    allowed = np.ones(len(COLOURS), bool)
    allowed[3] = False  # a palette without yellow
    table = colour_table(COLOURS, allowed)
    assert table.shape == (LEVELS ** 3,) and set(table) <= {0, 1, 2, 4, 5}
    rng = np.random.default_rng(1)
    colours = rng.uniform(0, 255, (300, 3)).astype(np.float32)
    centres = (np.floor(colours * LEVELS / 256) + 0.5) * (256 / LEVELS) - 0.5
    exact = delta_e2000(srgb_to_lab(centres)[:, None], srgb_to_lab(COLOURS[allowed])[None]).argmin(1)
    assert (table[colour_step(colours)] == np.flatnonzero(allowed)[exact]).mean() >= 0.98


def test_the_touch_up_brings_a_flat_colour_the_net_does_not_rank():
    """A band of flat dark green whose net ranks only grey and black: the colour table's green wins, in
    the cells that moved only."""
    cols, rows = 6, 4
    dark_green = np.array([(20, 110, 30)], np.float32)
    view = flat_views(np.repeat(dark_green, rows * cols, 0))
    classes = np.full(rows * cols, 5, np.int32)  # black
    top = np.tile(np.array([[5, 4, 5, 4]], np.int32), (rows * cols, 1))
    refiner = Refiner(view_of(np.repeat(COLOURS, 36 * 36, 0).reshape(-1, 36, 36, 3)))
    touch = TouchUp(refiner, colour_table(refiner.means, np.ones(len(COLOURS), bool)))
    moved = np.arange(12)  # the top half
    after = touch(view, cols, classes, top, moved)
    assert (after[:6] == 2).all() and (after[12:] == 5).all()  # the held half keeps its black


def test_a_still_camera_settles_to_refines_mosaic_only_where_it_is_nearer_in_colour():
    """Orange, purple and mid-grey cells, which no class is: refine mixes them from neighbours. A grid of
    the net's picks (the nearest view) is further than refine's and gives way to it; a grid nearer than
    refine's (ICM pushed hard for colour) stays."""
    rng = np.random.default_rng(2)
    rows, cols = 8, 10
    mixes = np.array([(235, 125, 35), (130, 45, 145), (85, 85, 85), (230, 30, 30), (30, 60, 230)], np.float32)
    view = flat_views(mixes[np.repeat(rng.integers(0, 5, (rows // 2, cols // 2)), 2, 0).repeat(2, 1).ravel()])
    refiner = Refiner(CLASS_VIEWS, k=4, keep=None)  # its first rung, unjudged
    picks = ((view[:, None] - CLASS_VIEWS) ** 2).sum(-1).argmin(1).astype(np.int32)
    de2 = lambda grid: estimate(view, CLASS_VIEWS[grid], (rows, cols))["de2"]
    refined = refiner.frame(view, (rows, cols), picks)[0].ravel()
    assert de2(refined) < de2(picks)
    assert (settle(refiner, view, (rows, cols), picks, picks) == refined).all()
    top, structure = refiner.candidates(view, picks)
    photo = view.reshape(rows, cols, 36, 3).mean(2)
    strong = refiner.icm(top, structure, (top == picks[:, None]).argmax(1), photo, 1000.0).ravel()
    assert de2(strong) < de2(refined)
    assert (settle(refiner, view, (rows, cols), picks, strong) == strong).all()


def test_the_page_settles_a_still_camera_once_and_holds_it(converter, monkeypatch):
    """live.Page over a site's files: the frame that counts SETTLE still ones shows what `settle` gives
    (here a stand-in: every cell the first class), the still frames after it keep it, a frame that moves
    cells starts again."""
    import pic2emoji.live as live
    from conftest import halves_image
    from pic2emoji.web import web_files
    calls = []
    monkeypatch.setattr(live, "settle", lambda refiner, view, shape, start, grid, allowed: calls.append(start) or np.zeros_like(grid))
    rows, cols, k = 6, 8, 8
    page = live.Page(web_files(converter, rows, cols), rows=rows, cols=cols)
    frame = lambda colours: np.asarray(halves_image((cols * k, rows * k), *colours).convert("RGBA"))
    still = frame([(230, 30, 30), (30, 60, 230)])
    grids = [page.frame(still)[0] for _ in range(live.SETTLE + 3)]
    assert len(calls) == 1 and (grids[live.SETTLE - 1] != 0).any()
    assert all((g == 0).all() for g in grids[live.SETTLE:])  # settled on the SETTLE-th still frame, and held
    assert (calls[0] == np.concatenate([band.top[:, 0] for band in page.bands])).all()  # from the net's own picks
    moved = page.frame(frame([(30, 60, 230), (230, 30, 30)]))[0]
    assert page.still == 0 and (moved != 0).any() and len(calls) == 1
