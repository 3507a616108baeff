"""The command line: options, exit codes, one-line errors, what goes to stdout and what to stderr."""
import json
import os
import shutil
import stat
import subprocess
import sys

import pytest
from PIL import Image

from pic2emoji import __version__
from pic2emoji.model import Classifier

from conftest import halves, jpeg_bytes, one_line_error, png_bytes, run, solid


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and __version__ in result.output


def test_help_lists_the_commands():
    result = run("--help")
    assert result.exit_code == 0
    for command in ("build-set", "train", "eval", "infer"):
        assert command in result.output


def test_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "pic2emoji", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and __version__ in out.stdout


def test_info_says_which_device_runs_and_why():
    result = run("info")
    assert result.exit_code == 0, result.output
    assert "device: CPU (DEV=CPU in the environment)" in result.stdout  # as tests/conftest.py sets it
    assert "  CPU: usable" in result.stdout and "cache: " in result.stdout
    assert "noto.safetensors (tinyconv-r64, 1850 classes, held-out top-1 98.2%)" in result.stdout


def test_errors_are_one_line_and_exit_1(tmp_path):
    one_line_error(run("infer", tmp_path / "no-such-set", tmp_path / "x.jpg"), "no-such-set", "does not exist")


def test_build_set_refuses_a_missing_font(tmp_path):
    result = run("build-set", tmp_path / "none.ttf", tmp_path / "out")
    assert result.exit_code == 1 and "no such font file" in result.output


@pytest.mark.parametrize("args", [["--steps", "0"], ["--steps", "-5"], ["--batch-size", "0"], ["--lr", "0"],
                                  ["--background", "mauve-ish"]])
def test_bad_training_arguments_exit_2(tiny_set, args, tmp_path):
    result = run("train", tiny_set, "-o", tmp_path / "m.safetensors", *args)
    assert result.exit_code == 2
    assert not (tmp_path / "m.safetensors").exists()


def test_train_refuses_to_replace_a_model(tiny_set, tiny_model):
    result = run("train", tiny_set, "-o", tiny_model)
    assert result.exit_code == 1 and "--overwrite" in result.output


def test_eval_json(tiny_set, tiny_model):
    result = run("eval", tiny_set, "--model", tiny_model, "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert {"accuracy", "classes", "samples", "model"} <= set(report) and report["classes"] == 12


def test_infer_png_size_follows_cols_and_aspect(tiny_set, tiny_model, tmp_path):
    photo = tmp_path / "p.png"
    Image.new("RGB", (400, 300), (200, 30, 30)).save(photo)
    result = run("infer", tiny_set, photo, "--model", tiny_model, "-o", tmp_path / "m.png", "--cols", 8, "--tile-px", 10)
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "m.png").size == (80, 60)  # 8 cols × round(8·300/400) = 6 rows


def test_infer_text_to_file_and_stdout_are_the_same(tiny_set, tiny_model, tmp_path):
    photo = halves(tmp_path / "p.png", (230, 30, 30), (30, 60, 230), size=(160, 120))
    result = run("infer", tiny_set, photo, "--model", tiny_model, "-o", tmp_path / "m.txt", "--cols", 8)
    assert result.exit_code == 0
    text = (tmp_path / "m.txt").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) == 6 and all(len(line) == 8 for line in lines)  # one code point each: terminal palette
    stdout = run("infer", tiny_set, photo, "--model", tiny_model, "--cols", 8)
    assert stdout.exit_code == 0 and stdout.stdout == text and stdout.stderr == ""


def test_infer_refuses_to_overwrite(tiny_set, tiny_model, tmp_path):
    photo = solid(tmp_path / "p.png", (0, 0, 200))
    out = tmp_path / "m.png"
    out.write_bytes(b"mine")
    result = run("infer", tiny_set, photo, "--model", tiny_model, "-o", out)
    assert result.exit_code == 1 and "--overwrite" in result.output and out.read_bytes() == b"mine"
    assert run("infer", tiny_set, photo, "--model", tiny_model, "-o", out, "--overwrite").exit_code == 0
    assert out.read_bytes().startswith(b"\x89PNG")


def test_infer_never_writes_over_its_input(tiny_set, tiny_model, tmp_path):
    photo = solid(tmp_path / "p.png", (0, 0, 200))
    before = photo.read_bytes()
    result = run("infer", tiny_set, photo, "--model", tiny_model, "-o", photo, "--overwrite")
    assert result.exit_code == 1 and "input photo itself" in result.output and photo.read_bytes() == before


def test_folder_input_needs_an_output(tiny_set, tiny_model, tmp_path):
    result = run("infer", tiny_set, tmp_path, "--model", tiny_model)
    assert result.exit_code == 2 and "-o OUT_DIR" in result.output


def test_missing_model_says_how_to_fix(tiny_set, tmp_path):
    result = run("infer", tiny_set, solid(tmp_path / "p.png", (0, 0, 0)), "--model", tmp_path / "none.safetensors")
    assert result.exit_code == 1 and "pic2emoji train" in result.output


