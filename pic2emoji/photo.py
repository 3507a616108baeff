"""A photo as the grid sees it: decoded, turned upright, laid on the background, resized to 36 px a cell.

A photo is read in whatever form it comes (JPEG, PNG, WebP, GIF, BMP, TIFF; L, LA, P, RGB, RGBA, CMYK,
16-bit), turned upright by its EXIF orientation, laid on the background where transparent, and resized
with a proper filter so that each grid cell is exactly one 36×36 patch. An animated GIF, APNG or WebP
is read as its frames. Pillow and numpy only.
"""
import contextlib
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, ImageSequence

from .defaults import COLS, MAX_CELLS, MAX_FRAME_CELLS, MAX_FRAMES, PATCH, VIEW
from .errors import ImageError, first_line
from .pixels import to_uint8
from .views import view_of

_ORIENTATION_SWAPS = {5, 6, 7, 8}  # EXIF orientations that turn the picture a quarter
UNREADABLE = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError)


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


def upright_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) once the EXIF orientation is applied, from the header alone."""
    width, height = image.size
    return (height, width) if image.getexif().get(0x0112) in _ORIENTATION_SWAPS else (width, height)


def grid_of(photo, cols: int | None = None, rows: int | None = None) -> tuple[int, int] | None:
    """The (rows, cols) a photo file or PIL image makes, from its header alone; None for what cannot be
    read that way (read_photo then says why), so every cap can be checked before any work."""
    if isinstance(photo, Image.Image):
        return grid_shape(*photo.size, cols, rows)
    if isinstance(photo, np.ndarray) or not Path(photo).is_file():
        return None
    with warnings.catch_warnings(), contextlib.suppress(*UNREADABLE, Image.DecompressionBombError):
        warnings.simplefilter("ignore")
        with Image.open(photo) as image:
            return grid_shape(*upright_size(image), cols, rows)
    return None


def _decode(path, cols, rows, px: int = PATCH) -> tuple[Image.Image, tuple[int, int]]:
    with Image.open(path) as image:
        width, height = upright_size(image)
        shape = grid_shape(width, height, cols, rows)
        check_grid(path, shape, width, height)
        target = (shape[1] * px, shape[0] * px)
        image.draft("RGB", target if (width, height) == image.size else target[::-1])  # JPEG: decode smaller
        return to_rgb_or_rgba(ImageOps.exif_transpose(image)), shape


def read_photo(path, background, cols: int | None = None, rows: int | None = None,
               px: int = PATCH) -> tuple[np.ndarray, tuple]:
    """A photo as (rows·px, cols·px, 3) uint8 RGB on the background (px: 36 unless asked), and its grid
    shape (rows, cols)."""
    if Path(path).exists() and not Path(path).is_file() and not Path(path).is_dir():  # a FIFO would block
        raise ImageError(f"{path}: not a regular file (a FIFO, socket or device); give a photo file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about damaged files; the user gets our one line instead
            image, shape = _decode(path, cols, rows, px)
    except Image.DecompressionBombError:  # raised from the header, before any pixel is decoded
        raise ImageError(f"{path}: larger than {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels, which pic2emoji "
                         "refuses as a possible decompression bomb; downscale it first") from None
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None

    except IsADirectoryError:
        raise ImageError(f"{path}: is a folder; give -o OUT_DIR to convert a folder") from None
    except UNREADABLE as e:
        raise ImageError(f"{path}: not a readable image ({first_line(e, 100)}); check the file or convert it to "
                         "PNG/JPEG") from None
    return fit_to_grid(image, background, shape, px), shape


def fit_to_grid(image: Image.Image, background, shape, px: int = PATCH) -> np.ndarray:
    """An RGB or RGBA image resized to exactly `px` (36) px per grid cell, laid on the background: uint8 RGB.

    It is resized first (Pillow resizes RGBA with premultiplied alpha, so compositing afterwards is
    exact), which keeps a 50-megapixel photo from being copied at full size.
    """
    image = image.resize((shape[1] * px, shape[0] * px), Image.LANCZOS, reducing_gap=3.0)
    if image.mode == "RGBA":
        flat = Image.new("RGBA", image.size, tuple(background) + (255,))
        flat.alpha_composite(image)
        image = flat
    return np.asarray(image.convert("RGB"))


def cut_patches(photo: np.ndarray, shape) -> np.ndarray:
    """(rows·px, cols·px, 3) -> (rows·cols, px, px, 3), row by row (px: 36, or whatever the photo was read at)."""
    rows, cols = shape
    px = photo.shape[0] // rows
    return photo.reshape(rows, px, cols, px, 3).transpose(0, 2, 1, 3, 4).reshape(-1, px, px, 3)


def on_grid(photo, background, cols: int | None = None, rows: int | None = None,
            px: int = PATCH) -> tuple[np.ndarray, tuple]:
    """Any photo as the grid sees it, (rows·px, cols·px, 3) uint8 on the background, and (rows, cols):
    a file path or a PIL image (at `px` px a cell), or an array already at 36 px a cell (taken as it is)."""
    if isinstance(photo, np.ndarray):
        if photo.ndim != 3 or photo.shape[2] != 3 or photo.shape[0] % PATCH or photo.shape[1] % PATCH or not photo.size:
            raise ImageError(f"an array of {photo.shape} is not a photo at {PATCH} px a cell; give (rows·{PATCH}, "
                             f"cols·{PATCH}, 3) uint8, a PIL image or a file")
        return photo.astype(np.uint8, copy=False), (photo.shape[0] // PATCH, photo.shape[1] // PATCH)
    if isinstance(photo, Image.Image):
        shape = grid_shape(*photo.size, cols, rows)
        check_grid("the image", shape, *photo.size)
        image = photo if photo.mode in ("RGB", "RGBA") else photo.convert("RGBA")
        return fit_to_grid(image, background, shape, px), shape
    return read_photo(photo, background, cols, rows, px)


def view_grid(photo, background, cols: int | None = None, rows: int | None = None) -> tuple[np.ndarray, tuple]:
    """The cells' views (views.py: (rows·cols, 108) float32) of a PIL image read straight at 6 px a cell
    (on_grid), and (rows, cols); of anything else, the view_of its 36-px picture. Within a level or so
    (RMS) of the views of the 36-px picture, for a thirtieth of the pixels: what a film's frame is
    compared by (Converter.frames)."""
    if not isinstance(photo, Image.Image):
        pixels, shape = on_grid(photo, background, cols, rows)
        return view_of(cut_patches(pixels, shape)), shape
    pixels, (rows, cols) = on_grid(photo, background, cols, rows, VIEW)
    view = pixels.reshape(rows, VIEW, cols, VIEW, 3).transpose(0, 2, 1, 3, 4)
    return view.reshape(rows * cols, VIEW * VIEW * 3).astype(np.float32), (rows, cols)


def is_transparent(photo) -> bool:
    """Whether a photo (a PIL image or a file) has transparent parts, which take the background."""
    if isinstance(photo, np.ndarray):
        return False
    if isinstance(photo, Image.Image):
        return "A" in photo.mode or "transparency" in photo.info
    with contextlib.suppress(*UNREADABLE, Image.DecompressionBombError), Image.open(photo) as image:
        return "A" in image.mode or "transparency" in image.info
    return False


def animation(path, cols: int | None = None, rows: int | None = None) -> tuple[list, list, int] | None:
    """The frames (RGB or RGBA), their durations in ms and the loop count of an animated GIF, APNG or
    WebP; None for a still picture, and for anything read_photo would refuse (it says why). An animation
    of more than MAX_FRAMES frames, or more than MAX_FRAME_CELLS cells in all at this grid size, is
    refused from its header, before any frame is read."""
    if not Path(path).is_file():  # a FIFO would block open() until a writer came
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            image = Image.open(path)
            frames_there = getattr(image, "n_frames", 1)
        except (Image.DecompressionBombError, *UNREADABLE):
            return None  # not a picture at all: read_photo says so in its one line
        with image:
            if frames_there < 2:
                return None
            check_frames(path, frames_there, grid_shape(*image.size, cols, rows))
            try:
                frames, durations = [], []
                for frame in ImageSequence.Iterator(image):
                    frames.append(to_rgb_or_rgba(frame.copy()))
                    durations.append(int(frame.info.get("duration") or 100))
            except UNREADABLE as e:
                raise ImageError(f"{path}: a damaged animation ({first_line(e, 80)}); check the file") from None
            return frames, durations, int(image.info.get("loop", 0))


def check_frames(path, frames: int, shape) -> None:
    """Refuse an animation beyond MAX_FRAMES frames or MAX_FRAME_CELLS cells in all, saying what fits."""
    cells = frames * shape[0] * shape[1]
    if frames > MAX_FRAMES:
        raise ImageError(f"{path}: an animation of {frames:,} frames, more than the {MAX_FRAMES:,} pic2emoji converts "
                         "at once; cut it into parts (e.g. with ffmpeg or gifsicle)")
    if cells > MAX_FRAME_CELLS:
        raise ImageError(f"{path}: {frames:,} frames of {shape[0]}×{shape[1]} cells are {cells:,} cells in all, more "
                         f"than the {MAX_FRAME_CELLS:,} pic2emoji converts at once; lower --cols or cut the animation")
