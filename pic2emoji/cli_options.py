"""What several commands share: the --model and --device options, colours given on the command line,
and `say`, which writes what people read to stderr (stdout is for results)."""
import sys
from pathlib import Path

import click

from .errors import shown
from .pixels import parse_colour


def say(message: str, above_bar: bool = False) -> None:
    """One line for people on stderr (stdout is for results), the names in it shown escaped (errors.shown):
    a file named with ESC or a newline can neither act on the terminal nor start a line of its own.
    above_bar: written above a progress bar that is running (a batch's error: and note: lines)."""
    if above_bar:  # a bar runs only where tqdm was imported (batch.py, convert.py), not in a one-photo run
        from tqdm import tqdm
        tqdm.write(shown(message), file=sys.stderr)
    else:
        click.echo(shown(message), err=True)


def on_terminal() -> bool:
    """Whether someone watches stderr: progress bars, what is happening and what was written are said
    only then (a script's log stays quiet)."""
    return sys.stderr.isatty()


def colour_option(ctx, param, text: str) -> tuple[int, int, int]:
    try:
        return parse_colour(text)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


model_option = click.option("--model", "model_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                            help="Model file.  [default: the one train wrote (models/<set>.safetensors beside the "
                                 "set's folder; for a shipped set, in ~/.local/share/pic2emoji/models), else the shipped one]")
device_option = click.option("--device", default=None,
                             help="tinygrad device (CPU, CL, METAL, CUDA, ...).  [default: tinygrad's choice; infer runs "
                                  "its net in numpy for one still photo, and for all where no GPU is]")
