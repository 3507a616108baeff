"""The `pic2emoji` command: parses options, calls the library, prints. No image or model logic here."""
import errno
import json
import os
import shutil
import sys
import time
from functools import partial
from pathlib import Path

import click
from tqdm import tqdm

from . import __version__
from .batch import convert_all
from .cluster import RayEngine
from .defaults import BACKGROUND, COLS, TILE_PX
from .errors import Pic2EmojiError
from .fontset import build_set
from .info import info_lines
from .convert import measure, save_mosaic, text_frames, text_mosaic
from .converter import Converter
from .options import AUTO, METHODS, PALETTES, Options
from .device import use_device
from .model import ARCHITECTURES, local_model_path, model_path
from .pixels import parse_colour
from .quality import describe, require as require_quality
from .render import FORMATS, TEXT_FORMATS, format_of
from .serve import run
from .web import export_web
from .train import TrainConfig, evaluate, train


def colour_option(ctx, param, text: str) -> tuple[int, int, int]:
    try:
        return parse_colour(text)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


def background_option(ctx, param, text: str | None) -> tuple[int, int, int] | str | None:
    """infer's --background: a colour, or auto; None (not given) lets Options choose by format."""
    return text if text is None else AUTO if text.lower() == AUTO else colour_option(ctx, param, text)


