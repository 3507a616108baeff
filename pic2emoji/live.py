"""The live camera's rules for one band of its grid, each camera frame, in numpy: what the page's worker
does (page/worker.js), here so that tests hold the page to it and benchmarks measure it.

1. The cells whose view (views.py) moved more than `change` since the net last judged them go through
   the net (in the page, net.onnx: its pick by the steady rule, and its TOP classes), those that moved
   most first, at most LIVE_SHARE of the band's cells a frame on average, the budget saved up to a whole
   band: a change after a still spell goes through the net at once.
2. The other cells that moved follow: each takes, among the classes the net last rated highest for it
   and those its eight neighbours show (what moved into a cell came from one of them), the one whose
   view is nearest its own, by the steady rule.
3. The cells that moved are touched up for colour, as refine does a photo's mosaic (refine.py): one
   sweep of its ICM at a fixed strength (LIVE_STRENGTH) over each one's candidates, the net's TOP, what
   it shows, and the emoji nearest its colour (a table over the colour cube, `colour_table`). The net
   alone knows structure, not colour: a still camera on flat dark green was drawn as ⬛.
A still camera moves no cell: it costs the cutting and nothing else, and does not flicker. Once it has
been still SETTLE frames, the page settles (`settle`): refine's own mosaic of the frame, the command
line's default (its candidates, its ladder judged against the lookup), takes the grid's place where it
is nearer the camera's colours from a step back (dE@2); the one-sweep touch-up at a fixed strength is
nearer on most pictures, refine on some (a meadow, rain drops). In the page a spare worker does it
(page/settle.js, ~1 s), off the frames' path; a cell that moves meanwhile calls it off.
docs/BENCHMARKS.md ("Live camera while panning", "Live camera colours") has the figures.
"""
import json
from dataclasses import dataclass

import numpy as np

from .colour import delta_e2000, srgb_to_lab
from .defaults import BLOCKS
from .onnx_export import up_matrix
from .quality import estimate
from .refine import GOAL, Refiner, Strength
from .views import holds

LIVE_SHARE = 1 / 6  # the share of a band's cells the net judges a frame, on average: as faithful when panning
LIVE_STRENGTH = Strength(32, 3000, 1)  # colour, texture, mean: the weights of the touch-up (refine's terms)
LEVELS = 32  # the colour table's steps per channel (8 levels of 255 each)
SETTLE = 3  # frames without a moved cell after which a still camera's grid settles


@dataclass
class Band:
    """What the page's worker keeps of its band of the grid from one camera frame to the next."""
    classes: np.ndarray  # (cells,) the emoji on screen, -1 before the first frame
    views: np.ndarray    # (cells, 108) each cell's view when the net last judged it
    top: np.ndarray      # (cells, TOP) the classes the net rated highest then
    credit: float        # cells the net may still judge this frame under LIVE_SHARE
    moved: int = 0       # cells that moved in the last frame

    @classmethod
    def new(cls, cells: int, size: int, top: int) -> "Band":
        return cls(np.full(cells, -1, np.int32), np.zeros((cells, size), np.float32), np.zeros((cells, top), np.int32),
                   float(cells))


def live_frame(band: Band, view: np.ndarray, cols: int, net, class_views: np.ndarray, change: float,
               share: float = LIVE_SHARE, touch=None) -> int:
    """One camera frame of a band of `cols` columns (the module's docstring), its cells' views `view`:
    `net` (cell indices, their emoji on screen -> their emoji by the steady rule, their TOP classes),
    `touch` a TouchUp (None: no colour step). Updates `band`; returns how many cells the net judged."""
    distance = ((view - band.views) ** 2).sum(1)
    distance[band.classes < 0] = np.inf
    moved = np.flatnonzero(distance > change * change * view.shape[1])
    band.moved = len(moved)
    band.credit = min(band.credit + share * len(view), len(view))
    fresh = int((band.classes < 0).sum())
    count = max(int(band.credit), fresh) if len(moved) > band.credit else len(moved)
    order = moved[np.argsort(-distance[moved], kind="stable")]
    judged, rest = np.sort(order[:count]), np.sort(order[count:])
    band.credit = max(band.credit - len(judged), 0.0)
    if len(judged):
        band.classes[judged], band.top[judged] = net(judged, band.classes[judged])
        band.views[judged] = view[judged]
    if len(rest):
        band.classes[rest] = follow(view[rest], rest, cols, band.classes, band.top, class_views)
    if touch is not None and len(moved):
        band.classes[:] = touch(view, cols, band.classes, band.top, moved)
    return len(judged)


