"""The output formats, one record each in FORMATS, and the pure functions that make their bytes.

A format is its name, the file names that ask for it, its kind and the function that encodes it; the
CLI's choices and help, the batch's suffixes and Renderer.encode all read the table, so a new format is
one record here. The encoders are pure functions of the grid, the classes' texts and tiles, and the
photo's colour in each cell: they take the Renderer as it is (its image, text, rgba), so nothing here
imports render.py. Videos are written frame by frame by video.py, from their record's container.
"""
import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from .errors import OutputError
from .pixels import as_rgb, to_uint8
from .png import png_bytes

KINDS = ("image", "animation", "text", "video", "page")  # animation: an image that animates when its photo
# does (APNG for png); text: what stdout takes; page: one HTML file
CONTRAST = 48  # levels of luminance kept between an emoji and the colour behind it, so it stays visible
PNG_LEVEL = 1  # zlib level: the fastest; mosaics of a few hundred repeated tiles gain little from more
PAGE_TILE_PX = 32  # a custom emoji's image inside an HTML page


@dataclass(frozen=True)
class Format:
    """One output format: what it is called, which file names ask for it, and how it is made."""
    name: str                  # what --format takes
    suffixes: tuple            # file names it writes (the first), then the others that ask for it
    kind: str                  # one of KINDS
    about: str                 # one phrase for help texts
    encode: Callable | None = None  # (renderer, grid, this Format, Look) -> the file's bytes; None: video.py
    pillow: str | None = None  # Pillow's name for it
    lossy: bool = False        # takes --quality
    container: tuple | None = None  # a video's (PyAV's container, its video codec)
    cell_colours: bool = False  # always on its cells' colours, whether or not they are asked for
    splits: bool = False       # plain text, which --split may cut on row boundaries


@dataclass(frozen=True)
class Look:
    """How a mosaic is drawn beyond its grid: what Renderer.encode hands a format's encoder."""
    tile_px: int               # pixels per emoji in pictures
    backgrounds: np.ndarray | None  # (rows, cols, 3): each cell's colour behind its emoji, or None
    background: tuple | None   # the colour behind every emoji where cells have none; None: the model's
    title: str                 # an HTML page's
    quality: int               # lossy formats', 1-100
    truecolor: bool            # ANSI: 24-bit colour escapes, else xterm's 256 colours


def encode_image(renderer, grid: np.ndarray, fmt: Format, look: Look) -> bytes:
    return image_bytes(renderer.image(grid, look.tile_px, look.backgrounds, look.background), fmt.name, look.quality)


def encode_text(renderer, grid: np.ndarray, fmt: Format, look: Look) -> bytes:
    return renderer.text(grid, fmt.name).encode("utf-8")


def encode_ansi(renderer, grid: np.ndarray, fmt: Format, look: Look) -> bytes:
    if look.backgrounds is None:
        raise OutputError("ANSI colour needs the photo's colours; convert a photo, not a bare grid")
    return ansi(grid, renderer.texts[TXT], look.backgrounds, look.truecolor).encode("utf-8")


def encode_page(renderer, grid: np.ndarray, fmt: Format, look: Look) -> bytes:
    tile_png = lambda c: image_bytes(Image.fromarray(renderer.rgba([c], PAGE_TILE_PX)[0]), PNG)
    return html_page(grid, renderer.chars, tile_png, look.title, look.backgrounds,
                     as_rgb(look.background, renderer.background), renderer.texts[TXT]).encode("utf-8")


PNG, TXT, SHORTCODES, ANSI = "png", "txt", "shortcodes", "ansi"  # the formats other modules need by name
ANIMATES, FILM = "emoji tiles; animated from an animation", "a film of mosaics, from a video"
# A file name asks for the first format that lists its suffix: .txt for txt, whose shortcodes write .txt too.
FORMATS = {f.name: f for f in (
    Format(PNG, (".png",), "animation", ANIMATES, encode_image, pillow="PNG"),
    Format("jpg", (".jpg", ".jpeg"), "image", "emoji tiles", encode_image, pillow="JPEG", lossy=True),
    Format("webp", (".webp",), "animation", ANIMATES, encode_image, pillow="WEBP", lossy=True),
    Format("gif", (".gif",), "animation", ANIMATES, encode_image, pillow="GIF"),
    Format("html", (".html", ".htm"), "page", "the emoji as text, one file", encode_page),
    Format(TXT, (".txt",), "text", "emoji as characters; :name: where a file names no emoji", encode_text,
           splits=True),
    Format(SHORTCODES, (".txt",), "text", "every emoji as :name:", encode_text, splits=True),
    Format(ANSI, (".ans",), "text", "emoji on their cells' colours, for terminals; into a pipe with --color always",
           encode_ansi, cell_colours=True),
    Format("mp4", (".mp4",), "video", FILM, container=("mp4", "libx264")),
    Format("mov", (".mov",), "video", FILM, container=("mov", "libx264")),
    Format("mkv", (".mkv",), "video", FILM, container=("matroska", "libx264")),
    Format("webm", (".webm",), "video", FILM, container=("webm", "libvpx-vp9")),
)}
READ_ONLY = {"image": (".bmp", ".tif", ".tiff"), "video": (".avi", ".m4v")}  # inputs no format writes


