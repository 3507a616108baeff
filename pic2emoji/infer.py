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
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps

from .data import Nearest, oracle_view
from .defaults import COLS, MAX_CELLS, PATCH, TILE_PX
from .emoji_sets import load_emoji_set, prints_aligned
from .errors import ImageError, ModelError
from .device import cache_dir
from .files import write_bytes
from .formats import SHORTCODES, TXT
from .model import Classifier, check_model_fits, jit_cache_file, load_model, load_weights, model_path
from .pixels import as_rgb, block_means, to_uint8
from .quality import ssim
from .refine import LUMA, Refiner, delta_e2000, srgb_to_lab, window_sums
from .render import Renderer

METHODS = ("refine", "net", "lookup")  # refine: the net's choice, then the mosaic refined as a whole (refine.py)
PALETTES = ("all", "terminal")  # terminal: one-code-point emoji, which keep text grids aligned, and plain text
_ORIENTATION_SWAPS = {5, 6, 7, 8}  # EXIF orientations that turn the picture a quarter
UNREADABLE = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError)
STEADY = 0.15  # a cell changes emoji between frames only if the new one is 15% closer (squared 6×6 distance)
STEADY_NOISE = 108 * 4  # ... plus 2 levels of noise in each of the 108 block means (squared: 108 · 2²)
AUTO = "auto"  # background=AUTO: the grey behind the emoji chosen for each photo (Converter.background_for)
BACKGROUNDS = tuple((g, g, g) for g in (0, 32, 64, 96, 128))  # the greys AUTO chooses among (lighter ones never
# won on 21 photos: mid-grey's lightest emoji, L* 83, is near white already)
SWITCH = 0.8  # AUTO: another background only if the lookup's colour error on it is at most 0.8× that on the model's
KEEP_STRUCTURE = 0.02  # ... and its SSIM@6 at most 0.02 lower
CHUNK = 128  # cells whose lookup scores against every class choose_background holds at once (1 MB)


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
        texts = {TXT: self.texts, SHORTCODES: [self.emoji_set.shortcode(i) for i in self.tile_of]}
        self.renderer = Renderer(lambda classes: self.emoji_set.tiles(self.tile_of[classes]), texts,
                                 self.model.background, [self.emoji_set.chars[i] for i in self.tile_of])
        self._refiners, self._layers = {}, None  # background -> Refiner; class_layers once read
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
        """The whole-mosaic refinement over this set's tiles on the model's background, made on first use."""
        return self.refiner_for(None)

    def refiner_for(self, background) -> Refiner:
        """The refinement (and the lookup it holds) over this set's tiles on a background (None: the model's)."""
        background = as_rgb(background, self.model.background)
        if background not in self._refiners:
            self._refiners[background] = Refiner(self.class_blocks(background))
        return self._refiners[background]

    def class_blocks(self, background=None) -> np.ndarray:
        """Every class's tile on a background (None: the model's) as oracle_view sees it, (N, 108).

        Laying a tile on a colour is linear in the colour, and so are block means: the blocks on any
        background are the tile's own colour times its opacity plus the background times its
        transparency, block by block (class_layers)."""
        return blocks_on(self.class_layers(), as_rgb(background, self.model.background))

    def class_layers(self) -> np.ndarray:
        """(N, 144) float32: for every class, its tile's colour times opacity as 6×6 block means (108),
        then its transparency as 6×6 block means (36). Kept in the cache, since reading some 1,850 tile
        files takes seconds; named by the model and each tile file's size and time, so a changed tile is
        read again."""
        if self._layers is None:
            self._layers = self._read_layers()
        return self._layers

    def _read_layers(self) -> np.ndarray:
        files = [self.emoji_set.path / self.emoji_set.files[i] for i in self.tile_of]
        key = hashlib.sha256(f"{self.classifier.cache}/layers".encode())
        for file in files:
            stat = file.stat()
            key.update(f"{file.name}/{stat.st_size}/{stat.st_mtime_ns}".encode())
        cached = cache_dir() / f"{Path(self.model.path).stem}-{key.hexdigest()[:20]}.layers.npy"
        if cached.is_file():
            with contextlib.suppress(OSError, ValueError):
                layers = np.load(cached)
                if layers.shape == (len(files), 144) and layers.dtype == np.float32:
                    return layers
        layers = tile_layers(self.emoji_set.tiles(self.tile_of))
        with contextlib.suppress(OSError):  # a read-only cache costs time, not the mosaic
            cached.parent.mkdir(parents=True, exist_ok=True)
            write_bytes(cached, _npy_bytes(layers))
        return layers

    def background_for(self, pixels: np.ndarray, shape, allowed=None) -> tuple[int, int, int]:
        """The grey behind the emoji that suits this photo (pixels as `pixels()` gives them): see
        choose_background."""
        view = oracle_view(cut_patches(pixels, shape))
        return choose_background(view, shape, self.class_layers(), tuple(self.model.background), allowed)

    def pixels(self, photo, cols: int | None = None, rows: int | None = None, background=None) -> tuple[np.ndarray, tuple]:
        """The photo as the grid sees it, (rows·36, cols·36, 3) uint8 on the background (None: the
        model's), and (rows, cols). `photo` is a file path or a PIL image."""
        background = as_rgb(background, self.model.background)
        if isinstance(photo, Image.Image):
            shape = grid_shape(*photo.size, cols, rows)
            check_grid("the image", shape, *photo.size)
            image = photo if photo.mode in ("RGB", "RGBA") else photo.convert("RGBA")
            return fit_to_grid(image, background, shape), shape
        return read_photo(photo, background, cols, rows)

    def grid(self, photo, cols: int | None = None, rows: int | None = None, palette: str = "all",
             method: str = "refine", background=None) -> np.ndarray:
        """Class index of every cell: (rows, cols) int array. `photo` is a file path or a PIL image."""
        return self.cells(photo, cols, rows, palette, method, background=background).grid

    def pixels_for(self, photo, cols: int | None = None, rows: int | None = None, palette: str = "all",
                   background=None) -> tuple[np.ndarray, tuple, tuple]:
        """pixels(), and the background the emoji are chosen for: an RGB colour, None for the model's, or
        AUTO to choose one for this photo (background_for), its clear parts then laid on that colour."""
        auto = isinstance(background, str) and background == AUTO
        pixels, shape = self.pixels(photo, cols, rows, None if auto else background)
        if auto:
            background = self.background_for(pixels, shape, self.allowed(palette))
            if background != tuple(self.model.background) and _transparent(photo):
                pixels, shape = self.pixels(photo, cols, rows, background)  # its clear parts on the new colour
        return pixels, shape, as_rgb(background, self.model.background)

    def cells(self, photo, cols: int | None = None, rows: int | None = None, palette: str = "all",
              method: str = "refine", previous=None, background=None) -> "Cells":
        """The grid, the photo's mean colour in each cell ((rows, cols, 3) uint8, what ANSI and
        cell-colour mosaics need) and the background the emoji were chosen for (see pixels_for). With
        `previous`, the last frame's grid, cells keep their emoji unless the new pick is clearly better
        (see steady): a still scene does not flicker."""
        pixels, shape, background = self.pixels_for(photo, cols, rows, palette, background)
        grid = self.grid_of(pixels, shape, palette, method, background)
        if previous is not None and previous.shape == grid.shape:
            grid = self.steady(cut_patches(pixels, shape), grid, previous, background=background)
        return Cells(grid, to_uint8(block_means(pixels, PATCH)), background)

    def grid_of(self, pixels: np.ndarray, shape, palette: str = "all", method: str = "refine",
                background=None) -> np.ndarray:
        """The grid for pixels as `pixels()` gives them, by one of METHODS, for emoji drawn on the
        background (None: the model's). The net knows only the model's background; on another, refine
        starts from its choice and the lookup's view of the tiles on that background does the rest."""
        patches, allowed = cut_patches(pixels, shape), self.allowed(palette)  # a palette masks choices, no retraining
        if method == "lookup":
            return self.refiner_for(background).nearest(patches, allowed).reshape(shape)
        grid = self.classifier(patches, allowed)  # the net needs no tile: text of a set with a damaged one still works
        return self.refiner_for(background)(patches, shape, grid, allowed) if method == "refine" else grid.reshape(shape)

    def steady(self, patches: np.ndarray, grid: np.ndarray, previous: np.ndarray, margin: float = STEADY,
               background=None) -> np.ndarray:
        """Keep the last frame's emoji in each cell whose new pick is not better by `margin` (relative, in
        6×6 colour distance to the patch): camera or compression noise stops flipping near-tied cells,
        while a real change (the new emoji much closer) shows at once."""
        changed = np.flatnonzero(grid.ravel() != previous.ravel())
        if not len(changed):
            return grid
        new, old = grid.ravel()[changed], previous.ravel()[changed]
        views = self.refiner_for(background).lookup.blocks[np.concatenate([new, old])]  # each class as the lookup sees it
        seen = oracle_view(patches[changed].astype(np.float32))
        distance = ((np.concatenate([seen, seen]) - views) ** 2).sum(1)
        keep = distance[len(changed):] <= distance[:len(changed)] * (1 + margin) + STEADY_NOISE
        out = grid.ravel().copy()
        out[changed[keep]] = old[keep]
        return out.reshape(grid.shape)

    def image(self, grid: np.ndarray, tile_px: int = TILE_PX, background=None) -> Image.Image:
        return self.renderer.image(grid, tile_px, background=background)

    def text(self, grid: np.ndarray, fmt: str = TXT) -> str:
        return self.renderer.text(grid, fmt)


