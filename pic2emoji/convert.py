"""One photo, animation or video into its mosaic: a file in any of render's formats, or text for stdout.

The options say how (Options); Converter (infer.py) makes the grids; Renderer (render.py) draws them.
An animated GIF, APNG or WebP becomes an animation of mosaics and a video a video (video.py), frame
by frame and steady (Converter.steady). batch.py runs this over folders.
"""
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageSequence
from tqdm import tqdm

from .defaults import PATCH, TILE_PX
from .errors import ImageError, OutputError
from .files import check_replaceable, write_bytes
from .formats import FORMATS, PNG, SPLITTABLE, TXT, hex_colour, is_text, kind_of
from .infer import AUTO, METHODS, UNREADABLE, Converter, grid_shape, to_rgb_or_rgba
from .pixels import as_rgb, block_means, to_uint8
from .video import convert_video, is_video

ANIMATION_PIXELS = 400_000_000  # an animated mosaic's frames are held until it is written: ~1.2 GB at most


@dataclass(frozen=True)
class Options:
    """How a photo becomes a mosaic file. The CLI's infer options mirror these fields."""
    fmt: str = PNG             # one of formats.FORMATS
    cols: int | None = None    # grid columns, rows following the aspect ratio; None: COLS (fewer for tiny photos)
    rows: int | None = None    # grid rows, instead of cols
    palette: str | None = None  # emoji allowed, one of PALETTES; None: terminal for text, all for images
    tile_px: int = TILE_PX     # pixels per emoji in images
    split: int | None = None   # text only: cut into pieces of at most this many characters, on row boundaries
    cell_colour: bool = False  # images and HTML: each emoji on a colour chosen for its cell (ANSI always is)
    quality: int = 90          # JPEG and WebP quality, 1-100
    truecolor: bool = True     # ANSI: 24-bit colour escapes, else xterm's 256 colours
    method: str = "refine"     # one of METHODS: refine (colours from a step back), net (its choice per cell), lookup
    background: tuple | str | None = None  # behind the emoji: an RGB colour or AUTO (chosen per photo); None:
    # AUTO for pictures made by refine or lookup, the model's for text, for the net's own choice and on cell colours

    def __post_init__(self):
        if self.fmt not in FORMATS:
            raise OutputError(f"unknown format {self.fmt!r}; choose one of {', '.join(FORMATS)}")
        if self.method not in METHODS:
            raise OutputError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.split is not None and self.fmt not in SPLITTABLE:
            raise OutputError(f"--split cuts plain text, not {self.fmt}; use --format {' or '.join(SPLITTABLE)}")
        if isinstance(self.background, str) and self.background.lower() == AUTO:
            object.__setattr__(self, "background", AUTO)
        elif self.background is not None:
            try:
                object.__setattr__(self, "background", as_rgb(self.background))
            except ValueError as e:
                raise OutputError(f"background: {e}") from None
        if self.background == AUTO and is_text(self.fmt):
            raise OutputError("--background auto chooses the colour behind the emoji of a picture; text is shown on "
                              "your terminal's own background: give that colour instead (e.g. --background black)")
        if self.palette is None:
            object.__setattr__(self, "palette", "terminal" if is_text(self.fmt) else "all")
        if self.background is None and not is_text(self.fmt) and self.method != "net" and not self.cell_colour:
            object.__setattr__(self, "background", AUTO)


def check_output(photo, out: Path, overwrite: bool = False) -> None:
    """Refuse to write over the photo itself, over anything but a regular file, or over an existing file
    unless asked to."""
    if Path(photo).exists() and out.exists() and out.resolve() == Path(photo).resolve():
        raise OutputError(f"{out}: is the input photo itself; choose another output name")
    check_replaceable(out)  # before any work; write_atomically checks again as it writes
    if out.exists() and not overwrite:
        raise OutputError(f"{out}: already exists; pass --overwrite to replace it or --skip-existing to keep it")


def piece_path(out: Path, number: int) -> Path:
    """Where piece `number` (from 1) of a split text goes: mosaic.txt -> mosaic.1.txt."""
    return out.with_name(f"{out.stem}.{number}{out.suffix}")


def text_frames(converter: Converter, photo, options: Options = Options(TXT)) -> list[tuple[str, int]]:
    """An animation's text mosaics, frame by frame, with each frame's duration in ms (steady, see
    Converter.steady); a still photo gives one frame."""
    moving = animation(photo) if not isinstance(photo, Image.Image) else None
    if moving is None:
        return [(text_mosaic(converter, photo, options), 0)]
    frames, grid = [], None
    background = options.background
    for frame, duration in zip(*moving[:2]):
        grid, colours, background = converter.cells(frame, options.cols, options.rows, options.palette,
                                                    options.method, grid, background)
        frames.append((converter.renderer.encode(grid, options.fmt, **look(options, photo, colours)).decode(), duration))
    return frames


