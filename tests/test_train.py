"""Training and evaluation: the loss falls, interrupted runs keep a checkpoint and resume, both devices."""
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest

from pic2emoji.errors import ModelError
from pic2emoji.modelfile import load_model, model_path
from pic2emoji.train import TrainConfig, checkpoint_path, evaluate, train

from conftest import one_line_error, run


def test_training_learns(tiny_model, tiny_config):
    model = load_model(tiny_model)
    history = model.training["history"]
    assert [h[0] for h in history] == [30, 60]
    assert history[-1][1] < 0.5 * np.log(12)       # loss fell well below chance (ln 12)
    assert model.accuracy >= 0.9                    # held-out top-1 on the 12 emoji
    assert model.training["config"]["steps"] == tiny_config.steps


def test_a_model_remembers_its_training_settings(tiny_model, tiny_config):
    assert TrainConfig.of(load_model(tiny_model)) == tiny_config


def test_evaluate_reproduces_the_training_accuracy(tiny_model, tiny_set):
    report = evaluate(tiny_set, tiny_model)
    assert report["accuracy"] == pytest.approx(load_model(tiny_model).accuracy, abs=1e-6)
    assert report["classes"] == 12 and report["samples"] == 120


@pytest.mark.slow
def test_interrupt_saves_a_checkpoint_and_resume_finishes(tiny_set, tiny_config, tmp_path, monkeypatch):
    import pic2emoji.train as training
    out = tmp_path / "m.safetensors"
    real = training.learning_rate

    def interrupt_at_step_40(config, step):
        if step == 40:
            raise KeyboardInterrupt
        return real(config, step)

    monkeypatch.setattr(training, "learning_rate", interrupt_at_step_40)
    result = train(tiny_set, out, tiny_config, progress=False)
    assert result.interrupted and result.steps == 40
    assert not out.exists() and checkpoint_path(out).is_file()
    monkeypatch.setattr(training, "learning_rate", real)
    done = train(tiny_set, out, tiny_config, resume=True, progress=False)
    assert not done.interrupted and done.steps == tiny_config.steps
    assert out.is_file() and not checkpoint_path(out).exists()
    assert load_model(out).training["steps_done"] == tiny_config.steps


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP])  # kill, and a closed terminal or ssh session
def test_a_stop_signal_during_training_saves_a_checkpoint(tiny_set, tmp_path, stop):
    out = tmp_path / "m.safetensors"
    ckpt = tmp_path / "m.safetensors.ckpt"
    process = subprocess.Popen([sys.executable, "-m", "pic2emoji", "train", str(tiny_set), "-o", str(out),
                                "--steps", "100000", "--batch-size", "32", "--eval-every", "5", "--device", "CPU"],
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not ckpt.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert ckpt.exists(), "training never reached its first checkpoint"
    process.send_signal(stop)
    stderr = process.communicate(timeout=120)[1]
    assert process.returncode == 130 and "--resume" in stderr and "Traceback" not in stderr
    assert not out.exists() and load_model(ckpt).training["steps_done"] >= 5


def test_forgetting_resume_does_not_lose_the_checkpoint(tiny_set, tmp_path):
    (tmp_path / "m.safetensors.ckpt").write_bytes(b"a checkpoint")
    one_line_error(run("train", tiny_set, "-o", tmp_path / "m.safetensors"), "--resume")


def test_resume_without_a_checkpoint(tiny_set, tmp_path):
    one_line_error(run("train", tiny_set, "-o", tmp_path / "m.safetensors", "--resume"), "no checkpoint")


def pic2emoji(*args, **env):
    """`pic2emoji ARGS` in its own process, tinygrad left to choose its device unless DEV is given."""
    return subprocess.run([sys.executable, "-m", "pic2emoji", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "DEV": "", **env}, timeout=600)


def require_opencl():
    """OpenCL is part of the setup (pocl-opencl-icd and its loader ocl-icd-libopencl1): its absence fails."""
    probe = pic2emoji("info", DEV="CL")
    if probe.returncode != 0 or "CL: usable" not in probe.stdout:
        pytest.fail("no OpenCL driver here, so tinygrad has no CL device: install pocl-opencl-icd and "
                    f"ocl-icd-libopencl1 (scripts/setup.sh --test does)\n{probe.stdout}{probe.stderr}")


@pytest.mark.slow
@pytest.mark.parametrize("device", ["CPU", "CL"])
def test_both_devices_train_and_agree(device, tiny_set, tiny_model, tmp_path):
    """Each device in its own process, as users run it: a few training steps, then eval of the shared model."""
    if device == "CL":
        require_opencl()
    run = pic2emoji
    trained = run("train", str(tiny_set), "-o", str(tmp_path / "d.safetensors"), "--steps", "3", "--batch-size", "32",
                  "--device", device)
    assert trained.returncode == 0, trained.stderr
    assert load_model(tmp_path / "d.safetensors").training["device"] == device
    report = run("eval", str(tiny_set), "--model", str(tiny_model), "--device", device, "--json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["accuracy"] == pytest.approx(load_model(tiny_model).accuracy, abs=0.02)


def test_a_low_rank_model_starts_from_a_trained_one(tiny_set, tiny_config, tiny_model, tmp_path):
    config = replace(tiny_config, arch="tinyconv-r64", init=str(tiny_model), steps=10, eval_every=10, lr=1e-3, warmup=1)
    result = train(tiny_set, tmp_path / "r64.safetensors", config, progress=False)
    assert result.accuracy >= load_model(tiny_model).accuracy - 0.1  # it starts where the full model is
    model = load_model(tmp_path / "r64.safetensors")
    assert model.arch == "tinyconv-r64" and model.net.rank == 64 and model.training["config"]["init"] == str(tiny_model)


@pytest.mark.slow
def test_init_from_another_set_takes_the_shared_classes(tiny_set, tiny_config, tmp_path):
    """The tiny set is a part of noto-small's emoji: every class starts from noto-small's row for it."""
    said = []
    config = replace(tiny_config, init=str(model_path("noto-small")), steps=2, eval_every=2)
    train(tiny_set, tmp_path / "m.safetensors", config, progress=False, log=said.append)
    shared = len(set(load_model(model_path("noto-small")).classes) & set(load_model(tmp_path / "m.safetensors").classes))
    assert shared > 0 and any(f"and {shared} of these" in line for line in said), said


def test_init_from_a_file_that_is_no_model_is_refused_before_work(tiny_set, tiny_config, tmp_path):
    (tmp_path / "notes.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    config = replace(tiny_config, init=str(tmp_path / "notes.safetensors"))
    with pytest.raises(ModelError, match="notes.safetensors: cannot start from this file: it is not a pic2emoji model"):
        train(tiny_set, tmp_path / "m.safetensors", config, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.safetensors"]


@pytest.mark.slow
def test_training_saves_its_model_without_a_c_compiler(tiny_set, tmp_path):
    """As on a GPU machine without clang: tinygrad's CPU back end cannot compile, the model is still saved."""
    require_opencl()
    out = tmp_path / "m.safetensors"
    trained = pic2emoji("train", tiny_set, "-o", out, "--steps", 2, "--batch-size", 32, "--eval-every", 1,
                        "--device", "CL", CC="/bin/false", CACHELEVEL="0")  # tinygrad compiles CPU kernels with $CC
    assert trained.returncode == 0, trained.stderr
    model = load_model(out)
    assert model.training["steps_done"] == 2 and model.training["device"] == "CL"


@pytest.mark.slow
def test_the_bar_waits_for_timed_steps_and_never_shows_nan(tiny_set, tiny_config, tmp_path, capsys):
    """No ETA from the steps that compile the training step (the first took 33 s once: "9:07:37"), no
    held_out=nan% before the first evaluation."""
    said = []
    train(tiny_set, tmp_path / "m.safetensors", replace(tiny_config, steps=8, eval_every=5), progress=True,
          log=said.append)
    bar = [line for line in capsys.readouterr().err.replace("\r", "\n").splitlines() if line.startswith("training")]
    assert "compiling the training step first" in said[0] and bar, said
    assert " 3/8 " in bar[0] and not any(" 0/8 " in line or " 1/8 " in line for line in bar), bar
    assert not any("nan" in line for line in bar) and "held_out=" in bar[-1]
    assert not any("held_out" in line for line in bar if " 4/8 " in line)  # measured first at step 5


def test_the_merge_threshold_is_a_train_option_and_kept_in_the_settings(tiny_set):
    from pic2emoji.emoji_sets import load_emoji_set
    from pic2emoji.train import classes_of
    emoji_set = load_emoji_set(tiny_set)
    assert len(classes_of(emoji_set, TrainConfig(merge_threshold=0))[1]) == len(emoji_set)
    assert len(classes_of(emoji_set, TrainConfig(merge_threshold=255))[1]) == 1  # everything looks alike
    assert "--merge-threshold" in run("train", "--help").stdout
    bad = run("train", tiny_set, "--merge-threshold", "-1")
    assert bad.exit_code == 2 and "--merge-threshold" in bad.output
