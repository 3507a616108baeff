"""Refine a mosaic as a whole, so that its colours seen from a step back match the photo's: numpy only.

A choice per cell, however good, can at best tie the nearest-colour lookup: the photo's colours that no
emoji has stay lost. Neighbouring cells can make them up between them (a red and a yellow emoji read
as orange from a step back). Iterated conditional modes does that: from the net's choice, each cell
in turn picks among its k nearest emoji by the structure term the one that minimises

    structure / 36  +  texture · (1 − cs)  +  mean · |Δ cell colour|²
      +  colour · Σ ΔE00(mean of window, photo's window)²  +  edge · Σ (Δluma − Δluma of neighbour)²

The structure term (the 6×6 block colour distance plus that of the 6×6 grey pattern less its mean) and
the texture term (SSIM's contrast-structure factor between the cell's 6×6 greys and the tile's: in a
flat part of the photo, any pattern in the tile costs) keep what is inside each cell, which SSIM sees;
the mean term keeps each cell's own colour, which cell-PSNR sees. The colour term is colour as a person
sees it from a step back: CIEDE2000 over the (up to four) overlapping 2×2-cell windows the cell
belongs to. The last keeps the light and dark from cell to cell: a cell's error in luma (its mean grey
less the photo's) should be that of its four neighbours, so a colour is mixed from neighbours of one
lightness (chroma) rather than from light and dark ones, which would read as texture the photo lacks.
Cells are updated in four interleaved sub-grids (row and column parity), no two cells of one sharing
a window or a border: each step is one numpy pass, the same on every run.

How hard to push colour against structure depends on the photo: a flat, dark sky pays for every
coloured emoji in SSIM, a cat's fur or a lawn does not, and a dim scene close to the lookup's colours
needs a strong push to gain anything. So the weights come as a ladder of strengths, most colour first,
and each mosaic is judged (`estimate`: the metrics of quality.py, from the 6×6 block means) against the
plain lookup's: it is kept if it is nearer the photo's colours from a step back (dE@2) and keeps SSIM@6
and cell-PSNR within KEEP of the lookup's. The search starts on the rung most photos take. A mosaic kept
there but short of GOAL climbs to stronger rungs while they are kept. One that lost SSIM@6 or cell-PSNR
(too much colour) steps down until a rung is kept; one that kept its structure but was not nearer in
colour (a greyscale photo) climbs instead, while the structure holds. Where no rung is kept, the lookup
itself: the mosaic is never further from the photo's colours than the lookup, nor much less faithful.
"""
from typing import NamedTuple

import numpy as np

from .colour import LUMA, delta_e2000, neighbour_sums, srgb_to_lab, window_sums
from .defaults import BLOCKS
from .motion import JUDGE_EVERY, Recall, candidates_again, nearest_k
from .quality import estimate
from .views import Nearest, banded, grey_patterns, view_of


class Strength(NamedTuple):
    """The weights of one rung of the ladder (see the module's docstring)."""
    colour: float         # of the windows' CIEDE2000², against the photo's
    texture: float = 0.0  # of 1 − SSIM's contrast-structure factor inside each cell
    mean: float = 0.0     # of each cell's own colour error, squared RGB


# Most colour first, chosen on 48 photos (docs/QUALITY.md). Most photos keep FIRST; grass and camera climb
# to 48, nuclei on black to 96; coffee and an office crowd on black step down to 16, rocket's dark sky to
# 12, the flower's flat dark ground to 8, a dark notebook and grace_hopper to 4, the colour wheel to the
# plain weights.
STRENGTHS = (Strength(96, 3000, 1), Strength(48, 3000, 1), Strength(24, 3000, 1), Strength(16, 3000, 1),
             Strength(12, 3000, 1), Strength(8, 3000, 1), Strength(4, 3000, 1), Strength(12))