def tile_layers(tiles: np.ndarray) -> np.ndarray:
    """RGBA tiles (N, s, s, 4), s a multiple of 36 -> (N, 144) float32: each tile's colour times its
    opacity as oracle_view's 6×6 block means (108), then its transparency as 6×6 block means (36)."""
    alpha, factor = tiles[..., 3:].astype(np.float32) / 255, tiles.shape[1] // PATCH
    ink = oracle_view(block_means(tiles[..., :3] * alpha, factor))
    clear = oracle_view(block_means(1 - alpha, factor))
    return np.concatenate([ink, clear], 1).astype(np.float32)


def blocks_on(layers: np.ndarray, background) -> np.ndarray:
    """The tiles of tile_layers laid on a background colour, as oracle_view sees them: (N, 108). Laying
    a tile on a colour is linear in the colour, and so are block means."""
    colour = np.asarray(background, np.float32)
    return layers[:, :108] + (layers[:, 108:, None] * colour).reshape(len(layers), 108)


def choose_background(view: np.ndarray, shape, layers: np.ndarray, own, allowed=None) -> tuple[int, int, int]:
    """The grey behind the emoji (of BACKGROUNDS, or the model's own) that suits a photo.

    view: the photo's cells as oracle_view sees them, (rows·cols, 108); layers: the classes' tile_layers.
    On each background the nearest-colour lookup's mosaic is judged as the metrics judge a mosaic:
    colour seen from a step back (CIEDE2000 over 2×2-cell windows), and structure inside the cells
    (SSIM of the 6×6 greys). The model's own background is kept unless another draws the photo's
    colours clearly better (by SWITCH) without costing more than KEEP_STRUCTURE of structure: a dark
    photo gets a dark background, where its shadows and dark browns can be drawn at all, unless the
    emoji's edges on it would break the photo's shapes; most photos keep mid-grey."""
    rows, cols = shape
    own = tuple(own)
    if rows < 2 or cols < 2:
        return own
    target = srgb_to_lab(window_sums(view.reshape(rows, cols, 36, 3).mean(2)) / 4)
    backgrounds = list(dict.fromkeys((own, *BACKGROUNDS)))
    lookups = dict(zip(backgrounds, lookups_on(view, layers, backgrounds, allowed)))  # -> (tiles' blocks, picks)
    colour = {}
    for background, (blocks, picks) in lookups.items():
        means = blocks.reshape(-1, 36, 3).mean(1)[picks.reshape(rows, cols)]
        colour[background] = float(delta_e2000(srgb_to_lab(window_sums(means) / 4), target).mean())
    better = sorted((b for b in colour if colour[b] <= SWITCH * colour[own]), key=colour.get)
    if not better:
        return own
    grey6 = lambda views: (views.reshape(rows, cols, 6, 6, 3) @ LUMA).transpose(0, 2, 1, 3).reshape(rows * 6, cols * 6)
    structure = lambda b: ssim(grey6(view), grey6(lookups[b][0][lookups[b][1]]))
    floor = structure(own) - KEEP_STRUCTURE
    return next((b for b in better if structure(b) >= floor), own)


