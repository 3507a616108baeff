"""The `pic2emoji` command: parses options, calls the library, prints. No image or model logic here.

This module holds the group (one-line errors, stdout's flush) and the small commands; `infer` and its
many options are in cli_infer.py, the options several commands share in cli_options.py. Each command
imports what it runs when it runs: `infer` on one photo never imports tinygrad (host.py), nor the
server's, the trainer's or the font renderer's modules.
"""
import errno
import json
import os
import sys
import time
from pathlib import Path

import click

from . import __version__
from .cli_infer import infer_command
from .cli_options import colour_option, device_option, model_option, say
from .defaults import BACKGROUND, LIVE_COLS, LIVE_ROWS, MAX_LIVE_CELLS
from .archs import ARCHS
from .errors import Pic2EmojiError, shown
from .modelfile import local_model_path, model_path
from .options import PALETTES, TrainConfig

STDOUT_WRITE_ERRORS = {errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG, errno.EBADF}


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
            raise click.ClickException(shown(str(e))) from None
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
    from .fontset import build_set
    built = build_set(source, out_dir, size=size, skin_tones=skin_tones, pick=pick, force=force,
                      progress=sys.stderr.isatty())
    say(built.summary())


@main.command("train")
@click.argument("emoji_dir")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Model file to write.  [default: models/<set>.safetensors beside the set's folder, where infer, "
                   "serve and export-web look from any folder; for a shipped set, in ~/.local/share/pic2emoji/models]")
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
@click.option("--merge-threshold", type=click.FloatRange(0, 255), default=TrainConfig.merge_threshold,
              help="Emoji closer than this train as one class (RMS distance in 0-255 levels at 12×12 over the "
                   "background), drawn as the one that prints best: a set of thin line art has more look-alikes.")
@click.option("--eval-every", type=click.IntRange(1), default=TrainConfig.eval_every,
              help="Steps between held-out accuracy checks and checkpoints.")
@click.option("--arch", type=click.Choice(sorted(ARCHS)), default=TrainConfig.arch,
              help="The net: tinyconv (the seed), tinyconv-r64 (its class layer at rank 64: 4× faster), "
                   "tinyconv-s2r64 (also a stride-2 first convolution: 6× faster, a little less exact), "
                   "tinyconv-hr64 (the patch read at 18×18: the live camera's, fastest in the browser).")
@click.option("--init", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Start from this model's weights: e.g. a tinyconv-r64 from a trained tinyconv, or another set's "
                   "model (its convolutions, and the emoji both sets have by name).")
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
    from .device import use_device
    from .train import train
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
    from .device import use_device
    from .train import evaluate
    use_device(device)
    report = evaluate(emoji_dir, model_file or model_path(emoji_dir))
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))  # JSON escapes the control characters itself
        return
    click.echo(shown(f"{report['model']}: top-1 {report['accuracy']:.2%} on {report['samples']} held-out samples, "
                     f"{report['classes']} classes"))
    for w in report["worst"]:
        taken_for = " ".join(w["mistaken_for"])
        click.echo(shown(f"  {w['char'] or w['class']}  wrong {w['wrong']}/{w['of']}, taken for {taken_for}"))


@main.command("serve")
@click.argument("emoji_dir", default="noto")
@model_option
@click.option("--host", default="127.0.0.1",
              help="Address to listen on. The browser allows the camera only on localhost or HTTPS.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, help="Port (0: any free port).")
@click.option("--rows", type=click.IntRange(1, MAX_LIVE_CELLS), default=LIVE_ROWS, help="Grid rows.")
@click.option("--cols", type=click.IntRange(1, MAX_LIVE_CELLS), default=LIVE_COLS, help="Grid columns.")
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
    from .converter import Converter
    from .device import use_device
    from .serve import run
    use_device(device)
    run(Converter(emoji_dir, model_file or model_path(emoji_dir, fast=True)), host, port, rows, cols, say, allow_host,
        method, where)


@main.command("export-web")
@click.argument("emoji_dir")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@model_option
@click.option("--rows", type=click.IntRange(1, MAX_LIVE_CELLS), default=LIVE_ROWS, help="Grid rows.")
@click.option("--cols", type=click.IntRange(1, MAX_LIVE_CELLS), default=LIVE_COLS,
              help="Grid columns (the page can change them).")
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
    from .converter import Converter
    from .web import export_web
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
    from .converter import Converter
    from .device import use_device
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
    from .info import info_lines
    click.echo("\n".join(map(shown, info_lines(device))))


main.add_command(infer_command)
