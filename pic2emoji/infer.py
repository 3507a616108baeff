"""`infer`: cut a photo into a grid of 36×36 patches, ask the net which emoji each one looks like.

A photo is read in whatever form it comes (JPEG, PNG, WebP, GIF, BMP, TIFF; L, LA, P, RGB, RGBA, CMYK,
16-bit), turned upright by its EXIF orientation, laid on the model's background where transparent, and
resized with a proper filter so that each grid cell is exactly one 36×36 patch.
"""
import contextlib
import hashlib
import io
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .data import oracle_view
from .defaults import COLS, MAX_CELLS, PATCH, TILE_PX
from .emoji_sets import load_emoji_set, prints_aligned
from .errors import ImageError, ModelError
from .device import cache_dir
from .files import write_bytes
from .model import Classifier, check_model_fits, jit_cache_file, load_model, load_weights, model_path
from .pixels import block_means, composite, to_uint8
from .refine import Refiner
from .render import Renderer

METHODS = ("refine", "net", "lookup")  # refine: the net's choice, then the mosaic refined as a whole (refine.py)
PALETTES = ("all", "terminal")  # terminal: one-code-point emoji, which keep text grids aligned, and plain text
_ORIENTATION_SWAPS = {5, 6, 7, 8}  # EXIF orientations that turn the picture a quarter
UNREADABLE = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError)
STEADY = 0.15  # a cell changes emoji between frames only if the new one is 15% closer (squared 6×6 distance)
STEADY_NOISE = 108 * 4  # ... plus 2 levels of noise in each of the 108 block means (squared: 108 · 2²)


def grid_shape(width: int, height: int, cols: int | None = None, rows: int | None = None) -> tuple[int, int]:
    """(rows, cols) keeping the photo's aspect ratio: give cols or rows (cols wins).

    By default COLS, but never more cells than pixels: a 20×20 icon becomes a 20×20 grid.
    """
    if rows and not cols:
        return rows, max(1, round(rows * width / height))
    cols = cols or min(COLS, width)
    return max(1, round(cols * height / width)), cols


def to_rgb_or_rgba(image: Image.Image) -> Image.Image:
    if image.mode.startswith("I") or image.mode == "F":  # 16- and 32-bit greyscale: scale, don't clip
        values = np.asarray(image, np.float32)
        scale = 257.0 if image.mode.startswith("I;16") or values.max() > 255 else 1.0
        image = Image.fromarray(to_uint8(values / scale), "L")
    transparent = "A" in image.mode or "transparency" in image.info
    return image.convert("RGBA" if transparent else "RGB")


def check_grid(path, shape, width: int, height: int) -> None:
    """Refuse a grid of more than MAX_CELLS cells, before any memory is spent on it, saying what fits."""
    rows, cols = shape
    if rows * cols <= MAX_CELLS:
        return
    fit_cols = int((MAX_CELLS * width / height) ** 0.5) + 1
    while fit_cols >= 1 and fit_cols * max(1, round(fit_cols * height / width)) > MAX_CELLS:
        fit_cols -= 1
    fit = f"--cols {fit_cols} or less" if fit_cols >= 1 else f"--rows {MAX_CELLS} or less"
    raise ImageError(f"{path}: a {width}×{height} photo makes a grid of {rows}×{cols} = {rows * cols:,} cells, "
                     f"more than the {MAX_CELLS:,} pic2emoji makes at once; give {fit}")


def _decode(path, cols, rows) -> tuple[Image.Image, tuple[int, int]]:
    with Image.open(path) as image:
        width, height = image.size
        if image.getexif().get(0x0112) in _ORIENTATION_SWAPS:
            width, height = height, width
        shape = grid_shape(width, height, cols, rows)
        check_grid(path, shape, width, height)
        target = (shape[1] * PATCH, shape[0] * PATCH)
        image.draft("RGB", target if (width, height) == image.size else target[::-1])  # JPEG: decode smaller
        return to_rgb_or_rgba(ImageOps.exif_transpose(image)), shape


