"""The formats a mosaic is shared in, beyond the PNG and the text of render.py: JPEG and WebP images,
one self-contained HTML file, ANSI colour for terminals, and the cell colours they can sit on.

All pure functions of the grid, the classes' texts and tiles, and the photo's colour in each cell.
"""
import base64
import html
import io

import numpy as np
from PIL import Image

from .pixels import to_uint8

# Output formats by file extension; the text formats are also what stdout takes.
SUFFIXES = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".webp": "webp", ".gif": "gif", ".txt": "txt",
            ".html": "html", ".htm": "html", ".ans": "ansi", ".mp4": "mp4", ".mov": "mov", ".mkv": "mkv",
            ".webm": "webm"}
VIDEO_FORMATS = ("mp4", "mov", "mkv", "webm")  # through PyAV, the optional extra
IMAGE_FORMATS = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP", "gif": "GIF"}  # ours -> Pillow's
ANIMATED = ("png", "webp", "gif")  # an animation in, to one of these, gives an animation out (APNG for png)
CONTRAST = 48  # levels of luminance kept between an emoji and the colour behind it, so it stays visible


def luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)


def cell_colours(photo_colours: np.ndarray, coverage: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """The colour behind each cell's emoji, chosen with the emoji: (rows, cols, 3) uint8.

    photo_colours: the photo's mean colour in each cell (rows, cols, 3); coverage: each cell's emoji's
    mean opacity (rows, cols); ink: its mean premultiplied colour, Σ alpha·rgb / pixels (rows, cols, 3).
    The background makes the cell's mean colour the photo's (what the eye sees from a step back), except
    that it keeps CONTRAST levels of luminance from the emoji itself, so the emoji never dissolves into
    a square of its own colour.
    """
    target = photo_colours.astype(np.float32)
    free = np.maximum(1 - coverage, 1e-3)[..., None]  # how much of the cell the background shows
    behind = np.clip((target - ink) / free, 0, 255)
    emoji = ink / np.maximum(coverage, 1e-3)[..., None]  # the emoji's own mean colour where it is opaque
    gap = luminance(behind) - luminance(emoji)
    side = np.where(gap >= 0, 1.0, -1.0)
    # A grey shift moves luminance by as much: to CONTRAST beyond the emoji on the side the colour is
    # on, or, where that leaves the range (a light emoji on near-white), on the other side.
    away = behind + (side * CONTRAST - gap)[..., None]
    other = behind + (-side * CONTRAST - gap)[..., None]
    fits = ((away >= 0) & (away <= 255)).all(-1, keepdims=True)
    close = (np.abs(gap) < CONTRAST)[..., None]
    return to_uint8(np.clip(np.where(close, np.where(fits, away, other), behind), 0, 255))


def image_bytes(image: Image.Image, fmt: str, quality: int = 90, png_level: int = 1) -> bytes:
    return animation_bytes([image], [], 0, fmt, quality, png_level)


def animation_bytes(frames: list, durations: list, loop: int, fmt: str, quality: int = 90, png_level: int = 1) -> bytes:
    """Images as one file: an animation of `frames` shown for `durations` ms each when there are several."""
    out, options = io.BytesIO(), {"compress_level": png_level} if fmt == "png" else {"quality": quality}
    if len(frames) > 1:
        options.update(save_all=True, append_images=frames[1:], duration=durations, loop=loop)
    frames[0].save(out, format=IMAGE_FORMATS[fmt], **options)
    return out.getvalue()


def hex_colour(rgb) -> str:
    return "#%02x%02x%02x" % tuple(int(v) for v in rgb)


def html_page(grid: np.ndarray, chars: list, tile_png, title: str, backgrounds: np.ndarray | None, page_colour) -> str:
    """One HTML file that opens offline: each emoji as text (select, copy, paste: a line per row) in a
    box of fixed size, so the grid stays aligned whatever the font draws. A class without a character
    (a custom emoji) is its image, inline as a data URL. `tile_png(class)` gives that image's PNG."""
    images = {c: base64.b64encode(tile_png(c)).decode() for c in np.unique(grid) if chars[c] is None}

    def cell(c, r, k):
        style = f' style="background:{hex_colour(backgrounds[r, k])}"' if backgrounds is not None else ""
        if chars[c] is None:
            return f'<span{style}><img src="data:image/png;base64,{images[c]}" alt=""></span>'
        return f"<span{style}>{html.escape(chars[c])}</span>"
    rows = "\n".join('<div class="row">' + "".join(cell(c, r, k) for k, c in enumerate(row)) + "</div>"
                     for r, row in enumerate(grid))
    return f"""<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width">
<meta name="generator" content="pic2emoji">
<title>{html.escape(title)}</title>
<style>
body {{ margin: 1em; background: {hex_colour(page_colour)}; }}
.mosaic {{ width: max-content; font-size: 16px; }}
.row {{ white-space: nowrap; height: 1.25em; }}
.row span {{ display: inline-block; vertical-align: top; width: 1.25em; height: 1.25em; line-height: 1.25em;
  text-align: center; overflow: hidden; font-family: "Noto Color Emoji", "Apple Color Emoji", "Segoe UI Emoji", sans-serif; }}
.row img {{ width: 1em; height: 1em; vertical-align: middle; }}
</style>
<div class="mosaic" role="img" aria-label="{html.escape(title)} as an emoji mosaic">
{rows}
</div>
</html>
"""


def xterm_256(rgb: np.ndarray) -> np.ndarray:
    """The nearest of xterm's 256 colours (its 6×6×6 cube or its 24 greys), for terminals without 24-bit colour."""
    levels = np.array([0, 95, 135, 175, 215, 255])
    cube_index = np.abs(rgb[..., None].astype(int) - levels).argmin(-1)
    cube = levels[cube_index]
    grey_index = np.clip(np.round((rgb.mean(-1) - 8) / 10), 0, 23).astype(int)
    grey = (8 + 10 * grey_index)[..., None]
    use_grey = ((grey - rgb) ** 2).sum(-1) < ((cube - rgb) ** 2).sum(-1)
    return np.where(use_grey, 232 + grey_index, 16 + 36 * cube_index[..., 0] + 6 * cube_index[..., 1] + cube_index[..., 2])


def ansi(grid: np.ndarray, texts: list[str], backgrounds: np.ndarray, truecolor: bool = True) -> str:
    """Text with each emoji on its cell's colour, as terminal escapes: 24-bit, or xterm's 256 colours."""
    codes = xterm_256(backgrounds) if not truecolor else None
    lines = []
    for r, row in enumerate(grid):
        cells = []
        for k, c in enumerate(row):
            colour = ";".join(map(str, backgrounds[r, k])) if truecolor else None
            cells.append((f"\x1b[48;2;{colour}m" if truecolor else f"\x1b[48;5;{codes[r, k]}m") + texts[c])
        lines.append("".join(cells) + "\x1b[0m\n")
    return "".join(lines)