def follow(view: np.ndarray, cells: np.ndarray, cols: int, classes: np.ndarray, top: np.ndarray,
           class_views: np.ndarray) -> np.ndarray:
    """The emoji of the cells `cells` (indices in a grid of `cols` columns, their views `view`): among
    their TOP and what their eight neighbours show (`classes`, as the net left the grid this frame), the
    one whose view is nearest, unless the one the cell shows is within the steady rule's margin of it."""
    rows, (r, c) = len(classes) // cols, np.divmod(cells, cols)
    near = [np.clip(r + dr, 0, rows - 1) * cols + np.clip(c + dc, 0, cols - 1)  # at an edge, the edge's cells
            for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc]
    candidates = np.concatenate([top[cells], classes[np.stack(near, 1)]], 1)
    distance = ((class_views[candidates] - view[:, None]) ** 2).sum(-1)
    best = np.take_along_axis(candidates, distance.argmin(1)[:, None], 1)[:, 0]
    old = classes[cells]
    held = holds(((class_views[old] - view) ** 2).sum(-1), distance.min(1))
    return np.where(held, old, best).astype(np.int32)


def colour_table(means: np.ndarray, allowed: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """(LEVELS³,) int32: for each step of the colour cube (its centre), the allowed class whose mean colour
    (on the background, refine's `means`) is nearest by CIEDE2000, found among the 8 nearest in CIELAB
    (`chunk` steps at a time: a few MB, where the whole cube against 1850 classes would take 0.5 GB)."""
    centres = (np.arange(LEVELS, dtype=np.float32) + 0.5) * (256 / LEVELS) - 0.5
    cube = srgb_to_lab(np.stack(np.meshgrid(centres, centres, centres, indexing="ij"), -1).reshape(-1, 3))
    classes = np.flatnonzero(allowed)
    labs = srgb_to_lab(means[classes])
    table = np.empty(len(cube), np.int32)
    for start in range(0, len(cube), chunk):
        part = cube[start:start + chunk]
        d76 = (part ** 2).sum(1)[:, None] - 2 * part @ labs.T + (labs ** 2).sum(1)
        near = np.argpartition(d76, min(7, len(classes) - 1), 1)[:, :8]
        best = delta_e2000(part[:, None], labs[near]).argmin(1)
        table[start:start + chunk] = classes[np.take_along_axis(near, best[:, None], 1)[:, 0]]
    return table


def colour_step(colour: np.ndarray) -> np.ndarray:
    """(N, 3) mean colours in 0..255 -> their index in the colour table."""
    q = np.clip(np.floor(colour * (LEVELS / 256)), 0, LEVELS - 1).astype(np.int64)
    return (q[:, 0] * LEVELS + q[:, 1]) * LEVELS + q[:, 2]


class TouchUp:
    """Step 3 of the module's docstring for one set on its background (refiner) and one palette (table)."""
    def __init__(self, refiner: Refiner, table: np.ndarray, strength: Strength = LIVE_STRENGTH):
        self.refiner, self.table, self.strength = refiner, table, strength

    def __call__(self, view: np.ndarray, cols: int, classes: np.ndarray, top: np.ndarray,
                 moved: np.ndarray) -> np.ndarray:
        """The band's classes after one ICM sweep in which only the cells `moved` may change, each among
        [its TOP, what it shows, the colour table's emoji for its colour] (the others are held: their one
        candidate, what they show)."""
        n, rows = len(classes), len(classes) // cols
        colour = view.reshape(n, BLOCKS, 3).mean(1)
        candidates = np.repeat(classes[:, None], top.shape[1] + 2, 1)
        candidates[moved] = np.concatenate([top[moved], classes[moved, None], self.table[colour_step(colour[moved])][:, None]], 1)
        r, s = self.refiner, self.strength
        structure = ((r.structure(view)[:, None] - r.blocks[candidates]) ** 2).sum(-1) / BLOCKS
        texture, mean = r.inside(view, candidates)
        start = np.zeros(n, np.int64)
        start[moved] = top.shape[1]  # what each shows
        return r.icm(candidates, structure + s.texture * texture + s.mean * mean, start, colour.reshape(rows, cols, 3),
                     s.colour, sweeps=1).ravel().astype(np.int32)


def settle(refiner: Refiner, view: np.ndarray, shape, start: np.ndarray, grid: np.ndarray,
           allowed=None) -> np.ndarray:
    """A still camera's grid settled (the module's docstring): refine's mosaic of the cells' views
    (rows·cols, 108) from the net's picks `start`, where it is nearer the camera in dE@2 than the page's
    `grid`; else `grid`. Both (rows·cols,)."""
    refined = refiner.frame(view, shape, start, allowed)[0].ravel()
    de2 = lambda g: estimate(view, refiner.lookup.blocks[g], shape)["de2"]
    return refined if de2(refined) < de2(grid) else grid


def settle_config(refiner: Refiner) -> dict:
    """What page/settle.js needs of refine, for config.json: its candidates, sweeps and ladder."""
    return {"frames": SETTLE, "k": refiner.k, "sweeps": refiner.sweeps, "first": refiner.first, "goal": GOAL,
            "keep": list(refiner.keep), "strengths": [s._asdict() for s in refiner.strengths]}


class Page:
    """The page itself in Python: these rules over a site's own files (web.web_files' names, or what a
    server serves: config.json, cells.onnx, net.onnx, views.bin, colours.bin), its graphs in onnxruntime
    (the test extra) on one thread each, a frame cut into bands of rows as `workers` workers cut it. What
    the tests hold the page to and the benchmarks measure. `share`: another budget than the site's (1e9:
    the net on every moved cell); `touch`: False leaves out the colour step and the settling. The page
    settles a still camera in a spare worker, its grid a few frames later; this, in the frame that counts
    SETTLE still ones."""
    def __init__(self, files: dict, workers: int = 2, rows: int = 54, cols: int = 72, k: int = 8,
                 share: float | None = None, touch: bool = True):
        import onnxruntime as ort
        one = ort.SessionOptions()
        one.intra_op_num_threads = 1  # as a worker's wasm
        self.config = config = json.loads(files["config.json"])
        self.cuts, self.net = (ort.InferenceSession(files[name], one) for name in ("cells.onnx", "net.onnx"))
        self.class_views = np.frombuffer(files["views.bin"], "<f4").reshape(len(config["emoji"]), -1)
        settings, ladder = config["touch"], config["settle"]
        self.refiner = Refiner(self.class_views, ladder["k"], ladder["sweeps"], settings["pattern"], settings["edge"],
                               [Strength(**s) for s in ladder["strengths"]], ladder["first"], ladder["keep"])
        self.touch = TouchUp(self.refiner, np.frombuffer(files["colours.bin"], "<i4"),
                             Strength(settings["colour"], settings["texture"], settings["mean"])) if touch else None
        self.allowed = np.asarray(config["atlas"]["slots"]) >= 0
        self.still = 0  # frames in a row in which no cell moved
        self.share = config["share"] if share is None else share
        bands = min(workers, rows)
        self.rows = [(i * rows // bands, (i + 1) * rows // bands) for i in range(bands)]
        top = self.net.get_outputs()[2].shape[1]  # TOP, or fewer for a set of fewer classes
        self.bands = [Band.new((bottom - first) * cols, self.class_views.shape[1], top) for first, bottom in self.rows]
        self.cols, self.k = cols, k
        self.up = up_matrix(k)

    def frame(self, rgba: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
        """A camera frame ((rows·k, cols·k, 4) RGBA) through the page: the grid on screen after it
        (rows, cols), how many cells the net judged, and the cells' views (rows·cols, 108)."""
        grids, views, judged = [], [], 0
        for (first, bottom), band in zip(self.rows, self.bands):
            cells, view = self.cuts.run(["cells", "view"], {"frame": rgba[None, first * self.k:bottom * self.k],
                                                            "up": self.up})
            judge = lambda which, previous: self.net.run(["class", "top"], {"cells": cells[which], "up": self.up,
                                                                            "view": view[which], "previous": previous})
            judged += live_frame(band, view, self.cols, judge, self.class_views, self.config["change"], self.share,
                                 self.touch)
            grids.append(band.classes.reshape(-1, self.cols).copy())
            views.append(view)
        grid, view = np.concatenate(grids), np.concatenate(views)
        self.still = 0 if any(band.moved for band in self.bands) else self.still + 1
        if self.touch is not None and self.still == self.config["settle"]["frames"]:
            start = np.concatenate([band.top[:, 0] for band in self.bands])  # the net's own picks
            grid = settle(self.refiner, view, grid.shape, start, grid.ravel(), self.allowed).reshape(grid.shape)
            for (first, bottom), band in zip(self.rows, self.bands):
                band.classes[:] = grid[first:bottom].ravel()
        return grid, judged, view

    def picks(self, rgba: np.ndarray) -> np.ndarray:
        """The net's plain arg-max for every cell of a frame, (rows·cols,): what the page showed before live.py."""
        cells, view = self.cuts.run(["cells", "view"], {"frame": rgba[None], "up": self.up})
        return self.net.run(["pick"], {"cells": cells, "up": self.up, "view": view,
                                       "previous": np.full(len(view), -1, np.int32)})[0]