def lookups_on(view: np.ndarray, layers: np.ndarray, backgrounds, allowed=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """On each background, the tiles of tile_layers laid on it (blocks_on) and the nearest-colour lookup
    (data.Nearest) of each cell among them, (cells,) classes. Its scores on a grey g are linear in g, view·ink + g·(view's grey
    sums)·clear, so two products serve every grey; they are then taken a chunk of cells at a time, so
    that each chunk's scores against every class stay in the CPU's cache (twice as fast as whole)."""
    ink, clear = layers[:, :108], layers[:, 108:]
    ink_scores, clear_scores = view @ ink.T, view.reshape(len(view), 36, 3).sum(2) @ clear.T
    if allowed is not None:
        ink_scores[:, ~np.asarray(allowed, bool)] = -np.inf
    blocks = [blocks_on(layers, b) for b in backgrounds]
    half_norms = [(b ** 2).sum(1) / 2 for b in blocks]
    picks = [np.empty(len(view), np.int64) for _ in backgrounds]
    scores = np.empty((CHUNK, len(layers)), np.float32)
    for start in range(0, len(view), CHUNK):
        cells = slice(start, start + CHUNK)
        chunk = scores[:len(ink_scores[cells])]
        for background, half_norm, pick in zip(backgrounds, half_norms, picks):
            if len(set(background)) == 1:  # a grey: r = g = b
                np.multiply(clear_scores[cells], np.float32(background[0]), out=chunk)
            else:  # a model trained on a colour
                chunk[:] = (view[cells].reshape(-1, 36, 3) @ np.asarray(background, np.float32)) @ clear.T
            chunk += ink_scores[cells]
            chunk -= half_norm
            pick[cells] = chunk.argmax(1)
    return list(zip(blocks, picks))


class Cells(NamedTuple):
    """What Converter.cells gives: the grid of classes, each cell's mean colour, the emoji's background."""
    grid: np.ndarray
    colours: np.ndarray
    background: tuple


def _transparent(photo) -> bool:
    """Whether a photo (a PIL image or a file) has transparent parts, which take the background."""
    if isinstance(photo, Image.Image):
        return "A" in photo.mode or "transparency" in photo.info
    with contextlib.suppress(*UNREADABLE, Image.DecompressionBombError), Image.open(photo) as image:
        return "A" in image.mode or "transparency" in image.info
    return False


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()
