"""One photo, animation or video into its mosaic: a file in any of the formats, or text for stdout.

The options say how (options.py); the Converter makes the grids; the Renderer (render.py) draws them.
An animation (GIF, APNG, WebP) or a video becomes an animation or a video of mosaics, in any of those
formats, frame by frame and steady (Converter.frames); to the terminal, text frames. `prepare` is the one conversion of a photo that save_mosaic
and both batch engines (batch.py, cluster.py) run.
"""
import contextlib
import math
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from .converter import UNREACHED, Converter
from .defaults import MAX_CELLS, MAX_MOSAIC_PIXELS, PATCH
from .errors import ImageError, OutputError, Pic2EmojiError
from .files import check_replaceable, write_bytes
from .formats import PNG, TXT, hex_colour, kind_of, names_of, suffix_of
from .options import Options, target
from .photo import UNREADABLE, animation, check_frames, grid_of, grid_shape
from .quality import fidelity
from .video import Film, is_video, write_film

ANIMATION_PIXELS = 400_000_000  # an animated mosaic's frames are held until it is written: ~1.2 GB at most


@dataclass(frozen=True)
class Outcome:
    """What became of one photo: the files written, or the mosaic kept as it was, or why it failed."""
    photo: Path
    written: tuple[Path, ...] = ()
    kept: Path | None = None
    error: str | None = None  # the one-line reason
    there: Path | None = None  # with the error: the mosaic already there (AlreadyThere), left as it was


class AlreadyThere(OutputError):
    """The mosaic's file exists, and neither overwriting nor keeping it was asked for."""
    def __init__(self, out: Path):
        super().__init__(f"{out}: already exists; pass --overwrite to replace it or --skip-existing to keep it")
        self.out = Path(out)

    def __reduce__(self):  # pickled (a Ray worker's) as the path it names, not its message
        return AlreadyThere, (self.out,)


def check_output(photo, out: Path, overwrite: bool = False) -> None:
    """Refuse to write over the photo itself, over anything but a regular file, or over an existing file
    unless asked to."""
    if Path(photo).exists() and out.exists() and out.resolve() == Path(photo).resolve():
        raise OutputError(f"{out}: is the input photo itself; choose another output name")
    check_replaceable(out)  # before any work; write_atomically checks again as it writes
    if out.exists() and not overwrite:
        raise AlreadyThere(out)


def piece_path(out: Path, number: int) -> Path:
    """Where piece `number` (from 1) of a split text goes: mosaic.txt -> mosaic.1.txt."""
    return out.with_name(f"{out.stem}.{number}{out.suffix}")


def look(options: Options, photo, colours, background=None) -> dict:
    """What Renderer.encode needs beyond the grid, for these options and this photo, whose emoji were
    chosen for `background` (None: the model's)."""
    title = photo.name if isinstance(photo, Path) else Path(photo).name if isinstance(photo, str) else "mosaic"
    return {"colours": colours, "cell_colour": options.cell_colour, "title": title, "quality": options.quality,
            "truecolor": options.truecolor, "background": background}


def text_mosaic(converter: Converter, photo, options: Options = Options(TXT)) -> str:
    """One photo's text mosaic, as stdout shows it: with `options.split`, its pieces, a blank line between."""
    grid, colours, _ = converter.cells(photo, options)
    if options.split is None:
        return converter.renderer.encode(grid, options.fmt, **look(options, photo, colours)).decode("utf-8")
    return "\n".join(piece + "\n" for piece in converter.renderer.pieces(grid, options.fmt, options.split))


def text_frames(converter: Converter, photo, options: Options = Options(TXT)) -> list[tuple[str, int]]:
    """An animation's or a video's text mosaics, frame by frame, with each frame's duration in ms (steady,
    see Converter.frames); a still photo gives one frame."""
    moving = frames_of(photo, options)
    if moving is None:
        return [(text_mosaic(converter, photo, options), 0)]
    frames, durations, _ = moving
    encode = lambda cells: converter.renderer.encode(cells.grid, options.fmt, **look(options, photo, cells.colours)).decode()
    return [(encode(cells), duration) for cells, duration in zip(converter.frames(frames, options), durations)]


def frames_of(photo, options: Options) -> tuple[list, list, int] | None:
    """The frames (PIL images), their durations in ms and the loop count of an animation or a video, read
    whole, within the caps (photo.check_frames); None for a still photo."""
    if isinstance(photo, Image.Image):
        return None
    if not is_video(photo):
        return animation(photo, options.cols, options.rows)
    with Film(photo) as film:
        first = None
        frames = []
        for frame in film:
            if first is None:
                first = grid_shape(frame.width, frame.height, options.cols, options.rows)
                check_frames(photo, film.count or 1, first)
            frames.append(frame)
            check_frames(photo, len(frames), first)
        return frames, [round(1000 / film.rate)] * len(frames), 0


