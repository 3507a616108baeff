"""The `infer` command: photos, animations and videos to mosaic files, or text on stdout.

Its options mirror convert.Options; the formats' names, their help and the extensions it knows come
from the format table (formats.py). What is here is about the terminal: its width, colour, playing an
animation, and which options contradict each other (exit 2).
"""
import json
import os
import shutil
import sys
import time
from pathlib import Path

import click
from click.core import ParameterSource

from .batch import check_folder, convert_all
from .cli_options import colour_option, device_option, model_option, on_terminal, say
from .cluster import RayEngine
from .convert import measure, piece_path, save_mosaic, still, text_frames, text_mosaic
from .converter import Converter
from .defaults import COLS, TILE_PX
from .formats import ANSI, FORMATS, PNG, TXT, format_of, is_text, kind_of, names_of, suffix_of
from .host import runs_here
from .options import AUTO, METHODS, PALETTES, Options, names_folder, target
from .quality import describe, require as require_quality

WRITTEN = list(dict.fromkeys(f.suffixes[0] for f in FORMATS.values()))  # the extension of each format's files
STDOUT = "-"  # -o -: the mosaic to standard output (./- is a file named -)
VIDEOS = [f.suffixes[0] for f in FORMATS.values() if f.kind == "video"]


def listed(names, last: str = "or") -> str:
    """a, b or c."""
    *others, final = names
    return f"{', '.join(others)} {last} {final}" if others else final


def described() -> str:
    """Every format with its phrase, the formats of one phrase together: png, webp, gif (emoji tiles; ...), ..."""
    by_phrase = {}
    for f in FORMATS.values():
        by_phrase.setdefault(f.about, []).append(f.name)
    return ", ".join(f"{', '.join(names)} ({about})" for about, names in by_phrase.items())


def background_option(ctx, param, text: str | None) -> tuple[int, int, int] | str | None:
    """infer's --background: a colour, or auto; None (not given) lets Options choose by format."""
    return text if text is None else AUTO if text.lower() == AUTO else colour_option(ctx, param, text)


def play(frames, escapes: bool) -> None:
    """Text mosaics to stdout: on a terminal an animation plays once at its own pace, each frame drawn
    over the last (cursor home); elsewhere its frames follow each other, with cursor-home between them
    in ANSI (so `cat` replays them) or a blank line between in plain text."""
    playing = sys.stdout.isatty() and len(frames) > 1
    for number, (text, duration) in enumerate(frames):
        if number and (playing or escapes):
            click.echo("\x1b[H", nl=False, color=True)
        elif number:
            click.echo()
        elif playing:
            click.echo("\x1b[2J\x1b[H", nl=False, color=True)
        click.echo(text, nl=False, color=True)  # escapes only where asked for
        if playing:
            sys.stdout.flush()
            time.sleep(duration / 1000)


def check_usage(inputs, output, fmt, cols, rows, metrics, as_json, overwrite, skip_existing, ray_address) -> bool:
    """Refuse options that contradict each other (exit 2); returns whether the inputs are a batch."""
    if overwrite and skip_existing:
        raise click.UsageError("--overwrite and --skip-existing contradict each other; pick one")
    if cols and rows:
        raise click.UsageError("give --cols or --rows, not both: the other follows the photo's aspect ratio")
    to_file = output not in (None, STDOUT)
    batch = len(inputs) > 1 or any(Path(i).is_dir() for i in inputs)
    if batch and not to_file:
        raise click.UsageError("several photos or a folder need -o OUT_DIR for the mosaics"
                               + ("; -o - writes one photo's mosaic to stdout" if output == STDOUT else ""))
    if batch:
        check_folder(output)  # before any work: not a file, nor a file's name
    elif to_file and not names_folder(output) and not fmt and Path(output).suffix and not format_of(output):
        others = ", ".join(s for s in WRITTEN if s not in VIDEOS)
        raise click.UsageError(f"{output}: unknown extension {Path(output).suffix!r}; use {others} or a video's "
                               f"{', '.join(VIDEOS)}, or name the format with --format (or end a folder's name with /)")
    if ray_address and not (ray_address in ("local", "auto") or ":" in ray_address):
        raise click.UsageError(f"--ray {ray_address}: not a Ray address; give auto, ray://HOST:PORT or HOST:PORT "
                               "(a word right after --ray is taken as the address: put --ray after the inputs)")
    if ray_address and not batch:
        raise click.UsageError("--ray converts several photos or a folder into -o OUT_DIR; convert one photo without it")
    if metrics and batch:
        raise click.UsageError("--metrics measures one photo; give one photo, not several or a folder")
    if as_json and not metrics:
        raise click.UsageError("--json prints the metrics; add --metrics")
    return batch


