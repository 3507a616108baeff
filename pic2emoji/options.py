"""How a photo becomes a mosaic: the options of one conversion, checked once, whatever calls it; and
how a model is trained (TrainConfig: tinygrad-free, so the CLI's options read it without importing train).

The CLI's infer options mirror these fields; the library holds the rules (the format follows the output
name, what each format allows), so a Python caller gets the same mosaics and the same refusals.
"""
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

from .defaults import BACKGROUND, TILE_PX
from .errors import ModelError, OutputError
from .formats import FORMATS, PNG, SPLITTABLE, format_named, format_of, is_text, kind_of, names_of, suffix_of
from .pixels import as_rgb
from .video import is_video

METHODS = ("refine", "net", "lookup")  # refine: the net's choice, then the mosaic refined as a whole (refine.py)
PALETTES = ("all", "terminal")  # terminal: one-code-point emoji, which keep text grids aligned, and plain text
AUTO = "auto"  # background=AUTO: the grey behind the emoji chosen for each photo (background.py)


@dataclass(frozen=True)
class Options:
    """How a photo becomes a mosaic file. The CLI's infer options mirror these fields."""
    fmt: str | None = None     # one of formats.FORMATS; None: the one the output's name asks for (for_output)
    cols: int | None = None    # grid columns, rows following the aspect ratio; None: COLS (fewer for tiny photos)
    rows: int | None = None    # grid rows, instead of cols
    palette: str | None = None  # emoji allowed, one of PALETTES; None: terminal for text, all for images
    tile_px: int | None = None  # pixels per emoji in images; None: TILE_PX, or for a film what suits its source
    # (film_tile_px: a 320×240 clip at 72 columns has 4.4 source pixels a cell, 18 px tiles show them all)
    split: int | None = None   # text only: cut into pieces of at most this many characters, on row boundaries
    cell_colour: bool = False  # images and HTML: each emoji on a colour chosen for its cell (ANSI always is)
    quality: int = 90          # JPEG and WebP quality, 1-100
    truecolor: bool = True     # ANSI: 24-bit colour escapes, else xterm's 256 colours
    method: str = "refine"     # one of METHODS: refine (colours from a step back), net (its choice per cell), lookup
    background: tuple | str | None = None  # behind the emoji: an RGB colour or AUTO (chosen per photo); None:
    # AUTO for pictures made by refine or lookup, the model's for text, for the net's own choice, on cell
    # colours, and where no format is known yet (Converter.cells)

    def __post_init__(self):
        if self.fmt is not None and self.fmt not in FORMATS:
            raise OutputError(f"unknown format {self.fmt!r}; choose one of {', '.join(FORMATS)}")
        if self.method not in METHODS:
            raise OutputError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.palette is not None and self.palette not in PALETTES:
            raise OutputError(f"unknown palette {self.palette!r}; choose one of {', '.join(PALETTES)}")
        if self.split is not None and self.fmt is not None and self.fmt not in SPLITTABLE:
            raise OutputError(f"--split cuts plain text, not {self.fmt}; use --format {' or '.join(SPLITTABLE)}")
        if isinstance(self.background, str) and self.background.lower() == AUTO:
            object.__setattr__(self, "background", AUTO)
        elif self.background is not None:
            try:
                object.__setattr__(self, "background", as_rgb(self.background))
            except ValueError as e:
                raise OutputError(f"background: {e}") from None
        if self.fmt is None:
            return  # the rest follows the format, once it is known
        if self.tile_px is None and kind_of(self.fmt) != "video":
            object.__setattr__(self, "tile_px", TILE_PX)
        text = is_text(self.fmt)
        if self.background == AUTO and text:
            raise OutputError("--background auto chooses the colour behind the emoji of a picture; text is shown on "
                              "your terminal's own background: give that colour instead (e.g. --background black)")
        if self.palette is None:
            object.__setattr__(self, "palette", "terminal" if text else "all")
        if self.background is None and not text and self.method != "net" and not self.cell_colour:
            object.__setattr__(self, "background", AUTO)

    def for_output(self, out) -> "Options":
        """These options for a file named `out`: without a format, the one its extension names (PNG for a
        name without one); a format that the name contradicts (a .jpg file asked to hold PNG) is refused."""
        suffix = Path(out).suffix.lower()
        named = format_of(out)
        if self.fmt is None:
            if suffix and named is None:
                raise OutputError(f"{out}: unknown extension {suffix!r}; name the file with a mosaic format's "
                                  f"extension or give the format ({', '.join(FORMATS)})")
            return replace(self, fmt=named or PNG)
        if named is not None and named != self.fmt and suffix_of(self.fmt) != suffix:
            raise OutputError(f"{out}: the extension {suffix} names {named}, not {self.fmt}; name the file "
                              f"{Path(out).stem}{suffix_of(self.fmt)} or leave the format to the name")
        return self

    def unused(self, *names: str) -> list[str]:
        """Which of these options (cell_colour, quality, tile_px) do nothing for this format (PNG where
        none is known yet): quality is for lossy formats, tile_px for pictures and films, cell_colour for
        all but text (ANSI always has cell colours)."""
        record = format_named(self.fmt or PNG)
        works = {"quality": record.lossy, "tile_px": record.kind in ("image", "animation", "video"),
                 "cell_colour": record.kind != "text"}
        return [name for name in names if not works[name]]

    def for_source(self, width: int, cells: int) -> "Options":
        """These options for a film whose frames are `width` pixels across `cells` columns: a tile size
        not asked for is about four tile pixels to a source pixel, from 16 to TILE_PX, so that a small
        clip is not drawn (and encoded) at many times the detail it has."""
        if self.tile_px is not None:
            return self
        return replace(self, tile_px=max(16, min(TILE_PX, round(4 * width / cells))))


