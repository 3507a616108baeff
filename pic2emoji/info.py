"""`pic2emoji info`: what this installation would run on, and with what: versions, tinygrad's devices
(which one is chosen, and why), the cache folder, and the emoji sets and models it finds."""
import json
import os
import platform
import re
import sys
from importlib.metadata import version
from pathlib import Path

from tinygrad.device import ALL_DEVICES

from . import __version__
from .device import device_report, remembered_device, use_device
from .emoji_sets import shipped_sets
from .errors import Pic2EmojiError
from .files import cache_dir, data_dir, shipped_dir
from .host import runs_here
from .modelfile import read_metadata


def why_device(asked: str | None) -> str:
    """Where the choice of device comes from, before it is made."""
    if asked:
        return "--device"
    if os.environ.get("DEV"):
        return f"DEV={os.environ['DEV']} in the environment"
    if remembered_device():
        return "remembered: tinygrad chose it on an earlier run on this machine"
    return f"tinygrad's choice: the first back end that opens, of {', '.join(ALL_DEVICES)}"


def describe_model(path: Path) -> str:
    try:
        meta = read_metadata(path)
        accuracy = f", held-out top-1 {float(meta['accuracy']):.1%}" if meta.get("accuracy") else ""
        return f"{path.name} ({meta.get('arch')}, {len(json.loads(meta.get('classes') or '[]'))} classes{accuracy})"
    except (Pic2EmojiError, ValueError):
        return f"{path.name} (unreadable)"


def tidy(problem: str) -> str:
    """A back end's reason as tinygrad words it, less a phrase said twice in a row ("No interface for
    AMD:0 is available is available" in tinygrad 0.14)."""
    return re.sub(r"\b(\w+(?: \w+)*?)(?: \1\b)+", r"\1", problem)


def info_lines(asked_device: str | None = None) -> list[str]:
    why = why_device(asked_device)
    lines = [f"pic2emoji {__version__} (tinygrad {version('tinygrad')}, Python {platform.python_version()}, "
             f"{platform.system()} {platform.machine()})"]
    try:
        host = "" if not runs_here(asked_device, True) else "; infer runs its net in numpy here (no GPU)" \
            if runs_here(asked_device, False) else "; infer on one still photo runs its net in numpy"
        lines.append(f"device: {use_device(asked_device)} ({why}{host})")
    except Pic2EmojiError as e:
        lines.append(f"device: none usable: {e}")
    lines.append("tinygrad back ends:")
    for device, problem in device_report():
        lines.append(f"  {device}: usable" if problem is None else f"  {device}: not usable ({tidy(problem)})")
    cache = cache_dir()
    nets = list(cache.glob("*.jit")) if cache.is_dir() else []
    lines.append(f"cache: {cache} ({len(nets)} captured nets, {sum(p.stat().st_size for p in nets) / 1e6:.1f} MB)")
    lines.append(f"emoji sets: {', '.join(shipped_sets()) or 'none'} in {shipped_dir('emoji_sets')}")
    for folder in dict.fromkeys([shipped_dir("models").resolve(), data_dir() / "models"]):
        models = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
        if models:
            lines += [f"models in {folder}:"] + [f"  {describe_model(m)}" for m in models]
    lines.append(f"python: {sys.executable}")
    return lines