@pytest.mark.parametrize("name, content", [
    ("empty.jpg", b""),
    ("truncated.jpg", jpeg_bytes()[:300]),
    ("truncated.png", png_bytes()[:60]),
    ("notes.jpg", b"just some text\n"),
    ("page.png", b"<!doctype html><html><body>hello</body></html>"),
    ("photo.png", b"hello, this is text"),
])
def test_unreadable_inputs(tiny_set, tiny_model, tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    out = tmp_path / "out.png"
    one_line_error(run("infer", tiny_set, tmp_path / name, "--model", tiny_model, "-o", out), name, "not a readable image")
    assert list(tmp_path.iterdir()) == [tmp_path / name]  # no output, no temp file


def test_model_of_another_set_via_cli(tiny_model, tmp_path):
    one_line_error(run("infer", "noto-small", solid(tmp_path / "p.png", (0, 0, 0)), "--model", tiny_model),
                   "trained on emoji set 'tiny'", "pic2emoji train")


def test_tune_tunes_the_model_and_the_fast_one(tiny_set, tiny_model, tmp_path, monkeypatch):
    tuned = []  # a real BEAM search takes minutes on a fresh machine: test_model checks what tune() does
    monkeypatch.setattr(Classifier, "tune", lambda self, beam=2: tuned.append((self.cache.name, beam)))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    for name in ("tiny.safetensors", "tiny-fast.safetensors"):
        shutil.copy(tiny_model, tmp_path / "models" / name)
    result = run("tune", tiny_set, "--beam", "3")
    assert result.exit_code == 0, result.output
    assert [(name.split("-")[0], beam) for name, beam in tuned] == [("tiny", 3), ("tiny", 3)]
    assert tuned[1][0].startswith("tiny-fast-") and "tuned in" in result.stderr


# --- hostile input and surroundings ----------------------------------------------------------------------

def test_cols_and_rows_together_are_refused():
    result = run("infer", "noto-small", "x.jpg", "--cols", 10, "--rows", 5)
    assert result.exit_code == 2 and "not both" in result.output


@pytest.mark.parametrize("size, options, words", [
    ((1, 60_000), [], ["60000×1", "--rows 50000 or less"]),  # a 1-pixel-wide strip: rows follow its height
    ((400, 300), ["--cols", 1000], ["750×1000", "--cols 257 or less"]),
    ((400, 300), ["--cols", 40, "--tile-px", 512], ["megapixels", "--tile-px"]),
])
def test_grids_and_mosaics_too_large_for_memory_are_refused_up_front(tiny_set, tiny_model, tmp_path, size, options, words):
    photo = solid(tmp_path / "p.png", (200, 0, 0), size=size)
    one_line_error(run("infer", tiny_set, photo, "--model", tiny_model, "-o", tmp_path / "m.png", *options), *words)
    assert not (tmp_path / "m.png").exists()


@pytest.mark.slow
def test_a_header_claiming_a_huge_strip_is_refused_under_a_memory_ceiling(tiny_set, tiny_model, tmp_path):
    """1 × 100,000,000 pixels passes the decompression-bomb check (100 MP); its grid would not fit in memory."""
    import struct
    import zlib
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    strip = tmp_path / "strip.png"
    strip.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 100_000_000, 8, 2, 0, 0, 0))
                      + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
    ceiling = "import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_DATA, (3 << 30, 3 << 30)); " \
              "sys.argv = ['pic2emoji'] + sys.argv[1:]; runpy.run_module('pic2emoji', run_name='__main__')"
    out = subprocess.run([sys.executable, "-c", ceiling, "infer", str(tiny_set), str(strip), "--model", str(tiny_model),
                          "-o", str(tmp_path / "m.png")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and "Traceback" not in out.stderr and "--rows 50000 or less" in out.stderr, out.stderr


def test_overwrite_replaces_regular_files_only(tiny_set, tiny_model, tmp_path):
    fifo = tmp_path / "m.png"
    os.mkfifo(fifo)
    one_line_error(run("infer", tiny_set, solid(tmp_path / "p.png", (0, 0, 200)), "--model", tiny_model, "-o", fifo,
                       "--overwrite"), "m.png", "not a regular file")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_fifo_given_as_the_photo_is_refused_not_waited_for(tiny_set, tiny_model, tmp_path):
    os.mkfifo(tmp_path / "p.png")
    one_line_error(run("infer", tiny_set, tmp_path / "p.png", "--model", tiny_model), "p.png", "not a regular file")


@pytest.mark.slow
def test_text_to_a_full_disk_is_one_line_and_a_closed_pipe_ends_quietly(tiny_set, tiny_model, tmp_path):
    photo = solid(tmp_path / "p.png", (0, 0, 200), size=(400, 300))
    command = [sys.executable, "-m", "pic2emoji", "infer", str(tiny_set), str(photo), "--model", str(tiny_model)]
    with open("/dev/full", "w") as full:
        out = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True, timeout=300)
    assert out.returncode == 1 and out.stderr.strip().count("\n") == 0, out.stderr
    assert "No space left on device" in out.stderr and "Traceback" not in out.stderr
    reader = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader.stdout.close()  # the reader is gone before the mosaic comes, as after `| head -1` has its line
    assert reader.wait(timeout=300) == 141 and reader.stderr.read() == b""


def test_a_newline_in_a_file_name_stays_on_one_line(tiny_set, tiny_model, tmp_path):
    photo = tmp_path / "two\nlines.jpg"
    photo.write_bytes(b"not a photo")
    one_line_error(run("infer", tiny_set, photo, "--model", tiny_model), "two\\nlines.jpg", "not a readable image")