def read_photo(path, background, cols: int | None = None, rows: int | None = None) -> tuple[np.ndarray, tuple]:
    """A photo as (rows·36, cols·36, 3) uint8 RGB on the background, and its grid shape (rows, cols)."""
    if Path(path).exists() and not Path(path).is_file() and not Path(path).is_dir():  # a FIFO would block
        raise ImageError(f"{path}: not a regular file (a FIFO, socket or device); give a photo file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about damaged files; the user gets our one line instead
            image, shape = _decode(path, cols, rows)
    except Image.DecompressionBombError:  # raised from the header, before any pixel is decoded
        raise ImageError(f"{path}: larger than {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels, which pic2emoji "
                         "refuses as a possible decompression bomb; downscale it first") from None
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None

    except IsADirectoryError:
        raise ImageError(f"{path}: is a folder; give -o OUT_DIR to convert a folder") from None
    except UNREADABLE as e:
        reason = str(e).splitlines()[0][:100] if str(e) else type(e).__name__
        raise ImageError(f"{path}: not a readable image ({reason}); check the file or convert it to PNG/JPEG") from None
    return fit_to_grid(image, background, shape), shape


def fit_to_grid(image: Image.Image, background, shape) -> np.ndarray:
    """An RGB or RGBA image resized to exactly 36 px per grid cell, laid on the background: uint8 RGB.

    It is resized first (Pillow resizes RGBA with premultiplied alpha, so compositing afterwards is
    exact), which keeps a 50-megapixel photo from being copied at full size.
    """
    image = image.resize((shape[1] * PATCH, shape[0] * PATCH), Image.LANCZOS, reducing_gap=3.0)
    if image.mode == "RGBA":
        flat = Image.new("RGBA", image.size, tuple(background) + (255,))
        flat.alpha_composite(image)
        image = flat
    return np.asarray(image.convert("RGB"))


def cut_patches(photo: np.ndarray, shape) -> np.ndarray:
    """(rows·36, cols·36, 3) -> (rows·cols, 36, 36, 3), row by row."""
    rows, cols = shape
    return photo.reshape(rows, PATCH, cols, PATCH, 3).transpose(0, 2, 1, 3, 4).reshape(-1, PATCH, PATCH, 3)


class Converter:
    """An emoji set and its model, loaded and compiled once, to turn any number of photos into mosaics."""
    def __init__(self, emoji_dir, model_file=None):
        self.emoji_set = load_emoji_set(emoji_dir, lazy=True)
        self.model = load_model(model_file or model_path(emoji_dir), weights=False)  # read if the net is not cached
        check_model_fits(self.model, self.emoji_set)
        index = {f: i for i, f in enumerate(self.emoji_set.files)}
        self.tile_of = np.array([index[f] for f in self.model.classes])  # class -> its tile in the set
        self.texts = [self.emoji_set.text(i) for i in self.tile_of]  # what txt prints for each class
        texts = {"txt": self.texts, "shortcodes": [self.emoji_set.shortcode(i) for i in self.tile_of]}
        self.renderer = Renderer(lambda classes: self.emoji_set.tiles(self.tile_of[classes]), texts,
                                 self.model.background, [self.emoji_set.chars[i] for i in self.tile_of])
        self._refiner = None
        self.classifier = Classifier(lambda: load_weights(self.model), len(self.model.classes),
                                     cache=jit_cache_file(self.model.path, Classifier.batch))

    def allowed(self, palette: str) -> np.ndarray:
        if palette not in PALETTES:
            raise ModelError(f"unknown palette {palette!r}; choose one of {', '.join(PALETTES)}")
        allowed = np.ones(len(self.model.classes), bool)
        # Judged by what txt prints, for every format: shortcodes of a shipped set keep to the one-code-point emoji.
        if palette == "terminal":
            allowed = np.array([prints_aligned(t) for t in self.texts])
            if not allowed.any():
                raise ModelError(f"{self.emoji_set.path}: no emoji of this set is terminal-safe; use --palette all")
        return allowed

    @property
    def refiner(self) -> Refiner:
        """The whole-mosaic refinement over this set's tiles, made on first use."""
        if self._refiner is None:
            self._refiner = Refiner(self.class_blocks())
        return self._refiner

    def class_blocks(self) -> np.ndarray:
        """Every class's tile on the background as oracle_view sees it, (N, 108): kept in the cache, since
        reading some 1,850 tile files takes seconds. Named by the model, the background and each tile
        file's size and time, so a changed tile is read again."""
        files = [self.emoji_set.path / self.emoji_set.files[i] for i in self.tile_of]
        key = hashlib.sha256(f"{self.classifier.cache}/{tuple(self.model.background)}".encode())
        for file in files:
            stat = file.stat()
            key.update(f"{file.name}/{stat.st_size}/{stat.st_mtime_ns}".encode())
        cached = cache_dir() / f"{Path(self.model.path).stem}-{key.hexdigest()[:20]}.blocks.npy"
        if cached.is_file():
            with contextlib.suppress(OSError, ValueError):
                blocks = np.load(cached)
                if blocks.shape == (len(files), 108):
                    return blocks
        tiles = self.emoji_set.tiles(self.tile_of)
        blocks = oracle_view(block_means(composite(tiles, self.model.background), tiles.shape[1] // PATCH))
        with contextlib.suppress(OSError):  # a read-only cache costs time, not the mosaic
            cached.parent.mkdir(parents=True, exist_ok=True)
            write_bytes(cached, _npy_bytes(blocks))
        return blocks

    def pixels(self, photo, cols: int | None = None, rows: int | None = None) -> tuple[np.ndarray, tuple]:
        """The photo as the grid sees it, (rows·36, cols·36, 3) uint8 on the background, and (rows, cols).
        `photo` is a file path or a PIL image."""
        if isinstance(photo, Image.Image):
            shape = grid_shape(*photo.size, cols, rows)
            check_grid("the image", shape, *photo.size)
            image = photo if photo.mode in ("RGB", "RGBA") else photo.convert("RGBA")
            return fit_to_grid(image, self.model.background, shape), shape
        return read_photo(photo, self.model.background, cols, rows)

    def grid(self, photo, cols: int | None = None, rows: int | None = None, palette: str = "all",
             method: str = "refine") -> np.ndarray:
        """Class index of every cell: (rows, cols) int array. `photo` is a file path or a PIL image."""
        return self.cells(photo, cols, rows, palette, method)[0]

    def cells(self, photo, cols: int | None = None, rows: int | None = None, palette: str = "all",
              method: str = "refine", previous=None):
        """The grid, and the photo's mean colour in each cell: (rows, cols, 3) uint8, what ANSI and
        cell-colour mosaics need. With `previous`, the last frame's grid, cells keep their emoji unless
        the new pick is clearly better (see steady): a still scene does not flicker."""
        pixels, shape = self.pixels(photo, cols, rows)
        grid = self.grid_of(pixels, shape, palette, method)
        if previous is not None and previous.shape == grid.shape:
            grid = self.steady(cut_patches(pixels, shape), grid, previous)
        return grid, to_uint8(block_means(pixels, PATCH))

    def grid_of(self, pixels: np.ndarray, shape, palette: str = "all", method: str = "refine") -> np.ndarray:
        """The grid for pixels as `pixels()` gives them, by one of METHODS."""
        patches, allowed = cut_patches(pixels, shape), self.allowed(palette)  # a palette masks choices, no retraining
        if method == "lookup":
            return self.refiner.nearest(patches, allowed).reshape(shape)
        grid = self.classifier(patches, allowed)
        return self.refiner(patches, shape, grid, allowed) if method == "refine" else grid.reshape(shape)

    def steady(self, patches: np.ndarray, grid: np.ndarray, previous: np.ndarray, margin: float = STEADY) -> np.ndarray:
        """Keep the last frame's emoji in each cell whose new pick is not better by `margin` (relative, in
        6×6 colour distance to the patch): camera or compression noise stops flipping near-tied cells,
        while a real change (the new emoji much closer) shows at once."""
        changed = np.flatnonzero(grid.ravel() != previous.ravel())
        if not len(changed):
            return grid
        new, old = grid.ravel()[changed], previous.ravel()[changed]
        views = self.refiner.lookup.blocks[np.concatenate([new, old])]  # each class as the lookup sees it
        seen = oracle_view(patches[changed].astype(np.float32))
        distance = ((np.concatenate([seen, seen]) - views) ** 2).sum(1)
        keep = distance[len(changed):] <= distance[:len(changed)] * (1 + margin) + STEADY_NOISE
        out = grid.ravel().copy()
        out[changed[keep]] = old[keep]
        return out.reshape(grid.shape)

    def image(self, grid: np.ndarray, tile_px: int = TILE_PX) -> Image.Image:
        return self.renderer.image(grid, tile_px)

    def text(self, grid: np.ndarray, fmt: str = "txt") -> str:
        return self.renderer.text(grid, fmt)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()
