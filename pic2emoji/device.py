"""Which tinygrad device runs the net, remembered between runs in the cache folder (files.cache_dir).

Left to itself, tinygrad picks its device by opening every back end in turn (METAL, AMD, NV, CUDA,
QCOM, CL, CPU, ...), which imports each one: longer than a one-photo run spends on its net (measured
in docs/BENCHMARKS.md, "Fresh machines and GPUs"). So the device tinygrad picked is remembered,
with a fingerprint of what decides it (GPU device files, OpenCL drivers, the compilers and libraries
found, tinygrad's version); a later run on the same machine opens that device directly. When the
fingerprint differs (a new GPU, a driver installed or removed) or the remembered device fails to open,
tinygrad chooses afresh. `DEV=...` in the environment or `--device` always win, and are never
remembered.
"""
import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
from importlib.metadata import version
from pathlib import Path

# PoCL's compiler prints "1 warning generated." for many of tinygrad's kernels: noise to a user, so
# its warnings are off unless the user set the flags (read when PoCL builds a program, after this).
os.environ.setdefault("POCL_EXTRA_BUILD_FLAGS", "-w")

from tinygrad import Device  # noqa: E402
from tinygrad.device import ALL_DEVICES  # noqa: E402
from tinygrad.helpers import DEV

from .errors import ModelError, first_line  # noqa: E402
from .files import cache_dir  # noqa: E402

FIX = "try --device CPU (needs clang) or --device CL (needs an OpenCL driver, e.g. pocl-opencl-icd and ocl-icd-libopencl1)"


def fingerprint() -> str:
    """What tinygrad's choice of device depends on, hashed: changes when a GPU or a driver comes or goes."""
    listing = lambda folder, prefixes=("",): sorted(n for n in os.listdir(folder) if n.startswith(prefixes)) \
        if os.path.isdir(folder) else []
    facts = {
        "host": socket.gethostname(), "machine": platform.machine(), "system": platform.system(),
        "tinygrad": version("tinygrad"), "gpus": listing("/dev", ("nvidia", "kfd", "dri")) + listing("/dev/dri"),
        "opencl": [listing(os.environ.get("OCL_ICD_VENDORS") or "/etc/OpenCL/vendors"), os.environ.get("OCL_ICD_VENDORS")],
        "libraries": _gpu_libraries(),
        "clang": shutil.which("clang"), "path": os.environ.get("LD_LIBRARY_PATH"),
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


def _gpu_libraries() -> list[str]:
    """The GPU runtime libraries the dynamic linker knows (one `ldconfig -p`, cheap beside opening the back ends)."""
    try:
        listed = subprocess.run([shutil.which("ldconfig") or "/sbin/ldconfig", "-p"], capture_output=True,
                                text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        listed = ""
    names = ("libOpenCL.so", "libcuda.so", "libnvrtc.so", "libamdhip64.so")
    return sorted({line.split()[0] for line in listed.splitlines() if line.strip().startswith(names)})


def _memo() -> Path:
    return cache_dir() / "device.json"


def remembered_device() -> str | None:
    """The device tinygrad chose on an earlier run here, if this machine still looks the same."""
    try:
        memo = json.loads(_memo().read_text())
        return memo["device"] if memo.get("fingerprint") == fingerprint() else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _remember(device: str) -> None:
    try:
        _memo().parent.mkdir(parents=True, exist_ok=True)
        _memo().write_text(json.dumps({"device": device, "fingerprint": fingerprint()}) + "\n")
    except OSError:
        pass  # a read-only cache only costs the next run its choice of device


def _open(name: str) -> str:
    return Device[name].device


def use_device(name: str | None = None) -> str:
    """Make `name` (CPU, CL, CUDA, METAL, ...) tinygrad's default device and open it; None: DEV from the
    environment, else the device remembered for this machine, else tinygrad's choice (then remembered)."""
    if name:
        DEV.value = name.upper()
    elif not DEV.device and (known := remembered_device()):
        DEV.value = known
        try:
            return _open(known)
        except Exception:  # the machine changed in a way the fingerprint missed: let tinygrad choose
            DEV.value = ""
    chosen_here = not DEV.device
    try:
        device = _open(Device.DEFAULT)
    except Exception as e:  # tinygrad raises many kinds here; all mean the same to the user
        raise ModelError(f"{f'device {DEV.device} is not' if DEV.device else 'no tinygrad device is'} usable here "
                         f"({first_line(e)}); {FIX}") from None
    if chosen_here:
        _remember(device)
    return device


def device_report() -> list[tuple[str, str | None]]:
    """Every tinygrad back end with None if it opens here, else the first line of why not."""
    report = []
    for device in ALL_DEVICES:
        try:
            _open(device)
            report.append((device, None))
        except Exception as e:
            report.append((device, first_line(e, 100)))
    return report
