"""Choosing tinygrad's device: remembered per machine, re-chosen when the machine changes or it fails."""
import json
import os
import subprocess
import sys

import pytest

from pic2emoji import device

CHOOSE = "from pic2emoji.device import use_device; print(use_device())"


def choose(cache, **env):
    """use_device() in a fresh process with DEV unset, as a user's first command runs it."""
    out = subprocess.run([sys.executable, "-c", CHOOSE], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "DEV": "", "PIC2EMOJI_CACHE_DIR": str(cache), **env})
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_the_memo_counts_only_on_the_same_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("PIC2EMOJI_CACHE_DIR", str(tmp_path))
    assert device.remembered_device() is None
    (tmp_path / "device.json").write_text(json.dumps({"device": "CL", "fingerprint": device.fingerprint()}))
    assert device.remembered_device() == "CL"
    monkeypatch.setattr(device, "_gpu_libraries", lambda: ["libcuda.so.1"])  # a GPU driver appeared
    assert device.remembered_device() is None
    (tmp_path / "device.json").write_text("{damaged")
    assert device.remembered_device() is None


@pytest.mark.slow
def test_tinygrads_choice_is_remembered_and_a_failing_one_is_chosen_afresh(tmp_path):
    first = choose(tmp_path)  # tinygrad probes its back ends and picks one
    memo = json.loads((tmp_path / "device.json").read_text())
    assert memo["device"] == first
    assert choose(tmp_path) == first  # opened directly this time
    memo["device"] = "NOSUCHDEVICE"  # the remembered device no longer opens: tinygrad chooses again
    (tmp_path / "device.json").write_text(json.dumps(memo))
    assert choose(tmp_path) == first
    assert json.loads((tmp_path / "device.json").read_text())["device"] == first


def test_an_explicit_device_is_used_and_not_remembered(tmp_path, monkeypatch):
    monkeypatch.setenv("PIC2EMOJI_CACHE_DIR", str(tmp_path))
    assert device.use_device("cpu") == "CPU"
    assert not (tmp_path / "device.json").exists()


def test_an_unusable_device_is_one_line_that_says_what_to_install():
    from pic2emoji.errors import ModelError
    from tinygrad.helpers import DEV
    before = DEV.value
    try:
        with pytest.raises(ModelError, match="device NOSUCHDEVICE is not usable here .*ocl-icd-libopencl1"):
            device.use_device("nosuchdevice")
    finally:
        DEV.value = before


@pytest.mark.slow
def test_the_opencl_compilers_warnings_stay_quiet(tmp_path):
    code = ("import pic2emoji.device; from tinygrad import Tensor; x = Tensor.rand(64, 64); "
            "print(((x @ x).relu().sum(1)).numpy()[0])")  # a kernel PoCL warns about, compiled afresh
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "DEV": "CL", "CACHELEVEL": "0", "POCL_CACHE_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert "warning" not in out.stderr, out.stderr