def suffixes_read(*kinds: str) -> tuple:
    """The suffixes of the inputs of these kinds: their formats', then those only read."""
    written = tuple(s for f in FORMATS.values() if f.kind in kinds for s in f.suffixes)
    return written + tuple(s for kind in kinds for s in READ_ONLY.get(kind, ()))


PHOTO_SUFFIXES = suffixes_read("image", "animation")  # what a folder of photos is walked for
VIDEO_SUFFIXES = suffixes_read("video")
SPLITTABLE = tuple(f.name for f in FORMATS.values() if f.splits)


def format_named(name: str) -> Format:
    """The record of the format called `name`; an OutputError naming the formats for any other name."""
    if name not in FORMATS:
        raise OutputError(f"unknown format {name!r}; choose one of {', '.join(FORMATS)}")
    return FORMATS[name]


def kind_of(name: str) -> str:
    return format_named(name).kind


def is_text(name: str) -> bool:
    """Whether the format is text, which stdout takes."""
    return kind_of(name) == "text"


def names_of(*kinds: str) -> list[str]:
    return [f.name for f in FORMATS.values() if f.kind in kinds]


def format_of(path) -> str | None:
    """The format a file name asks for by its extension (.png, .jpg, .webp, .html, .txt, .ans, ...), or None."""
    suffix = Path(path).suffix.lower()
    return next((f.name for f in FORMATS.values() if suffix in f.suffixes), None)


def suffix_of(name: str) -> str:
    """The extension of a format's files: both plain text formats write .txt."""
    return format_named(name).suffixes[0]


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


def image_bytes(image: Image.Image, fmt: str, quality: int = 90, png_level: int = PNG_LEVEL) -> bytes:
    if fmt == PNG and image.mode == "RGB":  # a mosaic: deflated on every core (png.py)
        return png_bytes(np.asarray(image), png_level)
    return animation_bytes([image], [], 0, fmt, quality, png_level)


def animation_bytes(frames: list, durations: list, loop: int, fmt: str, quality: int = 90,
                    png_level: int = PNG_LEVEL) -> bytes:
    """Images as one file: an animation of `frames` shown for `durations` ms each when there are several."""
    out, options = io.BytesIO(), {"compress_level": png_level} if fmt == PNG else {"quality": quality}
    if len(frames) > 1:
        options.update(save_all=True, append_images=frames[1:], duration=durations, loop=loop)
    frames[0].save(out, format=format_named(fmt).pillow, **options)
    return out.getvalue()


def hex_colour(rgb) -> str:
    return "#%02x%02x%02x" % tuple(int(v) for v in rgb)


def html_page(grid: np.ndarray, chars: list, tile_png, title: str, backgrounds: np.ndarray | None, page_colour,
              names: list | None = None) -> str:
    """One HTML file that opens offline: each emoji as text (select, copy, paste: a line per row) in a
    box of fixed size, so the grid stays aligned whatever the font draws. A class without a character
    (a custom emoji) is its image, inline as a data URL, with its name (`names`: its :shortcode:) as the
    alt text that copying gives. `tile_png(class)` gives that image's PNG."""
    images = {c: base64.b64encode(tile_png(c)).decode() for c in np.unique(grid) if chars[c] is None}

    def cell(c, r, k):
        style = f' style="background:{hex_colour(backgrounds[r, k])}"' if backgrounds is not None else ""
        if chars[c] is None:
            alt = html.escape(names[c], quote=True) if names else ""
            return f'<span{style}><img src="data:image/png;base64,{images[c]}" alt="{alt}"></span>'
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
