"""The `pic2emoji` command: parses options, calls the library, prints. No image or model logic here."""
import sys
from functools import wraps

import click

from . import __version__
from .errors import Pic2EmojiError


def _friendly_errors(command):
    """Turn the library's errors into one line and exit 1; `--debug` shows the traceback instead."""
    @wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except Pic2EmojiError as e:
            if click.get_current_context().find_root().params.get("debug"):
                raise
            raise click.ClickException(str(e)) from None
    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
@click.argument("font", type=click.Path(dir_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--size", type=click.IntRange(8, 512), default=72, show_default=True, help="Tile size in pixels.")
@click.option("--skin-tones", is_flag=True, help="Keep the skin-tone variants (left out by default).")
@click.option("--pick", type=click.IntRange(1), default=None,
              help="Keep only this many terminal-safe emoji, chosen for colour and shape diversity.")
@click.option("--force", is_flag=True, help="Replace the images already in OUT_DIR.")
@_friendly_errors
def build_set_command(font, out_dir, size, skin_tones, pick, force):
    """Render every emoji a colour emoji FONT draws into OUT_DIR, one PNG per emoji.

    \b
    pic2emoji build-set /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf my_noto
    """
    from .fontset import build_set
    built = build_set(font, out_dir, size=size, skin_tones=skin_tones, pick=pick, force=force,
                      progress=sys.stderr.isatty())
    click.echo(f"wrote {built.count} emoji from {built.font_name} ({built.version}) to {built.out_dir}; "
               f"{built.skipped} not drawn by this font", err=True)