FIRST = 2
GOAL = 0.88  # dE@2 against the lookup's at which the search stops climbing: issue 13's 0.90, a little inside
KEEP = (0.008, 0.25)  # SSIM@6 and cell-PSNR (dB) a mosaic may lose against the lookup's: within issue 13's 0.01 and 0.3


class Refiner:
    """ICM over the mosaic for one emoji set on its background.

    class_blocks: (N, 108) every class's tile on the background as views.view_of sees it (6×6 block
    means). k: candidates per cell; sweeps: passes over the grid; pattern: weight of the 6×6 grey
    pattern (less its mean) in the structure term, beside the 6×6 colour distance; edge: weight of the
    luma term, which keeps the light and dark between neighbouring cells; strengths: the ladder of
    weights, most colour first; first: the rung the search starts on; keep: what a mosaic may lose in
    SSIM@6 and cell-PSNR against the lookup's (None: take rung `first` unjudged).
    """
    def __init__(self, class_blocks: np.ndarray, k: int = 16, sweeps: int = 2, pattern: float = 2.0,
                 edge: float = 0.5, strengths=STRENGTHS, first: int = FIRST, keep=KEEP):
        self.k, self.sweeps, self.pattern, self.edge = k, sweeps, pattern, edge
        self.strengths, self.keep = tuple(Strength(*s) for s in strengths), keep
        self.first = max(0, min(first, len(self.strengths) - 1))
        class_blocks = np.asarray(class_blocks, np.float32)
        self.lookup = Nearest.of_blocks(class_blocks)
        self.blocks = self.structure(class_blocks)
        self.half_norms = (self.blocks ** 2).sum(1) / 2
        self.means = class_blocks.reshape(len(class_blocks), BLOCKS, 3).mean(1)  # (N, 3): each tile's colour
        self.greys = grey_patterns(class_blocks)  # (N, 36): each tile's 6×6 greys less their mean

    def structure(self, view: np.ndarray) -> np.ndarray:
        """The 6×6 block means and their grey pattern, scaled so that L2 over them is the structure term."""
        return np.concatenate([view, grey_patterns(view) * np.float32(np.sqrt(self.pattern))], 1)

    def nearest(self, patches: np.ndarray, allowed=None) -> np.ndarray:
        """The 6×6 nearest-colour lookup (views.Nearest) among the allowed classes."""
        return self.lookup(patches, allowed)

    def candidates(self, view: np.ndarray, start: np.ndarray, allowed=None, pool=None) -> tuple[np.ndarray, np.ndarray]:
        """Each cell's k nearest allowed classes by the structure term, its start among them: (cells, k)
        classes and their structure term (squared L2 / 36). `view`: the patches' view_of."""
        view, k, masked = self.structure(view), min(self.k, len(self.blocks)), None if allowed is None else ~np.asarray(allowed, bool)
        choose = lambda view, start, pool=None: nearest_k(view, self.blocks, self.half_norms, start, k, masked, pool)
        top, scores = banded(choose, view, start) if pool is None else choose(view, start, pool)  # both cores
        return top, ((view ** 2).sum(1, keepdims=True) - 2 * scores) / BLOCKS

    def inside(self, view: np.ndarray, top: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each cell's candidates, (cells, k): 1 − SSIM's contrast-structure factor between the
        photo's 6×6 greys and the tile's (0 for the same pattern; near 1 for any pattern where the photo
        is flat), and the squared distance of the cell's mean colour to the tile's."""
        photo, tiles = grey_patterns(view), self.greys[top]
        c2 = BLOCKS * np.float32(0.03 * 255) ** 2  # SSIM's constant, over the cell's 36 values
        cs = (2 * np.einsum("cd,ckd->ck", photo, tiles) + c2) / ((photo ** 2).sum(1)[:, None] + (tiles ** 2).sum(2) + c2)
        colour = view.reshape(len(view), BLOCKS, 3).mean(1)
        return 1 - cs, ((self.means[top] - colour[:, None]) ** 2).sum(-1)

    def __call__(self, patches: np.ndarray, shape, start: np.ndarray, allowed=None) -> np.ndarray:
        """(rows·cols, 36, 36, 3) patches and a start grid of classes -> the refined (rows, cols) grid:
        the rung the search of the module's docstring ends on, else the lookup's (a grid of one row or
        column: the start, unrefined)."""
        return self.frame(view_of(patches), shape, np.asarray(start).reshape(-1), allowed)[0]

    def frame(self, view: np.ndarray, shape, start: np.ndarray, allowed=None,
              last: Recall | None = None) -> tuple[np.ndarray, Recall]:
        """The refined grid of the cells' views (rows·cols, 108) from a start grid, and what a film's next
        frame recalls. With `last`, such a frame (motion.py): still cells keep their candidates, ICM goes
        on from the last grid with one sweep, the last rung is kept (judged every JUDGE_EVERY frames)."""
        rows, cols = shape
        if last is None or len(last.top) != len(view):
            (top, structure), views = self.candidates(view, start, allowed), view
        else:
            top, structure, views = candidates_again(self, view, shape, start, allowed, last)
        pick = (top == start[:, None]).argmax(-1)  # index of the start among the candidates
        if rows < 2 or cols < 2 or not self.strengths:
            return np.take_along_axis(top, pick[:, None], -1)[:, 0].reshape(shape), Recall(top, views)
        sweeps, going = self.sweeps, last is not None and last.grid is not None and len(last.grid) == len(view)
        if going:  # the last grid where still a candidate
            held = top == last.grid[:, None]
            pick, sweeps = np.where(held.any(1), held.argmax(1), pick), min(sweeps, 1)
        texture, mean = self.inside(view, top)
        photo = view.reshape(rows, cols, BLOCKS, 3).mean(2)  # each cell's colour
        refine = lambda s: self.icm(top, structure + s.texture * texture + s.mean * mean, pick, photo, s.colour,
                                    sweeps)
        if self.keep is None:
            grid = refine(self.strengths[self.first])
            return grid, Recall(top, views, self.first, grid.reshape(-1))
        if going and last.since + 1 < JUDGE_EVERY:  # the last rung, unjudged
            grid = refine(self.strengths[last.rung]) if last.rung is not None else self.lookup.of_view(view, allowed)
            return grid.reshape(shape), Recall(top, views, last.rung, grid.reshape(-1), last.since + 1)
        lookup = self.lookup.of_view(view, allowed)
        floor = estimate(view, self.lookup.blocks[lookup], shape)

        def judged(rung: int) -> tuple[np.ndarray, float | None, bool, bool]:
            """The rung's grid; its dE@2, None where it is not kept (not nearer in colour, or it loses more
            SSIM@6 or cell-PSNR than KEEP allows); whether it kept the structure (SSIM@6); whether nearer."""
            grid = refine(self.strengths[rung])
            scores = estimate(view, self.lookup.blocks[grid.reshape(-1)], shape)
            holds, nearer = scores["ssim6"] >= floor["ssim6"] - self.keep[0], scores["de2"] < floor["de2"]
            kept = holds and nearer and scores["cell_psnr"] >= floor["cell_psnr"] - self.keep[1]
            return grid, scores["de2"] if kept else None, holds, nearer

        if last is not None and last.rung is not None:
            grid, de2, *_ = judged(last.rung)
            if de2 is not None:
                return grid, Recall(top, views, last.rung, grid.reshape(-1))
        grid, rung = self.search(judged, floor["de2"])
        grid = lookup.reshape(shape) if grid is None else grid
        return grid, Recall(top, views, rung, grid.reshape(-1))

    def search(self, judged, floor: float) -> tuple[np.ndarray | None, int | None]:
        """The module docstring's search, given the lookup's dE@2: the grid and rung (None, None: lookup's)."""
        def climb(best: tuple[float, np.ndarray, int], rung: int) -> tuple[np.ndarray, int]:
            """From a kept rung up the ladder while short of GOAL and the rungs are kept: the nearest in colour."""
            for up in range(rung - 1, -1, -1):
                if best[0] <= GOAL * floor:
                    break
                grid, de2, *_ = judged(up)
                if de2 is None:
                    break
                best = min(best, (de2, grid, up), key=lambda b: b[0])
            return best[1], best[2]

        grid, de2, holds, nearer = judged(self.first)
        if de2 is not None:
            return climb((de2, grid, self.first), self.first)
        if holds and not nearer:  # too little colour to gain anything (a greyscale photo): up while the structure holds
            for rung in range(self.first - 1, -1, -1):
                grid, de2, holds, _ = judged(rung)
                if de2 is not None:
                    return climb((de2, grid, rung), rung)
                if not holds:
                    break
            return None, None
        for rung in range(self.first + 1, len(self.strengths)):  # too much colour: down to the first rung kept
            grid, de2, *_ = judged(rung)
            if de2 is not None:
                return grid, rung
        return None, None

    def icm(self, top: np.ndarray, unary: np.ndarray, pick: np.ndarray, photo: np.ndarray, weight: float,
            sweeps: int | None = None) -> np.ndarray:
        """The sweeps of ICM (None: self.sweeps): (cells, k) candidates, their cost alone, the index of each
        start among them, (rows, cols, 3) each photo cell's colour, the colour term's weight -> the (rows,
        cols) grid."""
        rows, cols = photo.shape[:2]
        top, unary, pick = top.reshape(rows, cols, -1), unary.reshape(rows, cols, -1), pick.reshape(rows, cols).copy()
        target = srgb_to_lab(window_sums(photo) / 4)  # (rows-1, cols-1, 3)
        colours = self.means[top]  # (rows, cols, k, 3)
        luma_error = colours @ LUMA - (photo @ LUMA)[..., None]  # (rows, cols, k)
        neighbours = neighbour_sums(np.ones((rows, cols), np.float32))
        for _ in range((self.sweeps if sweeps is None else sweeps) if weight else 0):
            for a in (0, 1):
                for b in (0, 1):
                    current = np.take_along_axis(colours, pick[..., None, None], 2)[:, :, 0]
                    e = luma_error[a::2, b::2]
                    around = neighbour_sums(np.take_along_axis(luma_error, pick[..., None], 2)[..., 0])[a::2, b::2, None]
                    # Σ over the neighbours n of (e − e_n)², less the part that is the same for every candidate
                    cost = unary[a::2, b::2] + self.edge * (neighbours[a::2, b::2, None] * e ** 2 - 2 * e * around)
                    sums = window_sums(current)
                    for di in (0, 1):
                        for dj in (0, 1):  # the window whose top-left cell is (i - di, j - dj)
                            wi, wj = _window_rows(a, di, rows), _window_rows(b, dj, cols)
                            ci, cj = wi + di, wj + dj  # the cells of this sub-grid those windows hold
                            ci_sub, cj_sub = (ci - a) // 2, (cj - b) // 2
                            others = sums[np.ix_(wi, wj)] - current[np.ix_(ci, cj)]
                            mean = (others[:, :, None] + colours[np.ix_(ci, cj)][:, :, :, :]) / 4
                            error = delta_e2000(srgb_to_lab(mean), target[np.ix_(wi, wj)][:, :, None]) ** 2
                            cost[np.ix_(ci_sub, cj_sub)] += weight * error
                    pick[a::2, b::2] = cost.argmin(-1)
        return np.take_along_axis(top, pick[..., None], -1)[..., 0]


def _window_rows(parity: int, offset: int, size: int) -> np.ndarray:
    """The windows (along one axis) that hold a cell of this parity at this offset from their first."""
    first = parity - offset
    return np.arange(first + (first < 0) * 2, size - 1, 2)