def look(options: Options, photo, colours, background=None) -> dict:
    """What Renderer.encode needs beyond the grid, for these options and this photo, whose emoji were
    chosen for `background` (None: the model's)."""
    title = photo.name if isinstance(photo, Path) else Path(photo).name if isinstance(photo, str) else "mosaic"
    return {"colours": colours, "cell_colour": options.cell_colour, "title": title, "quality": options.quality,
            "truecolor": options.truecolor, "background": background}


def text_mosaic(converter: Converter, photo, options: Options = Options(TXT)) -> str:
    """One photo's text mosaic, as stdout shows it: with `options.split`, its pieces, a blank line between."""
    grid, colours, _ = converter.cells(photo, options.cols, options.rows, options.palette, options.method,
                                       background=options.background)
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
            image = Image.open(path)
            frames_there = getattr(image, "n_frames", 1)
        except (Image.DecompressionBombError, *UNREADABLE):
            return None  # not a picture at all: read_photo says so in its one line
        with image:
            if frames_there < 2:
                return None
            try:
                frames, durations = [], []
                for frame in ImageSequence.Iterator(image):
                    frames.append(to_rgb_or_rgba(frame.copy()))
                    durations.append(int(frame.info.get("duration") or 100))
            except UNREADABLE as e:
                raise ImageError(f"{path}: a damaged animation ({str(e)[:80] or type(e).__name__}); check the file") from None
            return frames, durations, int(image.info.get("loop", 0))


def save_animation(converter: Converter, frames, durations, loop, out: Path, options: Options, overwrite: bool,
                   progress: bool = False) -> list[Path]:
    """An animation to the same kind of animation of mosaics, frame timings kept."""
    if len(frames) * grid_cells(frames[0], options) * options.tile_px ** 2 > ANIMATION_PIXELS:
        raise OutputError(f"{out}: {len(frames)} frames of this size would be more than "
                          f"{ANIMATION_PIXELS / 1e6:.0f} megapixels in all; lower --cols or --tile-px")
    grids, colours, background = [], [], options.background  # AUTO: chosen on the first frame, kept for all
    for frame in tqdm(frames, desc="frames", unit="frame", disable=not progress):
        grid, colour, background = converter.cells(frame, options.cols, options.rows, options.palette, options.method,
                                                   grids[-1] if grids else None, background)
        grids.append(grid)
        colours.append(colour)
    data = converter.renderer.encode_animation(grids, colours, durations, loop, options.fmt, options.tile_px,
                                               options.cell_colour, options.quality, background)
    write_bytes(out, data, replace=overwrite)
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
    if (kind_of(options.fmt) == "video") != (not isinstance(photo, Image.Image) and is_video(photo)):
        raise OutputError(f"{out}: a video makes a video and a photo an image or text; choose an output "
                          f"name to match {Path(str(photo)).name if not isinstance(photo, Image.Image) else 'the image'}")
    if kind_of(options.fmt) == "video":
        return convert_video(converter, photo, out, options, overwrite, progress, on_note)
    if kind_of(options.fmt) == "animation" and not isinstance(photo, Image.Image):
        if moving := animation(photo):  # else a still picture, or one that cells() refuses in one line
            return save_animation(converter, *moving, out, options, overwrite, progress)
    grid, colours, background = converter.cells(photo, options.cols, options.rows, options.palette, options.method,
                                                background=options.background)
    if options.split is None:
        converter.renderer.write(grid, out, options.fmt, options.tile_px, overwrite,
                                 **look(options, photo, colours, background))
        return [out]
    pieces = converter.renderer.pieces(grid, options.fmt, options.split)
    outs = [piece_path(out, number) for number in range(1, len(pieces) + 1)]
    for path in outs[1:]:
        check_output(photo, path, overwrite)
    for path, piece in zip(outs, pieces):
        write_bytes(path, (piece + "\n").encode("utf-8"), replace=overwrite)  # the final newline is not counted
    return outs


def measure(converter: Converter, photo, options: Options = Options()) -> dict:
    """How faithful the photo's mosaic is (quality.fidelity: dE@2, dE@1, cell-PSNR, SSIM@6) and how many
    distinct emoji it uses; the mosaic is the one `options` makes (same input, same mosaic)."""
    from .quality import fidelity
    pixels, shape, background = converter.pixels_for(photo, options.cols, options.rows, options.palette,
                                                     options.background)
    grid = converter.grid_of(pixels, shape, options.palette, options.method, background)
    backgrounds = converter.renderer.backgrounds(grid, to_uint8(block_means(pixels, PATCH))) if options.cell_colour else None
    mosaic = np.asarray(converter.renderer.image(grid, PATCH, backgrounds, background))
    try:
        scores = fidelity(pixels, mosaic, shape)
    except ValueError as e:
        raise ImageError(f"{photo}: {e}") from None
    return {**scores, "distinct": int(len(np.unique(grid))), "rows": shape[0], "cols": shape[1],
            "method": options.method, "palette": options.palette, "background": hex_colour(background)}
