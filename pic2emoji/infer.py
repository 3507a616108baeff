"""`infer`: cut a photo into a grid of 36×36 patches, ask the net which emoji each one looks like.

A photo is read in whatever form it comes (JPEG, PNG, WebP, GIF, BMP, TIFF; L, LA, P, RGB, RGBA, CMYK,
16-bit), turned upright by its EXIF orientation, laid on the model's background where transparent, and
resized with a proper filter so that each grid cell is exactly one 36×36 patch.
"""
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, ImageSequence
from tqdm import tqdm

from .data import oracle_view
from .defaults import COLS, MAX_CELLS, PATCH, TILE_PX
from .emoji_sets import load_emoji_set, prints_aligned
from .errors import ImageError, ModelError, OutputError
from .files import write_atomically
from .model import Classifier, check_model_fits, jit_cache_file, load_model, load_weights, model_path
from .formats import ANIMATED, VIDEO_FORMATS
from .pixels import block_means, to_uint8
from .render import FORMATS, TEXT_FORMATS, Renderer
from .video import convert_video, is_video

PALETTES = ("all", "terminal")  # terminal: one-code-point emoji, which keep text grids aligned, and plain text
_ORIENTATION_SWAPS = {5, 6, 7, 8}  # EXIF orientations that turn the picture a quarter
_UNREADABLE = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError)
STEADY = 0.15  # a cell changes emoji between frames only if the new one is 15% closer (squared 6×6 distance)
ANIMATION_PIXELS = 400_000_000  # an animated mosaic's frames are held until it is written: ~1.2 GB at most


@dataclass(frozen=True)
class Options:
    """How a photo becomes a mosaic file. The CLI's infer options mirror these fields."""
    fmt: str = "png"           # one of render.FORMATS
    cols: int | None = None    # grid columns, rows following the aspect ratio; None: COLS (fewer for tiny photos)
    rows: int | None = None    # grid rows, instead of cols
    palette: str | None = None  # emoji allowed, one of PALETTES; None: terminal for text, all for images
    tile_px: int = TILE_PX     # pixels per emoji in images
    split: int | None = None   # text only: cut into pieces of at most this many characters, on row boundaries
    cell_colour: bool = False  # images and HTML: each emoji on a colour chosen for its cell (ANSI always is)
    quality: int = 90          # JPEG and WebP quality, 1-100
    truecolor: bool = True     # ANSI: 24-bit colour escapes, else xterm's 256 colours

    def __post_init__(self):
        if self.fmt not in FORMATS:
            raise OutputError(f"unknown format {self.fmt!r}; choose one of {', '.join(FORMATS)}")
        if self.split is not None and self.fmt not in ("txt", "shortcodes"):
            raise OutputError(f"--split cuts plain text, not {self.fmt}; use --format txt or shortcodes")
        if self.palette is None:
            object.__setattr__(self, "palette", "terminal" if self.fmt in TEXT_FORMATS else "all")


def grid_shape(width: int, height: int, cols: int | None = None, rows: int | None = None) -> tuple[int, int]:
    """(rows, cols) keeping the photo's aspect ratio: give cols or rows (cols wins).

    By default COLS, but never more cells than pixels: a 20×20 icon becomes a 20×20 grid.
    """
    if rows and not cols:
        return rows, max(1, round(rows * width / height))
    cols = cols or min(COLS, width)
    return max(1, round(cols * height / width)), cols


