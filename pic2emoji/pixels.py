"""Small operations on pixel arrays that several stages need: numpy only."""
import numpy as np
from PIL import Image, ImageColor


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Float pixels (0..255) rounded to the nearest uint8, out-of-range values clipped."""
    return np.clip(values + 0.5, 0, 255).astype(np.uint8)


def composite(rgba: np.ndarray, background) -> np.ndarray:
    """RGBA uint8 over a solid RGB colour -> float32 RGB (0..255). Transparent pixels are never black."""
    alpha = rgba[..., 3:4].astype(np.float32) / 255
    return rgba[..., :3].astype(np.float32) * alpha + np.asarray(background, np.float32) * (1 - alpha)


def block_means(images: np.ndarray, block: int) -> np.ndarray:
    """(..., h, w, c) -> (..., h/block, w/block, c) float32: the mean of each block×block square."""
    *lead, h, w, c = images.shape
    blocks = images.reshape(*lead, h // block, block, w // block, block, c)
    if images.dtype != np.uint8:
        return blocks.mean((-4, -2), dtype=np.float32)
    # Integer sums are exact, and four times faster than a float mean; the same values (a float32 sum of
    # integers below 2**24 is exact too).
    sums = blocks.sum(-4, dtype=np.uint16 if block <= 257 else np.uint32).sum(-2, dtype=np.uint32)
    return sums.astype(np.float32) / np.float32(block * block)


def resize_tiles(rgba: np.ndarray, size: int) -> np.ndarray:
    """(n, s, s, 4) uint8 -> (n, size, size, 4), resized with a proper (Lanczos) filter."""
    return np.stack([np.asarray(Image.fromarray(t).resize((size, size), Image.LANCZOS)) for t in rgba])


def parse_colour(text: str) -> tuple[int, int, int]:
    """A colour as people write it: a name (grey), #rrggbb, or r,g,b from 0 to 255."""
    try:
        if "," in text:
            rgb = tuple(int(v) for v in text.split(","))
            if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
                raise ValueError
            return rgb
        return ImageColor.getrgb(text)[:3]
    except ValueError:
        raise ValueError(f"{text!r} is not a colour: use a name (grey), #rrggbb or r,g,b") from None


def as_rgb(colour, default=None) -> tuple[int, int, int] | None:
    """A colour given as r,g,b numbers (a tuple, list or array) or as text (parse_colour) as a tuple of
    three ints; None gives `default`."""
    if colour is None:
        return default if default is None else as_rgb(default)
    if isinstance(colour, str):
        return parse_colour(colour)
    rgb = tuple(int(c) for c in np.asarray(colour).reshape(-1))
    if len(rgb) != 3 or not all(0 <= c <= 255 for c in rgb):
        raise ValueError(f"{colour!r} is not a colour: give three numbers from 0 to 255")
    return rgb


def nearest_pattern(k: int, size: int = 36) -> np.ndarray:
    """Which of a cell's k source pixels each of its `size` output pixels takes when a grid drawn at k px
    per cell is brought to `size` px per cell by nearest neighbour (pixel centres, exact arithmetic:
    floor((j + ½)·k / size)). The same in the browser's ONNX graph (onnx_export.py) and in serve.py."""
    return (2 * np.arange(size) + 1) * k // (2 * size)


def upsample_cells(image: np.ndarray, shape, size: int = 36) -> np.ndarray:
    """(rows·k, cols·k, c) -> (rows·size, cols·size, c) by nearest_pattern, cell by cell; the image
    itself where it is at `size` already (not a copy of tens of megabytes)."""
    rows, cols = shape
    if image.shape[:2] == (rows * size, cols * size):
        return image
    repeats = [np.tile(np.bincount(nearest_pattern(n // cells, size), minlength=n // cells), cells)
               for n, cells in ((image.shape[0], rows), (image.shape[1], cols))]
    return np.repeat(np.repeat(image, repeats[0], axis=0), repeats[1], axis=1)