def stdout_format(fmt: str, colour: str, output) -> str:
    """The format stdout gets. Text: --color always or never turns plain text and ANSI into each other;
    auto gives ANSI only to a terminal, as ls and grep do (and says so, once, when it was asked for).
    Any other format only with -o -, and only into a file or a pipe: a terminal would take its bytes
    for commands."""
    if not is_text(fmt) and output is None:
        raise click.UsageError(f"{fmt} output needs -o FILE, or -o - into a file or a pipe; stdout takes "
                               f"{listed(names_of('text'))}")
    if kind_of(fmt) in ("image", "animation", "video") and sys.stdout.isatty():
        raise click.ClickException(f"-o -: {fmt} is binary and stdout is a terminal; send it into a file or a pipe "
                                   f"(-o - > mosaic{suffix_of(fmt)}) or give -o FILE")
    if not is_text(fmt):
        return fmt
    if fmt in (TXT, ANSI) and colour != "auto":
        return ANSI if colour == "always" else TXT
    if fmt == ANSI and not sys.stdout.isatty():
        say(f"note: stdout is not a terminal, so {ANSI} is plain text; add --color always to keep the colours")
        return TXT
    return fmt


def note_unused(options: Options) -> None:
    """One line naming the options given that do nothing for the format chosen."""
    context = click.get_current_context()
    given = [p for p in ("cell_colour", "quality", "tile_px")
             if context.get_parameter_source(p) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)]
    unused = options.unused(*given)
    if unused:
        flags = listed([f"--{name.replace('_', '-')}" for name in unused], "and")
        say(f"note: {flags} {'does' if len(unused) == 1 else 'do'} nothing for {options.fmt or PNG} output; left out")


@click.command("infer")
@click.argument("emoji_dir")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(allow_dash=True), default=None,
              help=f"Output file ({', '.join(WRITTEN)}), or folder (one that exists, or a name ending in /): each "
                   "mosaic in it named after its photo; - for stdout (text, or with --format any other format into "
                   "a file or a pipe).  [default: text to stdout]")
@model_option
@click.option("--cols", type=click.IntRange(1, 2000), default=None,
              help=f"Grid columns; rows follow the aspect ratio.  [default: {COLS}, or the terminal's width]")
@click.option("--rows", type=click.IntRange(1, 2000), default=None, help="Grid rows, instead of --cols.")
@click.option("--format", "fmt", type=click.Choice(tuple(FORMATS)), default=None,
              help=f"Output format: {described()}.  [default: from the -o extension; {PNG} for folders; {TXT} on stdout]")
@click.option("--color", "--colour", "colour", type=click.Choice(["auto", "always", "never"]), default="auto",
              help=f"{ANSI} colour on stdout: auto (only when it is a terminal: a pipe gets plain text), always, never; "
                   "as ls and grep. On stdout 24-bit where COLORTERM says truecolor, else xterm's 256 colours; "
                   f"-o FILE{suffix_of(ANSI)} is always 24-bit.")
@click.option("--cell-colour", "--cell-color", is_flag=True,
              help=f"Draw each emoji on a colour chosen for its cell (every format but "
                   f"{listed([f.name for f in FORMATS.values() if f.kind == 'text' and not f.cell_colours], 'and')}), "
                   f"so the mosaic keeps colours no emoji has; {listed([f.name for f in FORMATS.values() if f.cell_colours])} "
                   "always does.")
@click.option("--quality", type=click.IntRange(1, 100), default=90,
              help=f"{listed([f.name for f in FORMATS.values() if f.lossy], 'and')} quality.")
@click.option("--tile-px", type=click.IntRange(4, 512), default=None,
              help=f"Pixels per emoji in {listed(names_of('image', 'animation', 'video'), 'and')} output.  "
                   f"[default: {TILE_PX}; for a film of a small source, fewer]")
@click.option("--palette", type=click.Choice(PALETTES), default=None,
              help="Emoji allowed: all, or terminal (one code point each, keeps text aligned; :shortcodes: "
                   "always pass).  [default: terminal for text, all otherwise]")
@click.option("--split", type=click.IntRange(1), default=None, metavar="N",
              help="Cut text on row boundaries into pieces of at most N characters, newlines between rows "
                   "counted: on stdout a blank line apart, with -o OUT.txt into OUT.1.txt, OUT.2.txt, …")
@click.option("--method", type=click.Choice(METHODS), default=Options.method, show_default=True,
              help="refine: the net's choice, then neighbouring cells chosen together so that colours seen from a "
                   "step back match the photo's, as far as the shapes inside the cells allow; net: the net's "
                   "choice per cell; lookup: nearest 6×6 colour per cell.")
@click.option("--background", default=None, callback=background_option, metavar="COLOUR|auto",
              help="Colour behind the emoji, which they are chosen for: a name, #rrggbb or r,g,b; auto (pictures "
                   "only): the grey that suits each photo (mid-grey for most; a dark one for dark photos, so their "
                   "shadows and browns can be drawn). Text is shown on your terminal's colour: give it (e.g. black) "
                   "to have the emoji chosen for it.  [default: auto for pictures, the model's mid-grey for text "
                   "and --method net]")