def _to_rgb_or_rgba(image: Image.Image) -> Image.Image:
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
        return _to_rgb_or_rgba(ImageOps.exif_transpose(image)), shape


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
    except _UNREADABLE as e:
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

    def grid(self, photo, cols: int | None = None, rows: int | None = None, palette: str = "all") -> np.ndarray:
        """Class index of every cell: (rows, cols) int array. `photo` is a file path or a PIL image."""
        return self.cells(photo, cols, rows, palette)[0]

    def cells(self, photo, cols: int | None = None, rows: int | None = None, palette: str = "all", previous=None):
        """The grid, and the photo's mean colour in each cell: (rows, cols, 3) uint8, what ANSI and
        cell-colour mosaics need. With `previous`, the last frame's grid, cells keep their emoji unless
        the new pick is clearly better (see steady): a still scene does not flicker."""
        if isinstance(photo, Image.Image):
            shape = grid_shape(*photo.size, cols, rows)
            check_grid("the image", shape, *photo.size)
            pixels = fit_to_grid(photo if photo.mode in ("RGB", "RGBA") else photo.convert("RGBA"), self.model.background, shape)
        else:
            pixels, shape = read_photo(photo, self.model.background, cols, rows)
        # a palette masks the net's choices, no retraining
        patches = cut_patches(pixels, shape)
        grid = self.classifier(patches, self.allowed(palette)).reshape(shape)
        if previous is not None and previous.shape == grid.shape:
            grid = self.steady(patches, grid, previous)
        return grid, to_uint8(block_means(pixels, PATCH))

    def steady(self, patches: np.ndarray, grid: np.ndarray, previous: np.ndarray, margin: float = STEADY) -> np.ndarray:
        """Keep the last frame's emoji in each cell whose new pick is not better by `margin` (relative, in
        6×6 colour distance to the patch): camera or compression noise stops flipping near-tied cells,
        while a real change (the new emoji much closer) shows at once."""
        changed = np.flatnonzero(grid.ravel() != previous.ravel())
        if not len(changed):
            return grid
        new, old = grid.ravel()[changed], previous.ravel()[changed]
        classes, inverse = np.unique(np.concatenate([new, old]), return_inverse=True)
        views = oracle_view(self.renderer.faces(classes, PATCH).astype(np.float32))[inverse]
        seen = oracle_view(patches[changed].astype(np.float32))
        distance = ((np.concatenate([seen, seen]) - views) ** 2).sum(1)
        # relative margin, plus 2 levels of noise in each of the 108 block means (squared: 108 · 2²)
        keep = distance[len(changed):] <= distance[:len(changed)] * (1 + margin) + 108 * 4
        out = grid.ravel().copy()
        out[changed[keep]] = old[keep]
        return out.reshape(grid.shape)

    def image(self, grid: np.ndarray, tile_px: int = TILE_PX) -> Image.Image:
        return self.renderer.image(grid, tile_px)

    def text(self, grid: np.ndarray, fmt: str = "txt") -> str:
        return self.renderer.text(grid, fmt)


def check_output(photo, out: Path, overwrite: bool = False) -> None:
    """Refuse to write over the photo itself, over anything but a regular file, or over an existing file
    unless asked to."""
    if Path(photo).exists() and out.exists() and out.resolve() == Path(photo).resolve():
        raise OutputError(f"{out}: is the input photo itself; choose another output name")
    if out.exists() and not out.is_file():
        raise OutputError(f"{out}: is not a regular file (a folder, FIFO or device); choose another output name")
    if out.exists() and not overwrite:
        raise OutputError(f"{out}: already exists; pass --overwrite to replace it or --skip-existing to keep it")


def piece_path(out: Path, number: int) -> Path:
    """Where piece `number` (from 1) of a split text goes: mosaic.txt -> mosaic.1.txt."""
    return out.with_name(f"{out.stem}.{number}{out.suffix}")


def text_frames(converter: Converter, photo, options: Options = Options("txt")) -> list[tuple[str, int]]:
    """An animation's text mosaics, frame by frame, with each frame's duration in ms (steady, see
    Converter.steady); a still photo gives one frame."""
    moving = animation(photo) if not isinstance(photo, Image.Image) else None
    if moving is None:
        return [(text_mosaic(converter, photo, options), 0)]
    frames, grid = [], None
    for frame, duration in zip(*moving[:2]):
        grid, colours = converter.cells(frame, options.cols, options.rows, options.palette, grid)
        frames.append((converter.renderer.encode(grid, options.fmt, **look(options, photo, colours)).decode(), duration))
    return frames


def look(options: Options, photo, colours) -> dict:
    """What Renderer.encode needs beyond the grid, for these options and this photo."""
    title = photo.name if isinstance(photo, Path) else Path(photo).name if isinstance(photo, str) else "mosaic"
    return {"colours": colours, "cell_colour": options.cell_colour, "title": title, "quality": options.quality,
            "truecolor": options.truecolor}


def text_mosaic(converter: Converter, photo, options: Options = Options("txt")) -> str:
    """One photo's text mosaic, as stdout shows it: with `options.split`, its pieces, a blank line between."""
    grid, colours = converter.cells(photo, options.cols, options.rows, options.palette)
    if options.split is None:
        return converter.renderer.encode(grid, options.fmt, **look(options, photo, colours)).decode("utf-8")
    return "\n".join(piece + "\n" for piece in converter.renderer.pieces(grid, options.fmt, options.split))