model_option = click.option("--model", "model_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                            help="Model file.  [default: models/<set name>.safetensors, or the shipped one]")
device_option = click.option("--device", default=None,
                             help="tinygrad device (CPU, CL, METAL, CUDA, ...).  [default: tinygrad's choice]")


STDOUT_WRITE_ERRORS = {errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG, errno.EBADF}
say = partial(click.echo, err=True)  # messages for people, and progress bars on a terminal, go to stderr


def one_line(message: str) -> str:
    """A message kept to one line: control characters in file names (a newline, say) shown escaped."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in message)


class Commands(click.Group):
    """Every command's library errors become one line and exit 1; `--debug` shows the traceback instead.

    Results on stdout are flushed here: a reader that went away (`| head -1`) ends the run quietly, as
    Unix tools do (status 141); a full disk behind `> file` is one line and status 1."""
    def invoke(self, ctx):
        try:
            result = super().invoke(ctx)
            sys.stdout.flush()
            return result
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to say at exit
            sys.exit(141)
        except Pic2EmojiError as e:
            if ctx.params.get("debug"):
                raise
            raise click.ClickException(one_line(str(e))) from None
        except OSError as e:
            # The library turns its own file errors into Pic2EmojiErrors; a write error that still
            # arrives here is stdout's (> /dev/full). Anything else is a bug: let it show.
            if ctx.params.get("debug") or e.errno not in STDOUT_WRITE_ERRORS:
                raise
            raise click.ClickException(f"stdout: could not be written ({e.strerror or e}); "
                                       "free some space or write with -o FILE") from None
        except KeyboardInterrupt:
            say("interrupted; nothing half-written was left behind")
            sys.exit(130)


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


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="pic2emoji")
@click.option("--debug", is_flag=True, help="Show Python tracebacks instead of one-line errors.")
def main(debug):
    """Turn photos into emoji mosaics with a tiny convolutional net.

    \b
    pic2emoji infer noto photo.jpg            # text mosaic in the terminal
    pic2emoji infer noto photo.jpg -o out.png # emoji tiles as a PNG
    pic2emoji train my_emoji/                 # train a model for your own emoji
    """


@main.command("build-set")
@click.argument("source", type=click.Path())
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--size", type=click.IntRange(8, 512), default=72, help="Tile size in pixels.")
@click.option("--skin-tones", is_flag=True, help="Keep the skin-tone variants (left out by default).")
@click.option("--pick", type=click.IntRange(1), default=None,
              help="Keep only this many terminal-safe emoji, chosen for colour and shape diversity.")
@click.option("--force", is_flag=True, help="Replace the images already in OUT_DIR.")
def build_set_command(source, out_dir, size, skin_tones, pick, force):
    """Render every emoji a colour font or a folder of SVG emoji (SOURCE) draws into OUT_DIR, one PNG each.

    \b
    pic2emoji build-set /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf my_noto
    pic2emoji build-set twemoji/dist/svg my_twemoji   # SVGs named 1f600.svg ...; pip install 'pic2emoji[svg]'
    """
    built = build_set(source, out_dir, size=size, skin_tones=skin_tones, pick=pick, force=force,
                      progress=sys.stderr.isatty())
    say(built.summary())


@main.command("train")
@click.argument("emoji_dir")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Model file to write.  [default: models/<set name>.safetensors]")
@click.option("--steps", type=click.IntRange(1, 10_000_000), default=None,
              help="Optimiser steps.  [default: 3 per class, from 1000 to 6000]")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=TrainConfig.batch_size, help="Samples per step.")
@click.option("--lr", type=click.FloatRange(0, 10, min_open=True), default=TrainConfig.lr,
              help="Peak learning rate (Adam, cosine decay).")
@click.option("--seed", type=int, default=TrainConfig.seed, help="Seeds the weights, the batches and the held-out set.")
@click.option("--background", default=",".join(map(str, BACKGROUND)), callback=colour_option,
              help="Colour behind the emoji in training, and the model's own for mosaics (see infer --background): a name, #rrggbb or r,g,b.")
@click.option("--photo-like", type=click.FloatRange(0, 1), default=TrainConfig.photo_like,
              help="Share of each batch that is photo-like patches labelled by the nearest-colour rule.")
@click.option("--eval-every", type=click.IntRange(1), default=TrainConfig.eval_every,
              help="Steps between held-out accuracy checks and checkpoints.")
@click.option("--arch", type=click.Choice(sorted(ARCHITECTURES)), default=TrainConfig.arch,
              help="The net: tinyconv (the seed), tinyconv-r64 (its class layer at rank 64: 4× faster), "
                   "tinyconv-s2r64 (also a stride-2 first convolution: 6× faster, a little less exact).")
@click.option("--init", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Start from this model's weights (same set): e.g. a tinyconv-r64 from a trained tinyconv.")
@device_option
@click.option("--workers", type=click.IntRange(1, 256), default=None,
              help="Processes making training batches.  [default: one per core, less one]")
@click.option("--resume", is_flag=True, help="Continue from the checkpoint of an interrupted run (its settings win).")
@click.option("--overwrite", is_flag=True, help="Replace an existing model file.")
def train_command(emoji_dir, output, init, device, workers, resume, overwrite, **settings):
    """Train a model that picks the emoji of EMOJI_DIR (a folder or a shipped set) for 36×36 patches.

    Ctrl-C saves a checkpoint; run the same command with --resume to continue.

    \b
    pic2emoji train noto-small
    pic2emoji train my_emoji/ -o my_emoji.safetensors
    pic2emoji train noto --arch tinyconv-r64 --init full.safetensors --steps 4000 --lr 1.5e-3
    """
    output = output or local_model_path(emoji_dir)
    config = TrainConfig(**settings, init=init and str(init))  # the other options are named as its fields
    use_device(device)
    result = train(emoji_dir, output, config, resume, overwrite, sys.stderr.isatty(), say, workers)
    if result.interrupted:
        say(f"interrupted at step {result.steps}: checkpoint saved to {output}.ckpt; "
            "continue with the same command and --resume")
        sys.exit(130)
    say(f"wrote {output}: {len(result.model.classes)} classes, held-out top-1 {result.accuracy:.1%}, "
        f"{result.steps} steps in {result.seconds:.0f} s")


@main.command("eval")
@click.argument("emoji_dir")
@model_option
@device_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a report.")
def eval_command(emoji_dir, model_file, device, as_json):
    """Measure a model's top-1 accuracy on its fixed held-out set of augmented emoji.

    \b
    pic2emoji eval noto --json
    """
    use_device(device)
    report = evaluate(emoji_dir, model_file or model_path(emoji_dir))
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
        return
    click.echo(f"{report['model']}: top-1 {report['accuracy']:.2%} on {report['samples']} held-out samples, "
               f"{report['classes']} classes")
    for w in report["worst"]:
        click.echo(f"  {w['char'] or w['class']}  wrong {w['wrong']}/{w['of']}, taken for {' '.join(w['mistaken_for'])}")


@main.command("infer")
@click.argument("emoji_dir")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Output file (.png or .txt), or folder for several inputs.  [default: text to stdout]")
@model_option
@click.option("--cols", type=click.IntRange(1, 2000), default=None,
              help=f"Grid columns; rows follow the aspect ratio.  [default: {COLS}, or the terminal's width]")
@click.option("--rows", type=click.IntRange(1, 2000), default=None, help="Grid rows, instead of --cols.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Output format: png, jpg, webp, html (the emoji as text, one file), txt (emoji as characters; "
                   ":name: where a file names no emoji), shortcodes (every emoji as :name:) or ansi (emoji on their "
                   "cells' colours, for terminals).  [default: from the -o extension; png for folders; txt on stdout]")
@click.option("--color", "--colour", "colour", type=click.Choice(["auto", "always", "never"]), default="auto",
              help="ANSI colour on stdout: auto (only when it is a terminal), always, never; as ls and grep.")
@click.option("--cell-colour", "--cell-color", is_flag=True,
              help="Draw each emoji on a colour chosen for its cell (PNG, JPEG, WebP, HTML), so the mosaic keeps "
                   "colours no emoji has; ANSI always does.")
@click.option("--quality", type=click.IntRange(1, 100), default=90, help="JPEG and WebP quality.")
@click.option("--tile-px", type=click.IntRange(4, 512), default=TILE_PX, help="Pixels per emoji in PNG output.")
@click.option("--palette", type=click.Choice(PALETTES), default=None,
              help="Emoji allowed: all, or terminal (one code point each, keeps text aligned; :shortcodes: "
                   "always pass).  [default: terminal for text, all for PNG]")
@click.option("--split", type=click.IntRange(1), default=None, metavar="N",
              help="Cut text on row boundaries into pieces of at most N characters, newlines between rows "
                   "counted: on stdout a blank line apart, with -o OUT.txt into OUT.1.txt, OUT.2.txt, …")
@click.option("--method", type=click.Choice(METHODS), default=Options.method, show_default=True,
              help="refine: the net's choice, then neighbouring cells chosen together so that colours seen from a "
                   "step back match the photo's, as far as the shapes inside the cells allow; net: the net's "
                   "choice per cell; lookup: nearest 6×6 colour per cell.")
@click.option("--background", default=None, callback=background_option, metavar="COLOUR|auto",
              help="Colour behind the emoji, which they are chosen for: a name, #rrggbb or r,g,b; auto: the grey "
                   "that suits each photo (mid-grey for most; a dark one for dark photos, so their shadows and "
                   "browns can be drawn); for text, your terminal's colour.  [default: auto for pictures, the "
                   "model's mid-grey for text and --method net]")
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
    if overwrite and skip_existing:
        raise click.UsageError("--overwrite and --skip-existing contradict each other; pick one")
    if cols and rows:
        raise click.UsageError("give --cols or --rows, not both: the other follows the photo's aspect ratio")
    batch = len(inputs) > 1 or any(Path(i).is_dir() for i in inputs) or (output is not None and output.is_dir())
    if batch and output is None:
        raise click.UsageError("several photos or a folder need -o OUT_DIR for the mosaics")
    if output is not None and not batch and not fmt and output.suffix and not format_of(output):
        raise click.UsageError(f"{output}: unknown extension {output.suffix!r}; use .png, .jpg, .webp, .gif, .html, "
                               ".txt, .ans or a video's .mp4, .mov, .mkv, .webm, or name the format with --format")
    if ray_address and not (ray_address in ("local", "auto") or ":" in ray_address):
        raise click.UsageError(f"--ray {ray_address}: not a Ray address; give auto, ray://HOST:PORT or HOST:PORT "
                               "(a word right after --ray is taken as the address: put --ray after the inputs)")
    if ray_address and not batch:
        raise click.UsageError("--ray converts several photos or a folder into -o OUT_DIR; convert one photo without it")
    if metrics and batch:
        raise click.UsageError("--metrics measures one photo; give one photo, not several or a folder")
    if as_json and not metrics:
        raise click.UsageError("--json prints the metrics; add --metrics")
    fmt = fmt or (output is None and "txt") or (not batch and format_of(output)) or "png"
    if output is None and fmt not in TEXT_FORMATS:
        raise click.UsageError(f"{fmt} output needs -o FILE; stdout takes txt, shortcodes or ansi")
    if output is None and fmt in ("txt", "ansi") and colour != "auto":
        fmt = "ansi" if colour == "always" else "txt"
    elif output is None and fmt == "ansi" and not sys.stdout.isatty():
        fmt = "txt"  # --color auto: plain text into pipes and files, as ls and grep
    truecolor = os.environ.get("COLORTERM", "").lower() in ("truecolor", "24bit") or output is not None
    if output is None and cols is None and rows is None and sys.stdout.isatty():
        cols = max(8, min(COLS, shutil.get_terminal_size().columns // 2))
    options = Options(fmt, cols, rows, palette, tile_px, split, cell_colour, quality, truecolor, method, background)
    if metrics:
        require_quality()
    engine = ray_address and RayEngine(None if ray_address == "local" else ray_address)  # without Ray, said first
    use_device(device)
    converter = Converter(emoji_dir, model_file)
    if output is None:
        frames = text_frames(converter, inputs[0], options) if split is None else [(text_mosaic(converter, inputs[0], options), 0)]
        play(frames, fmt == "ansi")
    elif not batch:
        written = save_mosaic(converter, inputs[0], output, options, overwrite, sys.stderr.isatty(),
                              on_note=lambda message: say(f"note: {message}"))
        if split:
            last = f" … {written[-1].name}" if len(written) > 1 else ""
            say(f"wrote {len(written)} text piece(s) of at most {split} characters: {written[0]}{last}")
    else:
        report = convert_all(converter, inputs, output, options, overwrite, skip_existing, sys.stderr.isatty(),
                             on_error=lambda message: tqdm.write(f"error: {message}", file=sys.stderr),
                             on_note=lambda message: tqdm.write(f"note: {message}", file=sys.stderr),
                             engine=engine)
        say(str(report))
        if report.failed:
            sys.exit(1)
    if metrics:  # one photo: the usage checks above refuse a batch
        scores = measure(converter, inputs[0], options)
        click.echo(json.dumps(scores) if as_json else describe(scores), err=output is None)


@main.command("serve")
@click.argument("emoji_dir", default="noto")
@model_option
@click.option("--host", default="127.0.0.1",
              help="Address to listen on. The browser allows the camera only on localhost or HTTPS.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, help="Port (0: any free port).")
@click.option("--rows", type=click.IntRange(1, 200), default=54, help="Grid rows.")
@click.option("--cols", type=click.IntRange(1, 200), default=72, help="Grid columns.")
@click.option("--allow-host", multiple=True, help="Another name the page may be opened by (a proxy's, a LAN name); "
              "requests naming any other host are refused, against DNS rebinding.")
@click.option("--net", "where", type=click.Choice(("browser", "server")), default="browser", show_default=True,
              help="Where the net runs: in the page (onnxruntime-web; frames stay in the browser) or here.")
@click.option("--method", type=click.Choice(("net", "refine")), default="net", show_default=True,
              help="refine (with --net server): colours closer to the camera's, at 0.12-0.8 s more a frame.")
@device_option
def serve_command(emoji_dir, model_file, host, port, rows, cols, allow_host, where, method, device):
    """Live emoji camera: a local web page that turns your webcam into emoji.

    It runs the set's fast model (models/<set>-fast.safetensors) where there is one, as for noto. By
    default the net runs in the browser; `pic2emoji export-web` writes the same page as a static site.

    \b
    pic2emoji serve            # then open http://127.0.0.1:8000
    """
    use_device(device)
    run(Converter(emoji_dir, model_file or model_path(emoji_dir, fast=True)), host, port, rows, cols, say, allow_host,
        method, where)


@main.command("export-web")
@click.argument("emoji_dir")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@model_option
@click.option("--rows", type=click.IntRange(1, 200), default=54, help="Grid rows.")
@click.option("--cols", type=click.IntRange(1, 200), default=72, help="Grid columns (the page can change them).")
@click.option("--palette", type=click.Choice(PALETTES), default="terminal", show_default=True,
              help="Which emoji the page may show; terminal: one-code-point emoji, one glyph a cell everywhere.")
@click.option("--overwrite", is_flag=True, help="Write over the files of a folder that holds some.")
def export_web_command(emoji_dir, out_dir, model_file, rows, cols, palette, overwrite):
    """Write the live emoji camera as a static site: the net runs in the visitor's browser.

    Serve OUT_DIR with any static web server (GitHub Pages, `python -m http.server`): nothing runs on
    the server. It uses the set's fast model where there is one, as serve does.

    \b
    pic2emoji export-web noto site/ && python -m http.server -d site   # then open http://localhost:8000
    """
    converter = Converter(emoji_dir, model_file or model_path(emoji_dir, fast=True))
    files = export_web(converter, out_dir, rows, cols, palette, overwrite)
    size = sum(f.stat().st_size for f in files) / 1e6
    say(f"wrote {len(files)} files ({size:.0f} MB) to {out_dir}; serve that folder over http(s) and open it")


@main.command("tune")
@click.argument("emoji_dir", default="noto")
@model_option
@click.option("--beam", type=click.IntRange(1, 16), default=2,
              help="Kernel shapes tinygrad's BEAM search keeps at each step; wider searches longer.")
@device_option
def tune_command(emoji_dir, model_file, beam, device):
    """Make the net faster on this machine: search kernel shapes by timing them (minutes, once).

    Without --model, the set's model and its fast model (the live camera's) are both tuned. The tuned
    nets are kept in the cache (~/.cache/pic2emoji) for these models and this device; infer and serve
    use them from then on.
    """
    device = use_device(device)
    models = [model_file] if model_file else dict.fromkeys([model_path(emoji_dir), model_path(emoji_dir, fast=True)])
    for model in models:
        classifier = Converter(emoji_dir, model).classifier
        say(f"tuning the net of {model} on {device} (BEAM={beam}); this takes minutes")
        start = time.perf_counter()
        classifier.tune(beam)
        say(f"tuned in {time.perf_counter() - start:.0f} s; saved {classifier.cache}")


@main.command("info")
@device_option
def info_command(device):
    """Show what pic2emoji runs on here: tinygrad's devices (the chosen one and why), the cache folder,
    the emoji sets and models it finds."""
    click.echo("\n".join(info_lines(device)))