@click.option("--metrics", is_flag=True, help="Also print how faithful the mosaic is: dE@2, dE@1 (CIEDE2000; "
              "needs pic2emoji[quality]), cell-PSNR, SSIM@6 and distinct emoji; on stderr when the mosaic is on stdout.")
@click.option("--json", "as_json", is_flag=True, help="With --metrics: one JSON object instead of a line.")
@click.option("--overwrite", is_flag=True, help="Replace outputs that already exist.")
@click.option("--skip-existing", is_flag=True, help="Leave outputs that already exist and go on.")
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", default=None, metavar="[ADDRESS]",
              help="Convert a folder on Ray (pip install 'pic2emoji[ray]'): alone, on a Ray instance started on this "
                   "machine; with auto or ray://HOST:PORT, on that running cluster, whose machines must share the "
                   "photos and OUT_DIR. Put it after the inputs, or write --ray=auto.")
@device_option
def infer_command(emoji_dir, inputs, output, model_file, cols, rows, fmt, colour, cell_colour, quality, tile_px,
                  palette, split, method, background, metrics, as_json, overwrite, skip_existing, ray_address, device):
    """Turn photos into emoji mosaics: a PNG of emoji tiles or lines of emoji text.

    \b
    pic2emoji infer noto photo.jpg                  # text mosaic on stdout
    pic2emoji infer noto photo.jpg -o mosaic.png --cols 72
    pic2emoji infer noto holiday/ -o mosaics/       # a whole folder, recursively
    pic2emoji infer noto archive/ -o mosaics/ --ray # the same on Ray: all cores, or --ray auto for a cluster
    pic2emoji infer my_emoji/ photo.jpg --cols 24 --split 2000   # :shortcodes: in messages for Discord
    pic2emoji infer noto photo.jpg -o mosaic.png --metrics --method lookup   # compare settings
    """
    batch = check_usage(inputs, output, fmt, cols, rows, metrics, as_json, overwrite, skip_existing, ray_address)
    to_stdout = output in (None, STDOUT)
    fmt = fmt or (to_stdout and TXT) or None  # else each file's follows its name or is PNG (convert.target)
    if to_stdout:
        fmt = stdout_format(fmt, colour, output)
        if cols is None and rows is None and sys.stdout.isatty():
            cols = max(8, min(COLS, shutil.get_terminal_size().columns // 2))
    truecolor = os.environ.get("COLORTERM", "").lower() in ("truecolor", "24bit") or not to_stdout
    options = Options(fmt=fmt, cols=cols, rows=rows, palette=palette, tile_px=tile_px, split=split,
                      cell_colour=cell_colour, quality=quality, truecolor=truecolor, method=method, background=background)
    if not to_stdout and not batch:
        out, options = target(inputs[0], output, options)  # a folder takes the mosaic named after the photo
    note_unused(options)
    if metrics:
        require_quality()
    engine = ray_address and RayEngine(None if ray_address == "local" else ray_address)  # without Ray, said first
    host = runs_here(device, not batch and still(inputs[0]))
    if not host:
        from .device import use_device
        use_device(device)
    converter = Converter(emoji_dir, model_file, log=lambda message: on_terminal() and say(f"{message}…"), host=host)
    if to_stdout and is_text(fmt):
        frames = text_frames(converter, inputs[0], options) if split is None else [(text_mosaic(converter, inputs[0], options), 0)]
        play(frames, fmt == ANSI)
    elif to_stdout:  # -o - into a file or a pipe: the file's bytes as they are
        save_mosaic(converter, inputs[0], STDOUT, options, stream=sys.stdout.buffer)
    elif not batch and skip_existing and (piece_path(out, 1) if split else out).exists():
        say(f"kept {out}: it exists, and --skip-existing leaves it")
    elif not batch:
        written = save_mosaic(converter, inputs[0], out, options, overwrite, on_terminal(),
                              on_note=lambda message: say(f"note: {message}"))
        if split:
            last = f" … {written[-1].name}" if len(written) > 1 else ""
            say(f"wrote {len(written)} text piece(s) of at most {split} characters: {written[0]}{last}")
        elif on_terminal():
            say(f"wrote {written[0]}")
    else:
        report = convert_all(converter, inputs, output, options, overwrite, skip_existing, on_terminal(),
                             on_error=lambda message: say(f"error: {message}", above_bar=True),
                             on_note=lambda message: say(f"note: {message}", above_bar=True),
                             engine=engine)
        say(str(report))
        if report.failed:
            sys.exit(1)
    if metrics:  # one photo: the usage checks above refuse a batch
        if on_terminal():
            say("measuring the mosaic against the photo (a second or two)…")
        scores = measure(converter, inputs[0], options)
        click.echo(json.dumps(scores) if as_json else describe(scores), err=to_stdout)
