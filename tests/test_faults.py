"""Bad input, damaged files and interrupted work: one clear line, the right exit code, nothing lost."""
import io
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

from pic2emoji.cli import main
from pic2emoji.errors import ImageError, ModelError, OutputError
from pic2emoji.infer import read_photo
from pic2emoji.model import load_model, save_model

from conftest import solid

GREY = (128, 128, 128)


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def one_line_error(result, *words):
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and all(w in lines[0] for w in words), result.stderr


def _png_bytes(size=(40, 30)):
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def _jpeg_bytes(size=(40, 30)):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def bomb_png(path, side=100_000):
    """A valid PNG header claiming side×side pixels, with almost no data behind it."""
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("name, content", [
    ("empty.jpg", b""),
    ("truncated.jpg", _jpeg_bytes()[:300]),
    ("truncated.png", _png_bytes()[:60]),
    ("notes.jpg", b"just some text\n"),
    ("page.png", b"<!doctype html><html><body>hello</body></html>"),
])
def test_unreadable_inputs(tiny_set, tiny_model, tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    out = tmp_path / "out.png"
    one_line_error(run("infer", tiny_set, tmp_path / name, "--model", tiny_model, "-o", out), name, "not a readable image")
    assert list(tmp_path.iterdir()) == [tmp_path / name]  # no output, no temp file


def test_decompression_bomb_is_refused_from_its_header(tmp_path):
    start = time.perf_counter()
    with pytest.raises(ImageError, match="decompression bomb"):
        read_photo(bomb_png(tmp_path / "bomb.png"), GREY)
    assert time.perf_counter() - start < 5  # 10^10 pixels would take minutes and 30 GB to decode


@pytest.mark.parametrize("size, shape", [((1, 1), (1, 1)), ((20, 12), (12, 20)), ((10000, 3), (1, 72))])
def test_tiny_and_extreme_shapes(converter, tmp_path, size, shape):
    assert converter.grid(solid(tmp_path / "p.png", (200, 0, 0), size=size)).shape == shape


def test_multipage_tiff_uses_the_first_page(tmp_path):
    pages = [Image.new("RGB", (36, 36), c) for c in [(0, 0, 255), (255, 0, 0)]]
    pages[0].save(tmp_path / "pages.tif", save_all=True, append_images=pages[1:])
    photo, _ = read_photo(tmp_path / "pages.tif", GREY, cols=1)
    assert photo[..., 2].mean() > 200 and photo[..., 0].mean() < 50


def test_folder_without_photos(tiny_set, tiny_model, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "readme.txt").write_text("x")
    one_line_error(run("infer", tiny_set, tmp_path / "in", "--model", tiny_model, "-o", tmp_path / "out"), "no photos")


def test_missing_output_folders_are_made(tiny_set, tiny_model, tmp_path):
    out = tmp_path / "a" / "b" / "m.png"
    assert run("infer", tiny_set, solid(tmp_path / "p.png", (0, 0, 0)), "--model", tiny_model, "-o", out).exit_code == 0
    assert out.is_file()


def test_output_under_a_file_is_refused(tiny_set, tiny_model, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    one_line_error(run("infer", tiny_set, solid(tmp_path / "p.png", (0, 0, 0)), "--model", tiny_model,
                       "-o", blocker / "m.png"), "cannot write here")


def test_read_only_folder(tiny_set, tiny_model, tmp_path, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # root ignores chmod, so simulate the refusal
    one_line_error(run("infer", tiny_set, solid(tmp_path / "p.png", (0, 0, 0)), "--model", tiny_model,
                       "-o", tmp_path / "m.png"), "m.png", "Permission denied")


# --- models -------------------------------------------------------------------------------------------

def _edit_metadata(source, target, **changes):
    model = load_model(source)
    save_model(model, target)
    raw = target.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    header["__metadata__"].update(changes)
    text = json.dumps(header).encode()
    target.write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + n:])
    return target


@pytest.mark.parametrize("damage, message", [
    (lambda src, dst: dst.write_bytes(src.read_bytes()[:len(src.read_bytes()) // 2]), "truncated"),
    (lambda src, dst: dst.write_bytes(b"PK\x03\x04 a zip file, not a model"), "not a pic2emoji model"),
    (lambda src, dst: dst.write_bytes(b""), "not a pic2emoji model"),
    (lambda src, dst: _edit_metadata(src, dst, format_version="0"), "format version 0"),
    (lambda src, dst: _edit_metadata(src, dst, classes=json.dumps(["a.png"] * 13), chars=json.dumps(["a"] * 13)),
     "damaged or inconsistent"),
    (lambda src, dst: _edit_metadata(src, dst, format="something-else"), "not a pic2emoji model"),
])
def test_damaged_models_are_refused(tiny_model, tmp_path, damage, message):
    bad = tmp_path / "bad.safetensors"
    damage(tiny_model, bad)
    with pytest.raises(ModelError, match=message):
        load_model(bad)


def test_model_of_another_set_via_cli(tiny_model, tmp_path):
    one_line_error(run("infer", "noto-small", solid(tmp_path / "p.png", (0, 0, 0)), "--model", tiny_model),
                   "trained on emoji set 'tiny'", "pic2emoji train")


# --- training -----------------------------------------------------------------------------------------

def test_disk_full_while_saving_keeps_the_old_model(tiny_model, tmp_path, monkeypatch):
    import pic2emoji.model as model_module
    target = tmp_path / "m.safetensors"
    target.write_bytes(tiny_model.read_bytes())
    before = target.read_bytes()

    def full_disk(tensors, path, metadata=None):
        with open(path, "wb") as f:
            f.write(b"half a model")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(model_module, "safe_save", full_disk)
    with pytest.raises(OutputError, match="No space left on device.*untouched"):
        save_model(load_model(tiny_model), target)
    assert target.read_bytes() == before and list(tmp_path.iterdir()) == [target]


def test_sigterm_during_training_saves_a_checkpoint(tiny_set, tmp_path):
    out = tmp_path / "m.safetensors"
    ckpt = tmp_path / "m.safetensors.ckpt"
    process = subprocess.Popen([sys.executable, "-m", "pic2emoji", "train", str(tiny_set), "-o", str(out),
                                "--steps", "100000", "--batch-size", "32", "--eval-every", "5", "--device", "CPU"],
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not ckpt.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert ckpt.exists(), "training never reached its first checkpoint"
    process.send_signal(signal.SIGTERM)
    stderr = process.communicate(timeout=120)[1]
    assert process.returncode == 130 and "--resume" in stderr and "Traceback" not in stderr
    assert not out.exists() and load_model(ckpt).training["steps_done"] >= 5


def test_forgetting_resume_does_not_lose_the_checkpoint(tiny_set, tmp_path):
    (tmp_path / "m.safetensors.ckpt").write_bytes(b"a checkpoint")
    one_line_error(run("train", tiny_set, "-o", tmp_path / "m.safetensors"), "--resume")


def test_resume_without_a_checkpoint(tiny_set, tmp_path):
    one_line_error(run("train", tiny_set, "-o", tmp_path / "m.safetensors", "--resume"), "no checkpoint")


# --- fuzzing the decoder and tiler ---------------------------------------------------------------------

SEEDS = [_png_bytes(), _jpeg_bytes()]
for fmt in ("GIF", "BMP", "WEBP", "TIFF"):
    _buffer = io.BytesIO()
    Image.new("RGBA" if fmt == "WEBP" else "RGB", (24, 16), (200, 10, 10)).save(_buffer, fmt)
    SEEDS.append(_buffer.getvalue())
FUZZ_EXAMPLES = int(os.environ.get("PIC2EMOJI_FUZZ_EXAMPLES", "150"))


@st.composite
def mutated_images(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "cut", "insert"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at:at + draw(st.integers(1, 64))]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(mutated_images(), st.binary(max_size=256)))
def test_fuzzed_bytes_give_a_photo_or_our_error(tmp_path, data):
    path = tmp_path / "fuzz.img"
    path.write_bytes(data)
    try:
        photo, shape = read_photo(path, GREY, cols=4)
    except ImageError as e:
        assert str(e).startswith(str(path))
    else:
        assert photo.shape == (shape[0] * 36, shape[1] * 36, 3) and photo.dtype == np.uint8


def test_a_damaged_emoji_image_is_named_when_a_mosaic_needs_it(tiny_set, tiny_model, tmp_path):
    emoji = tmp_path / "tiny"
    shutil.copytree(tiny_set, emoji)
    for tile in emoji.glob("*.png"):
        tile.write_bytes(b"not a png")  # every tile damaged: whichever the mosaic picks is one
    photo = solid(tmp_path / "red.png", (220, 30, 30))
    text = run("infer", emoji, photo, "--model", tiny_model, "--cols", 4)
    assert text.exit_code == 0 and len(text.stdout.splitlines()) > 0  # text needs the names only
    out = tmp_path / "out.png"
    one_line_error(run("infer", emoji, photo, "--model", tiny_model, "--cols", 4, "-o", out),
                   str(emoji), ".png: not a readable image", "remove or replace it")
    assert not out.exists()