def drawn(converter: Converter, frames, options: Options, progress: bool = False, total: int | None = None):
    """Each frame's mosaic as a picture (PIL), lazily: steady, on the background chosen for the first."""
    from tqdm import tqdm  # films and animations only: a one-photo run need not import it
    for grid, colours, background in tqdm(converter.frames(frames, options), total=total, desc="frames", unit="frame",
                                          disable=not progress):
        backgrounds = converter.renderer.backgrounds(grid, colours) if options.cell_colour else None
        yield converter.renderer.image(grid, options.tile_px, backgrounds, background)


def put(out: Path, data: bytes, overwrite: bool, stream=None) -> list[Path]:
    """A mosaic file's bytes to their place: the file `out`, atomically (files.write_bytes), or as they
    are to `stream`; returns the files written."""
    if stream is not None:
        stream.write(data)
        return []
    write_bytes(out, data, replace=overwrite)
    return [out]


def save_animation(converter: Converter, frames, durations, loop, out: Path, options: Options, overwrite: bool,
                   progress: bool = False, stream=None) -> list[Path]:
    """An animation to the same kind of animation of mosaics, frame timings kept."""
    rows, cols = grid_shape(frames[0].width, frames[0].height, options.cols, options.rows)
    if len(frames) * rows * cols * options.tile_px ** 2 > ANIMATION_PIXELS:
        raise OutputError(f"{out}: {len(frames)} frames of this size would be more than "
                          f"{ANIMATION_PIXELS / 1e6:.0f} megapixels in all; lower --cols or --tile-px")
    from tqdm import tqdm
    grids, colours, background = [], [], options.background
    for cells in tqdm(converter.frames(frames, options), total=len(frames), desc="frames", unit="frame",
                      disable=not progress):
        grids.append(cells.grid)
        colours.append(cells.colours)
        background = cells.background
    data = converter.renderer.encode_animation(grids, colours, durations, loop, options.fmt, options.tile_px,
                                               options.cell_colour, options.quality, background)
    return put(out, data, overwrite, stream)


def prepare(converter: Converter, photo, out: Path, options: Options, overwrite: bool = False,
            progress: bool = False, on_note=lambda message: None, stream=None):
    """Convert one photo for the file `out` (options already for_output) and return the step that writes
    its mosaic and returns the files written. A still photo goes through the net here and its mosaic is
    drawn and written by the step, so that a batch can draw one photo while the next is in the net; an
    animation or a video is converted and written here, whole. With `stream`, the bytes go there and
    `out` only names them in messages (see save_mosaic)."""
    if stream is not None and (kind_of(options.fmt) == "video" or options.split):
        what = f"a {options.fmt} film" if options.split is None else "--split's pieces"
        raise OutputError(f"{out}: {what} can only be written to files; give -o FILE{suffix_of(options.fmt)}")
    video, still_out = not isinstance(photo, Image.Image) and is_video(photo), kind_of(options.fmt) != "animation"
    if (video and still_out and kind_of(options.fmt) != "video") or (kind_of(options.fmt) == "video" and
                                                                       not video and not animated(photo)):
        name = Path(str(photo)).name if not isinstance(photo, Image.Image) else "the image"
        raise OutputError(f"{out}: a video makes a video or an animation ({', '.join(names_of('animation'))}), and a still photo "
                          f"an image or text; choose an output name to match {name}")
    check_drawable(out, None if video else grid_of(photo, options.cols, options.rows), options)
    if kind_of(options.fmt) == "video" and video:  # a film to a film, a frame at a time
        with Film(photo) as film:
            if film.has_audio:
                on_note(f"{photo}: its audio is not carried over; the mosaic film is silent")
            options = options.for_source(film.width, grid_shape(film.width, film.height, options.cols, options.rows)[1])
            write_film(out, options.fmt, drawn(converter, film, options, progress, film.count), film.rate, overwrite)
        return lambda: [out]
    moving = frames_of(photo, options) if kind_of(options.fmt) == "video" or not still_out else None
    if moving is not None and kind_of(options.fmt) == "video":  # an animation to a film: each frame its duration
        frames, durations, _ = moving
        options = options.for_source(frames[0].width, grid_shape(*frames[0].size, options.cols, options.rows)[1])
        write_film(out, options.fmt, drawn(converter, frames, options, progress, len(frames)),
                   Fraction(1000, max(1, math.gcd(*durations))), overwrite, durations)  # a tick divides each duration
        return lambda: [out]
    if moving is not None:  # an animation or a film to an animated GIF, APNG or WebP
        written = save_animation(converter, *moving, out, options, overwrite, progress, stream)
        return lambda: written
    grid, colours, background = cells = converter.cells(photo, options)
    off = 0.0 if options.cell_colour or options.unused("cell_colour") else converter.unreached(cells)
    if off > UNREACHED:  # colours no emoji has, on this background: cell colours have them
        on_note(f"{look(options, photo, None)['title']}: {off:.0%} of the mosaic is far from the photo's colours, "
                "which no emoji has; --cell-colour draws each emoji on its cell's colour")
    if options.split is None:
        drawn_as = look(options, photo, colours, background)
        return lambda: put(out, converter.renderer.encode(grid, options.fmt, options.tile_px, **drawn_as), overwrite,
                           stream)
    pieces = converter.renderer.pieces(grid, options.fmt, options.split)
    outs = [piece_path(out, number) for number in range(1, len(pieces) + 1)]
    for path in outs[1:]:
        check_output(photo, path, overwrite)

    def write_pieces():
        for path, piece in zip(outs, pieces):
            write_bytes(path, (piece + "\n").encode("utf-8"), replace=overwrite)  # the final newline is not counted
        return outs
    return write_pieces


