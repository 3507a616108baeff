"""A cell's view: the mean colour of each 6×6-pixel block of its 36×36 patch, 108 numbers (VIEW_SIZE).

What several stages compare cells and emoji by: the nearest-colour lookup (the training data's labels
for photo-like patches, `--method lookup`, refine's candidates), the steady rule that keeps a still
scene from flickering, the background choice, and the browser's net graph (onnx_export.py), whose
sizes the page reads from config.json. numpy only.
"""
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .colour import LUMA
from .defaults import BLOCKS, PATCH, VIEW, VIEW_SIZE
from .pixels import block_means

STEADY = 0.15  # a cell changes emoji between frames only if the new one is 15% closer (squared view distance)
STEADY_NOISE = VIEW_SIZE * 4  # ... plus 2 levels of noise in each of the view's numbers (squared: 108 · 2²)


def view_of(patches: np.ndarray) -> np.ndarray:
    """(N, 36, 36, 3) -> (N, 108): the mean colour of each 6×6-pixel block, row by row (of each 3×3 block
    of a patch read at 18 px: a sixth of its side)."""
    return block_means(patches, patches.shape[1] // VIEW).reshape(len(patches), BLOCKS * patches.shape[-1])  # 0 patches too


def banded(function, *arrays: np.ndarray, bands: int = 2):
    """function(*arrays), computed on `bands` bands of their rows on as many threads and joined (an array,
    or a tuple of arrays): numpy lets go of the GIL in its products and partitions, so each core takes a
    band, where BLAS's own threads would contend with ours (a one-photo run holds BLAS to one)."""
    if len(arrays[0]) < 256 or bands < 2:
        return function(*arrays)
    with ThreadPoolExecutor(bands) as pool:
        parts = list(pool.map(lambda part: function(*part), zip(*(np.array_split(a, bands) for a in arrays))))
    return tuple(map(np.concatenate, zip(*parts))) if isinstance(parts[0], tuple) else np.concatenate(parts)


class Nearest:
    """The nearest-colour lookup: the class whose tile has the closest view (L2)."""
    def __init__(self, class_tiles: np.ndarray):
        self.blocks = view_of(class_tiles.astype(np.float32))
        self.half_norms = (self.blocks ** 2).sum(1) / 2

    @classmethod
    def of_blocks(cls, class_blocks: np.ndarray) -> "Nearest":
        """The lookup from the tiles' views, (N, 108), when that is all there is."""
        nearest = cls.__new__(cls)
        nearest.blocks = np.asarray(class_blocks, np.float32)
        nearest.half_norms = (nearest.blocks ** 2).sum(1) / 2
        return nearest

    def __call__(self, patches: np.ndarray, allowed=None) -> np.ndarray:
        return self.of_view(view_of(patches.astype(np.float32)), allowed)

    def of_view(self, view: np.ndarray, allowed=None) -> np.ndarray:
        """The nearest class of each patch given as its view, (N, 108)."""
        masked = None if allowed is None else ~np.asarray(allowed, bool)  # a palette: only the others

        def nearest(view: np.ndarray) -> np.ndarray:
            scores = view @ self.blocks.T - self.half_norms
            if masked is not None:
                scores[:, masked] = -np.inf
            return scores.argmax(1).astype(np.int32)
        return banded(nearest, view)


def tile_layers(tiles: np.ndarray) -> np.ndarray:
    """RGBA tiles (N, s, s, 4), s a multiple of 36 -> (N, 144) float32: each tile's colour times its
    opacity as a view (108), then its transparency as 6×6 block means (36). Laying a tile on a colour
    is linear in the colour, and so are block means: blocks_on lays them on any background."""
    alpha, factor = tiles[..., 3:].astype(np.float32) / 255, tiles.shape[1] // PATCH
    ink = view_of(block_means(tiles[..., :3] * alpha, factor))
    clear = view_of(block_means(1 - alpha, factor))
    return np.concatenate([ink, clear], 1).astype(np.float32)


def blocks_on(layers: np.ndarray, background) -> np.ndarray:
    """The tiles of tile_layers laid on a background colour, as views: (N, 108)."""
    colour = np.asarray(background, np.float32)
    return layers[:, :VIEW_SIZE] + (layers[:, VIEW_SIZE:, None] * colour).reshape(len(layers), VIEW_SIZE)


def steady(patches: np.ndarray, grid: np.ndarray, previous: np.ndarray, class_views: np.ndarray,
           margin: float = STEADY, view: np.ndarray | None = None) -> np.ndarray:
    """Keep the last frame's emoji in each cell whose new pick is not better by `margin` (relative, in
    view distance to the patch; class_views: every class's view on the background): camera or
    compression noise stops flipping near-tied cells, while a real change (the new emoji much closer)
    shows at once. patches: the frame's (rows·cols, 36, 36, 3), or `view`, their views if known."""
    changed = np.flatnonzero(grid.ravel() != previous.ravel())
    if not len(changed):
        return grid
    new, old = grid.ravel()[changed], previous.ravel()[changed]
    views = class_views[np.concatenate([new, old])]
    seen = view_of(patches[changed].astype(np.float32)) if view is None else view[changed]
    distance = ((np.concatenate([seen, seen]) - views) ** 2).sum(1)
    keep = holds(distance[len(changed):], distance[:len(changed)], margin)
    out = grid.ravel().copy()
    out[changed[keep]] = old[keep]
    return out.reshape(grid.shape)


def holds(old: np.ndarray, new: np.ndarray, margin: float = STEADY) -> np.ndarray:
    """The steady rule: whether the emoji on screen, at squared view distance `old` from the cell, stays
    against a new pick at `new`: unless the new one is closer by `margin`, plus STEADY_NOISE."""
    return old <= new * (1 + margin) + STEADY_NOISE


def grey_views(view: np.ndarray, shape) -> np.ndarray:
    """The views of a grid's cells (rows·cols, 108) as one grey image of 6×6 px a cell: what SSIM@6 compares."""
    rows, cols = shape
    return (view.reshape(rows, cols, VIEW, VIEW, 3) @ LUMA).transpose(0, 2, 1, 3).reshape(rows * VIEW, cols * VIEW)


def grey_patterns(view: np.ndarray) -> np.ndarray:
    """(N, 108) views -> (N, 36): their 6×6 greys (luma) less each one's mean."""
    grey = view.reshape(len(view), BLOCKS, 3) @ LUMA
    return grey - grey.mean(1, keepdims=True)
