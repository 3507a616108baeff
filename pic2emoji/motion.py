"""What a film's frames carry from one to the next, so that only what changed is judged again: numpy only.

Converter.frames converts a film a frame at a time, but most of a frame's work is the same as the last
one's where the scene did not move: the net's pick of a cell (net_again) and refine's choice of its
candidates among all classes (candidates_again) are made again only once the cell's view (views.py)
moved more than REJUDGE since they were made, the new candidates found among the few classes that
score as well as the neighbours' last ones (pooled_top); refine also keeps the strength the last frame
ended on, judged again every JUDGE_EVERY frames, and goes on from the last frame's grid (Refiner.frame).
Under refine, where the net's pick only starts the refinement, the net works to a budget (NET_SHARE): a
camera that keeps moving has its cells judged again every few frames, a change after a still spell at
once. docs/BENCHMARKS.md ("Video") measures the time and the mosaics against converting each frame alone.
"""
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .defaults import BLOCKS
from .views import banded

# RMS, in levels of 255, that a cell's view may move before it is judged again: a still part of the scene
# (H.264's noise is 1–3 levels), or one moving less than the steady rule would let show, keeps what it had.
REJUDGE = 4.0
NET_SHARE = 1 / 18  # under refine, the share of a frame's chunks of cells the net judges again, on average
JUDGE_EVERY = 3  # a film's frame judges refine's rung against the lookup every this many frames


class Recall(NamedTuple):
    """What one frame leaves refine for the next (Refiner.frame)."""
    top: np.ndarray    # (cells, k) each cell's candidates
    views: np.ndarray  # (cells, 108) the views they were chosen for
    rung: int | None = None  # the rung the search ended on (None: the lookup's)
    grid: np.ndarray | None = None  # (cells,) the refined choice
    since: int = 0  # frames since the rung was judged


@dataclass
class Memory:
    """What one frame of a film leaves the next (Converter.frames)."""
    views: np.ndarray | None = None  # (cells, 108) each cell's view when the net last judged it
    picks: np.ndarray | None = None  # (cells,) the net's picks
    recall: Recall | None = None     # refine's
    credit: float = 0.0              # chunks the net may still run under NET_SHARE


def moved(view: np.ndarray, views: np.ndarray) -> np.ndarray:
    """(cells,) the mean squared difference of each cell's view from the one it was judged by."""
    return ((view - views) ** 2).mean(1)