def names_folder(out) -> bool:
    """Whether `out` means "into this folder": a folder that exists, or a name ending in a slash."""
    return str(out).endswith(("/", os.sep)) or Path(out).is_dir()


def film_options(photo, options: Options) -> Options:
    """A photo's options where mosaics go into a folder: the format asked for, else PNG; but a video
    becomes a video, in the format asked for if it is a video format, else in its own (.avi, .m4v: MP4)."""
    named = isinstance(photo, (str, os.PathLike))  # a file, not pixels
    if not (named and is_video(photo)) or kind_of(options.fmt or PNG) == "video":
        return options if options.fmt else replace(options, fmt=PNG)
    own, films = format_of(photo), names_of("video")
    return replace(options, fmt=own if own in films else films[0])


def target(photo, out, options: Options = Options()) -> tuple[Path, Options]:
    """Where the mosaic of `photo` goes for the output `out`, and the options for it. A folder (one
    that exists, or a name ending in a slash) takes the mosaic named after the photo, in the format
    asked for (PNG, a video's own for a video); else the format follows the name (Options.for_output)."""
    if not names_folder(out):
        return Path(out), options.for_output(out)
    if not isinstance(photo, (str, os.PathLike)):
        raise OutputError(f"{out}: is a folder, and an image given as pixels has no name; give a file name")
    options = options if options.fmt else film_options(photo, options)
    return Path(out) / Path(photo).with_suffix(suffix_of(options.fmt)).name, options


MAX_HELD_OUT = 100_000  # held-out samples a model file may ask `eval` to make: ~390 MB of patches


@dataclass(frozen=True)
class TrainConfig:
    """Every training setting, with its default. The CLI's options mirror these fields."""
    steps: int | None = None      # optimiser steps; None: 3 per class, at least 1000 and at most 6000
    batch_size: int = 256         # samples per step
    lr: float = 3e-3              # Adam's peak learning rate, reached after `warmup` steps, then cosine to 2%
    warmup: int = 100
    seed: int = 0                 # seeds the weights, every batch and the held-out set
    arch: str = "tinyconv"        # a name of archs.ARCHS
    init: str | None = None       # start from this model's weights (any set: shared classes by name)
    background: tuple = BACKGROUND  # behind the emoji; the model keeps it for rendering
    merge_threshold: float = 8.0  # look-alikes closer than this (RMS at 12×12) become one class
    rotate: float = 10.0          # degrees, ±
    zoom: float = 0.2             # zoom-crop up to 20%
    shift: float = 5.0            # pixels at 36 px, ±
    blur: float = 1.5             # largest blur radius, pixels at 36 px
    blur_chance: float = 0.5      # share of samples blurred (Gaussian or box, half each)
    color: float = 0.14           # per-channel colour gain, ±14%
    photo_like: float = 0.1       # share of each batch that is photo-like patches labelled by the colour oracle
    eval_every: int = 250         # steps between held-out checks (and checkpoints)
    held_out: int = 2000          # held-out samples, at least one per emoji

    @classmethod
    def of(cls, model) -> "TrainConfig":
        """The settings a model was trained with, from its training record (modelfile checked its form);
        a setting of the wrong kind is refused in one line, one this pic2emoji does not know is left out."""
        kinds = {f.name: getattr(f.type, "__args__", (f.type,)) for f in fields(cls)}  # int | None -> (int, None)
        settings = {k: v for k, v in model.training.get("config", {}).items() if k in kinds and k != "background"}
        for key, value in settings.items():
            kind = (*kinds[key], int) if float in kinds[key] else kinds[key]
            too_many = key == "held_out" and isinstance(value, int) and not 0 < value <= MAX_HELD_OUT
            if not isinstance(value, kind) or isinstance(value, bool) or too_many:
                raise ModelError(f"{model.path}: damaged or inconsistent model file (training setting {key!r} is "
                                 f"{str(value)[:40]!r}); retrain it with `pic2emoji train`")
        return cls(**{**settings, "background": tuple(model.background)})
