"""Shared fixtures: a tiny emoji set and one tiny model, trained once per session on the CPU backend.

Shapes stay fixed (batch 32 for training, the Classifier's chunk for inference), so tinygrad compiles
each kernel once and caches it on disk for later runs. Tests that need the tiny model, a subprocess
that trains, or a browser are marked slow: `pytest -m "not slow"` is the quick run, CI runs them all.
"""
import io
import os
import shutil
import tempfile

os.environ["DEV"] = "CPU"  # before tinygrad is imported anywhere
# Captured nets go to a fresh folder per session (subprocesses inherit it): no test reuses another run's.
os.environ["PIC2EMOJI_CACHE_DIR"] = tempfile.mkdtemp(prefix="pic2emoji-cache-")
os.environ["PIC2EMOJI_DATA_DIR"] = tempfile.mkdtemp(prefix="pic2emoji-data-")  # models trained for shipped sets

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw

from pic2emoji.cli import main
from pic2emoji.defaults import BACKGROUND as GREY
from pic2emoji.files import shipped_dir

NOTO = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
# Twelve easy-to-tell emoji from noto-small: reds, blues, greens, yellows, black, white, and shapes.
TINY = ["1f7e5", "1f7e6", "1f7e9", "1f7e8", "2b1b", "2b1c", "1f345", "1f30a", "1f332", "1f31d", "1f3b1", "1f4a7"]
# A chat workspace's custom emoji: names that name no emoji, mixed sizes, modes and formats, clear colours.
CUSTOM = {"party_parrot.gif": ((230, 30, 30), (128, 128)), "blob_cat.png": ((30, 60, 230), (64, 48)),
          "ship_it.webp": ((40, 190, 60), (72, 72)), "this-is-fine.png": ((240, 220, 40), (32, 32)),
          "Dark Mode.bmp": ((20, 20, 20), (100, 100))}


@pytest.fixture(scope="session")
def tiny_set(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sets") / "tiny"
    folder.mkdir()
    source = shipped_dir("emoji_sets") / "noto"
    for name in TINY:
        shutil.copy(source / f"{name}.png", folder / f"{name}.png")
    shutil.copy(source / "ATTRIBUTION.md", folder)  # Noto's images: the live page may draw them as characters
    return folder


@pytest.fixture(scope="session")
def custom_set(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sets") / "workspace"
    folder.mkdir()
    for name, (colour, size) in CUSTOM.items():
        tile = Image.new("RGBA", size, (0, 0, 0, 0))
        ImageDraw.Draw(tile).rounded_rectangle((0, 0, size[0] - 1, size[1] - 1), radius=size[1] // 5, fill=colour)
        tile.convert("RGB" if name.endswith(".bmp") else "P" if name.endswith(".gif") else "RGBA").save(folder / name)
    return folder


@pytest.fixture(scope="session")
def tiny_config():
    from pic2emoji.train import TrainConfig
    return TrainConfig(steps=60, batch_size=32, lr=1e-2, warmup=5, eval_every=30, held_out=120)


@pytest.fixture(scope="session")
def tiny_model(tiny_set, tiny_config, tmp_path_factory):
    """Path of a model trained on the tiny set (about ten seconds with a warm kernel cache)."""
    from pic2emoji.train import train
    out = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    result = train(tiny_set, out, tiny_config, progress=False)
    assert not result.interrupted
    return out


@pytest.fixture(scope="session")
def custom_model(custom_set, tiny_config, tmp_path_factory):
    """Path of a model trained on the custom set, as tiny_model is on the tiny set."""
    from pic2emoji.train import train
    out = tmp_path_factory.mktemp("models") / "workspace.safetensors"
    result = train(custom_set, out, tiny_config, progress=False)
    assert not result.interrupted and result.accuracy > 0.9, result.accuracy
    return out


@pytest.fixture(scope="session")
def converter(tiny_set, tiny_model):
    from pic2emoji.converter import Converter
    return Converter(tiny_set, tiny_model)


def solid(path, colour, size=(80, 60), mode="RGB"):
    """Write a solid-colour image and return its path."""
    Image.new(mode, size, colour).save(path)
    return path


def png_bytes(size=(40, 30)):
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_bytes(size=(40, 30)):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def halves_image(size=(96, 96), top=(230, 40, 40), bottom=(40, 70, 220)) -> Image.Image:
    """A picture whose top half is one colour (red) and bottom half another (blue)."""
    pixels = np.zeros((size[1], size[0], 3), np.uint8)
    pixels[: size[1] // 2], pixels[size[1] // 2:] = top, bottom
    return Image.fromarray(pixels)


def halves(path, top, bottom, size=(96, 96)):
    """Write halves_image to `path` and return the path."""
    halves_image(size, top, bottom).save(path)
    return path


def hostile_photos(folder):
    """A folder whose file names would act on a terminal printed raw: one good photo, two damaged ones
    (an OSC sequence that sets the window title, a newline) and a FIFO (one that clears the screen)."""
    folder.mkdir(parents=True)
    solid(folder / "good.png", (200, 0, 0))
    (folder / "\x1b]0;pwned\x07title.jpg").write_bytes(b"not a photo")
    (folder / "two\nlines.jpg").write_bytes(b"not a photo")
    os.mkfifo(folder / "\x1b[2Jclear.jpg")
    return folder


def assert_names_shown_escaped(stderr: str):
    """Every line a batch said on stderr is one of its own, with the hostile names escaped."""
    assert not set(stderr) & {"\x1b", "\x07"}, repr(stderr)
    lines = stderr.splitlines()
    assert len(lines) == 4 and all(line.startswith(("error: ", "note: ", "converted 1, ")) for line in lines), lines
    for name in ("\\x1b]0;pwned\\x07title.jpg", "two\\nlines.jpg", "\\x1b[2Jclear.jpg"):
        assert name in stderr, (name, stderr)


def needs(module: str):
    """Import a test extra (scikit-image, PyAV): missing, it fails the test in CI and skips it elsewhere."""
    try:
        return __import__(module)
    except ImportError:
        message = f"{module} is missing: pip install -e '.[test]' (scripts/test.sh does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def run(*args):
    """The CLI in this process, as a user types it: the result has exit_code, stdout and stderr."""
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def one_line_error(result, *words):
    """Exit 1 with one line on stderr, holding all these words, and no traceback."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and all(w in lines[0] for w in words), result.stderr


def pytest_collection_modifyitems(items):
    for item in items:
        if {"tiny_model", "custom_model"} & set(getattr(item, "fixturenames", ())):  # directly or through `converter`
            item.add_marker(pytest.mark.slow)


def dark_scene(size=(144, 108)) -> Image.Image:
    """A night scene: dark, with a dim red and a dim blue patch; the tiny set's darkest emoji (⬛) is only
    this dark on a dark background."""
    pixels = np.full((size[1], size[0], 3), 48, np.uint8)
    pixels[20:50, 20:60], pixels[60:90, 80:130] = (90, 30, 30), (30, 36, 90)
    return Image.fromarray(pixels)


def make_video(path, colours, rate=10, size=(64, 48)):
    """A short H.264 film of flat frames, one per colour (PyAV: the video extra, in the test extra)."""
    av = needs("av")
    with av.open(str(path), "w") as film:
        stream = film.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for colour in colours:
            film.mux(stream.encode(av.VideoFrame.from_image(Image.new("RGB", size, colour))))
        film.mux(stream.encode())
    return path