def net_again(net, view: np.ndarray, memory: Memory, batch: int, share: float | None) -> np.ndarray:
    """The net's pick for each cell of a film's frame, `net` (cell indices -> their picks) running in
    chunks of `batch`. It judges again the cells whose view moved more than REJUDGE since it last judged them (all, on the
    first frame), in whole chunks, whose free places go to the cells that moved most among the rest (they
    cost nothing more); the others keep their last pick. With `share`, it runs on average at most that
    share of a frame's chunks, on the cells that moved most, the budget saved up to one whole frame."""
    whole = -(-len(view) // batch)
    if memory.views is None or memory.views.shape != view.shape:
        memory.views, memory.picks, memory.credit = view.copy(), net(np.arange(len(view))), whole
        return memory.picks
    distance = moved(view, memory.views)
    chunks = -(-int((distance > REJUDGE ** 2).sum()) // batch)
    if share is not None:
        memory.credit = min(memory.credit + share * whole, whole)
        chunks = min(chunks, int(memory.credit))
        memory.credit -= chunks
    fresh = np.sort(np.argsort(-distance, kind="stable")[:chunks * batch])
    if len(fresh):
        memory.picks = memory.picks.copy()  # the last frame's grid may be this array
        memory.picks[fresh] = net(fresh)
        memory.views[fresh] = view[fresh]
    return memory.picks


def candidates_again(refiner, view: np.ndarray, shape, start: np.ndarray, allowed, last: Recall) -> tuple[np.ndarray, ...]:
    """Refiner.candidates for a film's next frame (a grid of `shape`), and the views they were chosen for:
    a cell whose view moved more than REJUDGE since its candidates were chosen, or whose start is not
    among them, is given new ones (pooled_top, from those of the cells around it last frame: what moved
    into a cell came from one of them); the others keep theirs, their structure term measured anew
    (choosing among all 1850 classes is most of the cost, measuring 16 is not)."""
    top, views = last.top.copy(), last.views.copy()
    fresh = (moved(view, views) > REJUDGE ** 2) | ~(top == start[:, None]).any(1)
    distance = np.empty(top.shape, np.float32)
    if fresh.any():
        pool = np.concatenate([around(last.top, shape)[fresh], start[fresh, None]], 1)
        top[fresh], distance[fresh] = refiner.candidates(view[fresh], start[fresh], allowed, pool)
        views[fresh] = view[fresh]
    if not fresh.all():
        kept = ~fresh
        distance[kept] = ((refiner.structure(view[kept])[:, None] - refiner.blocks[top[kept]]) ** 2).sum(-1) / BLOCKS
    return top, distance, views


def nearest_k(view: np.ndarray, blocks: np.ndarray, half_norms: np.ndarray, start: np.ndarray, k: int,
              masked: np.ndarray | None = None, pool=None) -> tuple[np.ndarray, np.ndarray]:
    """Refiner.candidates for some cells, given as their structure views: each cell's k classes of the
    largest scores (view·blocks − half_norms: the nearest), sorted, its start in place of the worst
    where it is not among them, and their scores. `masked`: classes ruled out; `pool`: pooled_top's."""
    scores = view @ blocks.T - half_norms
    if masked is not None:
        scores[:, masked] = -np.inf
    top = np.tile(np.arange(k), (len(view), 1)) if k == len(blocks) else \
        top_k(scores, k, 1) if pool is None else pooled_top(scores, k, pool)
    top = np.sort(top, axis=1)  # a fixed order: ties break the same way every run
    missing = ~(top == start[:, None]).any(1)
    top[missing, np.take_along_axis(scores, top, 1).argmin(1)[missing]] = start[missing]
    return top, np.take_along_axis(scores, top, 1)


def around(top: np.ndarray, shape) -> np.ndarray:
    """(rows·cols, k) classes of each cell -> (rows·cols, 9k): those of the cell and its eight neighbours
    (at an edge, the edge's own again)."""
    rows, cols = shape
    grid = np.pad(top.reshape(rows, cols, -1), ((1, 1), (1, 1), (0, 0)), mode="edge")
    return np.concatenate([grid[i:i + rows, j:j + cols] for i in range(3) for j in range(3)], -1).reshape(rows * cols, -1)


def top_k(scores: np.ndarray, k: int, bands: int = 2, group: int = 64) -> np.ndarray:
    """The columns of each row's k largest scores (in no order), exactly, as argpartition over all of
    them, at a fraction of its cost, the rows in `bands` on as many threads (views.banded): the k-th
    largest of a row's group maxima (of `group` columns each) bounds its k-th largest from below, and few
    columns reach it (~32 of 1850 for a photo), so only those are sorted (bounded_top)."""
    def part(scores: np.ndarray) -> np.ndarray:
        n, classes = scores.shape
        whole = classes // group * group
        if whole // group < k:
            return np.argpartition(scores, -k, 1)[:, -k:]
        maxima = scores[:, :whole].reshape(n, whole // group, group).max(2)
        if whole < classes:  # the last, shorter group
            maxima = np.concatenate([maxima, scores[:, whole:].max(1, keepdims=True)], 1)
        return bounded_top(scores, k, np.partition(maxima, -k, 1)[:, -k], 2 * group)
    return banded(part, scores, bands=bands)


def pooled_top(scores: np.ndarray, k: int, pool: np.ndarray, wide: int = 64) -> np.ndarray:
    """top_k's choice where each row has a `pool` of columns likely to score well (a film's last
    candidates around a cell): the k-th largest score among them bounds the row's k-th largest, and few
    columns reach it (~21 of 1850 when panning: docs/BENCHMARKS.md)."""
    pool = np.sort(pool, 1)
    pooled = np.take_along_axis(scores, pool, 1)
    pooled[:, 1:][pool[:, 1:] == pool[:, :-1]] = -np.inf  # each column once: k distinct ones reach the bound
    return bounded_top(scores, k, -np.partition(-pooled, k - 1, 1)[:, k - 1], wide)


def bounded_top(scores: np.ndarray, k: int, bound: np.ndarray, wide: int) -> np.ndarray:
    """The columns of each row's k largest scores, given a lower bound of each row's k-th largest: only
    the columns at or above it are sorted. Rows with more than `wide` such go the long way."""
    n, classes = scores.shape
    flat = np.flatnonzero(scores >= bound[:, None])  # row by row
    rows = flat // classes
    counts = np.bincount(rows, minlength=n)
    width = max(k, min(int(counts.max()), wide))
    place = np.arange(len(flat)) - np.repeat(np.cumsum(counts) - counts, counts)  # within its row
    fits = place < width
    columns, values = np.zeros((n, width), np.int64), np.full((n, width), -np.inf, np.float32)
    columns[rows[fits], place[fits]] = flat[fits] - rows[fits] * classes
    values[rows[fits], place[fits]] = scores.ravel()[flat[fits]]
    top = np.take_along_axis(columns, np.argpartition(-values, k - 1, 1)[:, :k], 1)
    over = np.flatnonzero(counts > width)
    if len(over):
        top[over] = np.argpartition(-scores[over], k - 1, 1)[:, :k]
    return top
