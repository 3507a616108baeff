"""The command line: options, exit codes, one-line errors, what goes to stdout and what to stderr."""
import json
import shutil
import subprocess
import sys

import pytest

from pic2emoji import __version__
from pic2emoji.runtime import Classifier

from conftest import one_line_error, run, solid


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
    assert "noto.safetensors (tinyconv-hr64, 1850 classes, held-out top-1 97.9%)" in result.stdout


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


def test_tune_tunes_the_model_and_the_fast_one(tiny_set, tiny_model, tmp_path, monkeypatch):
    tuned = []  # a real BEAM search takes minutes on a fresh machine: test_model checks what tune() does
    monkeypatch.setattr(Classifier, "tune", lambda self, beam=2: tuned.append((self.cache.name, beam)))
    shutil.copytree(tiny_set, tmp_path / "tiny")
    (tmp_path / "models").mkdir()  # beside the set: where train writes its model
    for name in ("tiny.safetensors", "tiny-fast.safetensors"):
        shutil.copy(tiny_model, tmp_path / "models" / name)
    result = run("tune", tmp_path / "tiny", "--beam", "3")
    assert result.exit_code == 0, result.output
    assert [(name.split("-")[0], beam) for name, beam in tuned] == [("tiny", 3), ("tiny", 3)]
    assert tuned[1][0].startswith("tiny-fast-") and "tuned in" in result.stderr


# --- hostile input and surroundings ----------------------------------------------------------------------

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