def animation(path) -> tuple[list, list, int] | None:
    """The frames (RGB or RGBA), their durations in ms and the loop count of an animated GIF, APNG or
    WebP; None for a still picture, and for anything read_photo would refuse (it says why)."""
    if not Path(path).is_file():  # a FIFO would block open() until a writer came
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(path) as image:
                if getattr(image, "n_frames", 1) < 2:
                    return None
                frames, durations = [], []
                for frame in ImageSequence.Iterator(image):
                    frames.append(_to_rgb_or_rgba(frame.copy()))
                    durations.append(int(frame.info.get("duration") or 100))
                return frames, durations, int(image.info.get("loop", 0))
        except _UNREADABLE as e:
            raise ImageError(f"{path}: a damaged animation ({str(e)[:80] or type(e).__name__}); check the file") from None


def save_animation(converter: Converter, frames, durations, loop, out: Path, options: Options, overwrite: bool,
                   progress: bool = False) -> list[Path]:
    """An animation to the same kind of animation of mosaics, frame timings kept."""
    if len(frames) * grid_cells(frames[0], options) * options.tile_px ** 2 > ANIMATION_PIXELS:
        raise OutputError(f"{out}: {len(frames)} frames of this size would be more than "
                          f"{ANIMATION_PIXELS / 1e6:.0f} megapixels in all; lower --cols or --tile-px")
    grids, colours = [], []
    for frame in tqdm(frames, desc="frames", unit="frame", disable=not progress):
        grid, colour = converter.cells(frame, options.cols, options.rows, options.palette, grids[-1] if grids else None)
        grids.append(grid)
        colours.append(colour)
    data = converter.renderer.encode_animation(grids, colours, durations, loop, options.fmt, options.tile_px,
                                               options.cell_colour, options.quality)
    write_atomically(out, lambda temp: Path(temp).write_bytes(data), replace=overwrite)
    return [out]


def grid_cells(image: Image.Image, options: Options) -> int:
    rows, cols = grid_shape(image.width, image.height, options.cols, options.rows)
    return rows * cols


def save_mosaic(converter: Converter, photo, out, options: Options = Options(), overwrite: bool = False,
                progress: bool = False, on_note=lambda message: None) -> list[Path]:
    """Convert one photo and write its mosaic to `out`, atomically; never over the photo itself.

    An animated GIF, APNG or WebP written as .gif, .png or .webp becomes an animation of mosaics; a
    video (with PyAV) a video.
    With `options.split`, the pieces go to OUT.1.txt, OUT.2.txt, …, each a complete file, none
    written unless all may be. Returns the files written.
    """
    out = Path(out)
    check_output(photo, piece_path(out, 1) if options.split else out, overwrite)
    if (options.fmt in VIDEO_FORMATS) != (not isinstance(photo, Image.Image) and is_video(photo)):
        raise OutputError(f"{out}: a video makes a video and a photo an image or text; choose an output "
                          f"name to match {Path(str(photo)).name if not isinstance(photo, Image.Image) else 'the image'}")
    if options.fmt in VIDEO_FORMATS:
        return convert_video(converter, photo, out, options, overwrite, progress, on_note)
    if options.fmt in ANIMATED and not isinstance(photo, Image.Image):
        read_photo(photo, converter.model.background, options.cols, options.rows)  # checks the file, one line if bad
        if moving := animation(photo):
            return save_animation(converter, *moving, out, options, overwrite, progress)
    grid, colours = converter.cells(photo, options.cols, options.rows, options.palette)
    if options.split is None:
        converter.renderer.write(grid, out, options.fmt, options.tile_px, overwrite, **look(options, photo, colours))
        return [out]
    pieces = converter.renderer.pieces(grid, options.fmt, options.split)
    outs = [piece_path(out, number) for number in range(1, len(pieces) + 1)]
    for path in outs[1:]:
        check_output(photo, path, overwrite)
    for path, piece in zip(outs, pieces):
        data = (piece + "\n").encode("utf-8")  # the final newline is not counted: chats drop it
        write_atomically(path, lambda temp, data=data: Path(temp).write_bytes(data), replace=overwrite)
    return outs
