"""The colour behind the emoji that suits a photo (`--background auto`), and the tiles' layers it needs.

On each candidate grey the nearest-colour lookup's mosaic is judged as the metrics judge a mosaic; a
dark photo gets a dark background, where its shadows and dark browns can be drawn at all. The tiles'
layers (tile_layers: colour times opacity, and transparency, as 6×6 block means) lay every tile on any
background with one product; they are kept in the cache, since reading some 1,850 tile files takes
seconds. numpy only.
"""
import contextlib
import hashlib
import io
from pathlib import Path

import numpy as np

from .colour import delta_e2000, srgb_to_lab, window_sums
from .defaults import BLOCKS, VIEW_SIZE
from .files import cache_dir, write_bytes
from .quality import ssim
from .views import banded, blocks_on, grey_views, tile_layers

BACKGROUNDS = tuple((g, g, g) for g in (0, 32, 64, 96, 128))  # the greys AUTO chooses among (lighter ones never
# won on 21 photos: mid-grey's lightest emoji, L* 83, is near white already)
SWITCH = 0.8  # another background only if the lookup's colour error on it is at most 0.8× that on the model's
KEEP_STRUCTURE = 0.02  # ... and its SSIM@6 at most 0.02 lower
DOMINATE = 0.9  # or at most 0.9× with SSIM@6 gained
BALANCE = 1.0  # of those, the least colour error (relative to own's) less BALANCE × the SSIM@6 gained over own's
# (chosen on the 12 dark photos of benchmarks/dark_photos.py: the best colour alone put 7 of them on black,
# whose few dark emoji lose the shapes, SSIM@6 0.21 where a grey of 32 or 64 kept 0.45)
CHUNK = 128  # cells whose lookup scores against every class lookups_on holds at once (1 MB)


def class_layers(files: list[Path], read_tiles, name: str, key: str) -> np.ndarray:
    """(N, 144) float32: the tile_layers of the tile files, in order; `read_tiles()` gives their RGBA
    tiles when they must be read. Kept in the cache under `name`, keyed by `key` (the model) and each
    file's size and time, so a changed tile is read again."""
    digest = hashlib.sha256(f"{key}/layers as drawn".encode())  # (those of the 72-px tiles were keyed "layers")
    for file in files:
        stat = file.stat()
        digest.update(f"{file.name}/{stat.st_size}/{stat.st_mtime_ns}".encode())
    cached = cache_dir() / f"{name}-{digest.hexdigest()[:20]}.layers.npy"
    if cached.is_file():
        with contextlib.suppress(OSError, ValueError):
            layers = np.load(cached)
            if layers.shape == (len(files), VIEW_SIZE + BLOCKS) and layers.dtype == np.float32:
                return layers
    layers = tile_layers(read_tiles())
    with contextlib.suppress(OSError):  # a read-only cache costs time, not the mosaic
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(cached, _npy_bytes(layers))
    return layers


def choose_background(view: np.ndarray, shape, layers: np.ndarray, own, allowed=None) -> tuple[int, int, int]:
    """The grey behind the emoji (of BACKGROUNDS, or the model's own) that suits a photo.

    view: the photo's cells' views, (rows·cols, 108); layers: the classes' tile_layers.
    On each background the nearest-colour lookup's mosaic is judged as the metrics judge a mosaic:
    colour seen from a step back (CIEDE2000 over 2×2-cell windows), and structure inside the cells
    (SSIM of the 6×6 greys). The model's own background is kept unless another draws the photo's
    colours clearly better (by SWITCH) without costing more than KEEP_STRUCTURE of structure, or better
    (by DOMINATE) with structure gained; of those, the one that balances colour and structure best (BALANCE): a dark
    photo gets a dark background, where its shadows and dark browns can be drawn at all, but not so
    dark that its few emoji lose the photo's shapes; most photos keep mid-grey."""
    rows, cols = shape
    own = tuple(own)
    if rows < 2 or cols < 2:
        return own
    target = srgb_to_lab(window_sums(view.reshape(rows, cols, BLOCKS, 3).mean(2)) / 4)
    backgrounds = list(dict.fromkeys((own, *BACKGROUNDS)))
    lookups = dict(zip(backgrounds, lookups_on(view, layers, backgrounds, allowed)))  # -> (tiles' blocks, picks)
    colour = {}
    for background, (blocks, picks) in lookups.items():
        means = blocks.reshape(-1, BLOCKS, 3).mean(1)[picks.reshape(rows, cols)]
        colour[background] = float(delta_e2000(srgb_to_lab(window_sums(means) / 4), target).mean())
    better = [b for b in colour if b != own and colour[b] <= DOMINATE * colour[own]]
    if not better:
        return own
    structure = {b: ssim(grey_views(view, shape), grey_views(lookups[b][0][lookups[b][1]], shape)) for b in [own, *better]}
    fits = [b for b in better if structure[b] > structure[own] or  # SSIM@6 gained, or clearly nearer in colour
            (colour[b] <= SWITCH * colour[own] and structure[b] >= structure[own] - KEEP_STRUCTURE)]
    cost = lambda b: colour[b] / colour[own] - BALANCE * (structure[b] - structure[own])
    return min(fits, key=cost, default=own)


def lookups_on(view: np.ndarray, layers: np.ndarray, backgrounds, allowed=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """On each background, the tiles of tile_layers laid on it (blocks_on) and the nearest-colour lookup
    (views.Nearest) of each cell among them, (cells,) classes: the cells in two bands on two threads
    (views.banded)."""
    blocks = [blocks_on(layers, b) for b in backgrounds]
    picks = banded(lambda part: _lookups(part, layers, backgrounds, blocks, allowed), view)
    return [(b, picks[:, i]) for i, b in enumerate(blocks)]


def _lookups(view: np.ndarray, layers: np.ndarray, backgrounds, blocks, allowed) -> np.ndarray:
    """lookups_on's picks, (cells, backgrounds). The scores on a grey g are linear in g, view·ink + g·(view's
    grey sums)·clear, so two products serve every grey; they are then taken a chunk of cells at a time, so
    that each chunk's scores against every class stay in the CPU's cache (twice as fast as whole)."""
    ink, clear = layers[:, :VIEW_SIZE], layers[:, VIEW_SIZE:]
    ink_scores, clear_scores = view @ ink.T, view.reshape(len(view), BLOCKS, 3).sum(2) @ clear.T
    if allowed is not None:
        ink_scores[:, ~np.asarray(allowed, bool)] = -np.inf
    half_norms = [(b ** 2).sum(1) / 2 for b in blocks]
    picks = np.empty((len(view), len(backgrounds)), np.int64)
    scores = np.empty((CHUNK, len(layers)), np.float32)
    for start in range(0, len(view), CHUNK):
        cells = slice(start, start + CHUNK)
        chunk = scores[:len(ink_scores[cells])]
        for i, (background, half_norm) in enumerate(zip(backgrounds, half_norms)):
            if len(set(background)) == 1:  # a grey: r = g = b
                np.multiply(clear_scores[cells], np.float32(background[0]), out=chunk)
            else:  # a model trained on a colour
                chunk[:] = (view[cells].reshape(-1, BLOCKS, 3) @ np.asarray(background, np.float32)) @ clear.T
            chunk += ink_scores[cells]
            chunk -= half_norm
            picks[cells, i] = chunk.argmax(1)
    return picks


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()