def check_drawable(out: Path, shape, options: Options) -> None:
    """Refuse, before any work, a picture of more than MAX_MOSAIC_PIXELS (the renderer would refuse it
    once the grid is made)."""
    if shape is None or kind_of(options.fmt) not in ("image", "animation") or options.tile_px is None or shape[0] * shape[1] > MAX_CELLS:
        return  # (a grid beyond MAX_CELLS is refused as the photo is read, saying what fits)
    pixels = shape[0] * shape[1] * options.tile_px ** 2
    if pixels > MAX_MOSAIC_PIXELS:
        raise OutputError(f"{out}: a mosaic of {shape[1]}×{shape[0]} emoji at {options.tile_px} px would be "
                          f"{pixels / 1e6:.0f} megapixels, more than the {MAX_MOSAIC_PIXELS / 1e6:.0f} pic2emoji "
                          "draws; lower --tile-px or --cols")


def still(photo) -> bool:
    """Whether a photo is one still picture, not a film or an animation (from its name and header)."""
    return isinstance(photo, Image.Image) or not is_video(photo) and not animated(photo)


def animated(photo) -> bool:
    """Whether a photo file is an animation (more than one frame), from its header."""
    if isinstance(photo, Image.Image) or not Path(photo).is_file():
        return False
    with contextlib.suppress(*UNREADABLE, Image.DecompressionBombError), Image.open(photo) as image:
        return getattr(image, "n_frames", 1) > 1
    return False


def attempt(photo, step) -> Outcome:
    """The Outcome of `step()` (the files it wrote), or of the one-line error it raised."""
    try:
        return Outcome(Path(photo), written=tuple(step()))
    except Pic2EmojiError as e:
        return Outcome(Path(photo), error=str(e))


def save_mosaic(converter: Converter, photo, out, options: Options = Options(), overwrite: bool = False,
                progress: bool = False, on_note=lambda message: None, stream=None) -> list[Path]:
    """Convert one photo and write its mosaic to `out`, atomically; never over the photo itself.

    The format follows the name of `out` unless `options.fmt` names one (a name that contradicts it is
    refused); a folder (`out/`, or one that exists) takes the mosaic named after the photo (`target`).
    An animated GIF, APNG or WebP written as .gif, .png or .webp becomes an animation of
    mosaics; a video (with PyAV) a video. With `options.split`, the pieces go to OUT.1.txt, OUT.2.txt,
    …, each a complete file, none written unless all may be. Returns the files written.

    With `stream` (a binary file, such as sys.stdout.buffer) the file's bytes are written there instead
    and `out` only names them in messages (the CLI's `-o -`); a film, which seeks back as it is
    written, and --split's pieces are refused.
    """
    out, options = target(photo, out, options)
    if stream is None:
        check_output(photo, piece_path(out, 1) if options.split else out, overwrite)
    return prepare(converter, photo, out, options, overwrite, progress, on_note, stream)()


def measure(converter: Converter, photo, options: Options = Options()) -> dict:
    """How faithful the photo's mosaic is (quality.fidelity: dE@2, dE@1, cell-PSNR, SSIM@6) and how many
    distinct emoji it uses; the mosaic is the one `options` makes (same input, same mosaic; a picture's
    where no format is given)."""
    options = options if options.fmt else replace(options, fmt=PNG)
    pixels, shape, background = converter.pixels(photo, options)
    grid, colours, _ = converter.cells(pixels, replace(options, background=background))
    backgrounds = converter.renderer.backgrounds(grid, colours) if options.cell_colour else None
    mosaic = np.asarray(converter.renderer.image(grid, PATCH, backgrounds, background))
    try:
        scores = fidelity(pixels, mosaic, shape)
    except ValueError as e:
        raise ImageError(f"{photo}: {e}") from None
    return {**scores, "distinct": int(len(np.unique(grid))), "rows": shape[0], "cols": shape[1],
            "method": options.method, "palette": options.palette, "background": hex_colour(background)}
