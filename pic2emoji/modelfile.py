"""The model file: one safetensors file that holds everything inference needs (docs/MODEL_FORMAT.md).

A model file is the net's weights plus string metadata (lists and dicts JSON-encoded) with the format
version, architecture, patch size, background, the ordered class list, merged look-alikes, training
settings and the measured held-out accuracy. Loading rebuilds the net (net.ARCHITECTURES) from the
metadata. Files are read and written with the `safetensors` library, through numpy: no tinygrad device
is involved, so a GPU machine without a C compiler (tinygrad's CPU back end) saves its models too, and
tinygrad itself is imported only to build a net (a one-photo run's net on the host needs none: host.py).
"""
import hashlib
import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file, save_file

from .archs import ARCHS, weight_shapes
from .defaults import BACKGROUND, PATCH
from .emoji_sets import EmojiSet, find_emoji_set
from .errors import ModelError, first_line, shown
from .files import data_dir, shipped_dir, write_atomically

if TYPE_CHECKING:
    from .net import TinyConvNet

FORMAT = "pic2emoji-model"
FORMAT_VERSION = 1


@dataclass
class Model:
    """A net and what it was trained on."""
    net: "TinyConvNet | None"  # None until load_weights, for a model loaded with weights=False
    arch: str
    emoji_set: str            # the set's folder name, e.g. "noto"
    classes: list[str]        # file name of each class's tile, in logit order
    chars: list[str | None]   # the emoji each class prints as text
    merged: dict[str, list[str]] = field(default_factory=dict)  # kept file -> look-alike files merged into it
    background: tuple[int, int, int] = BACKGROUND
    training: dict = field(default_factory=dict)
    accuracy: float | None = None  # top-1 on the held-out augmented emoji
    path: Path | None = None

    @property
    def files(self) -> set[str]:
        """Every file of the emoji set this model covers, merged look-alikes included."""
        return set(self.classes).union(*self.merged.values())

    @cached_property
    def digest(self) -> str:
        """The model file's bytes, hashed: names what is kept in the cache for this model."""
        return hashlib.sha256(Path(self.path).read_bytes()).hexdigest()[:20]

    def metadata(self) -> dict[str, str]:
        return {"format": FORMAT, "format_version": str(FORMAT_VERSION), "arch": self.arch, "patch": str(PATCH),
                "emoji_set": self.emoji_set, "classes": json.dumps(self.classes),
                "chars": json.dumps(self.chars, ensure_ascii=False), "merged": json.dumps(self.merged),
                "background": json.dumps(list(self.background)), "training": json.dumps(self.training),
                "accuracy": "" if self.accuracy is None else f"{self.accuracy:.6f}"}


def local_model_path(emoji_dir) -> Path:
    """Where `train` writes a set's model by default, and where infer, serve and export-web look first,
    whatever folder they run in: models/<set>.safetensors beside the set's folder (my_emoji/ ->
    models/my_emoji.safetensors next to it), or, for a shipped set, in the data folder (files.data_dir)."""
    folder = find_emoji_set(emoji_dir).resolve()
    home = data_dir() if folder.parent == shipped_dir("emoji_sets").resolve() else folder.parent
    return home / "models" / f"{folder.name}.safetensors"


def model_path(emoji_dir, fast: bool = False) -> Path:
    """The model for a set: the one you trained (local_model_path) if there is one, else the one
    shipped with pic2emoji. With `fast`, <set>-fast.safetensors beside it if there is one (the live
    camera's choice, shipped for noto: more frames a second for a little fidelity, as
    docs/BENCHMARKS.md, "Inference speed", measures). Neither there: a ModelError saying where it looked."""
    local = local_model_path(emoji_dir)
    shipped = shipped_dir("models") / local.name
    if not local.is_file() and not shipped.is_file():
        raise ModelError(f"{emoji_dir}: no model for this emoji set; looked for {local} (where `pic2emoji train "
                         f"{emoji_dir}` writes it) and {shipped}; train one, or give a model file with --model")
    default = local if local.is_file() else shipped
    faster = default.with_name(default.stem + "-fast.safetensors")
    return faster if fast and faster.is_file() else default


def check_model_fits(model: Model, emoji_set: EmojiSet) -> None:
    """Refuse a model trained on another set: its classes would point at the wrong tiles."""
    files = set(emoji_set.files)
    if model.files != files:
        missing, extra = len(model.files - files), len(files - model.files)
        raise ModelError(f"{model.path}: trained on emoji set '{model.emoji_set}' ({len(model.files)} emoji), "
                         f"which differs from {emoji_set.path} ({missing} of its emoji missing here, {extra} new); "
                         f"train a model for it with `pic2emoji train {emoji_set.path}`")


def new_model(arch: str, emoji_set: str, classes, chars, merged, background, seed: int = 0) -> Model:
    from tinygrad import Tensor
    from .net import ARCHITECTURES
    Tensor.manual_seed(seed)
    return Model(ARCHITECTURES[arch](len(classes)), arch, emoji_set, list(classes), list(chars), dict(merged),
                 tuple(int(c) for c in background))


def save_model(model: Model, path, extra: dict | None = None) -> None:
    """Write the model (and, for checkpoints, extra tensors such as optimizer state) atomically."""
    from tinygrad import dtypes
    from tinygrad.nn.state import get_state_dict
    tensors = {**get_state_dict(model.net), **(extra or {})}
    arrays = {k: np.ascontiguousarray(v.cast(dtypes.float32).numpy()) for k, v in tensors.items()}  # copied off the device
    write_atomically(Path(path), lambda temp: save_file(arrays, temp, metadata=model.metadata()))


def read_metadata(path) -> dict[str, str]:
    """The model file's metadata (its tensors are checked against the file's size, not read)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file; train one with `pic2emoji train <emoji set>`")
    try:
        with safe_open(path, "numpy") as f:
            return f.metadata() or {}
    except (SafetensorError, OSError) as e:
        # safetensors' words when the data does not end where the file does: almost always a cut-off copy
        why = "file is truncated, or has bytes after its data" if "not fully covered" in str(e) else first_line(e)
        raise ModelError(f"{path}: not a pic2emoji model file (unreadable safetensors: {why}); "
                         "train a new one with `pic2emoji train`") from None


def load_model(path, extra: bool = False, weights: bool = True):
    """Rebuild the net from a model file. With extra=True also return the file's other arrays (numpy).
    With weights=False only the metadata is read (net is None until load_weights): what a run needs
    whose captured net comes from the cache, which holds the weights itself."""
    path = Path(path)
    meta = read_metadata(path)
    if meta.get("format") != FORMAT:
        raise ModelError(f"{path}: not a pic2emoji model (no pic2emoji metadata); train one with `pic2emoji train`")
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise ModelError(f"{path}: model format version {shown(str(meta.get('format_version'))[:20])}, this "
                         f"pic2emoji reads {FORMAT_VERSION}; retrain it with `pic2emoji train`")
    model = model_of(path, meta)
    if weights:
        load_weights(model)
    if extra:  # a checkpoint's optimizer state
        return model, {k: v for k, v in load_file(path).items() if not k.startswith("layers.")}
    return model


def model_of(path: Path, meta: dict[str, str]) -> Model:
    """The Model that a file's metadata describes, every field checked here, in one place: a damaged or
    hostile file (a background of four numbers, `merged` a list, `training` nested 100,000 deep) is
    refused in one line naming the file and the field, never met later as a traceback."""
    def field(key: str, check, what: str, parse=json.loads):
        if key not in meta:
            raise damaged(path, f"no {key!r} in its metadata")
        try:
            value = parse(meta[key])
        except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
            value = None
        else:
            if check(value):
                return value
        raise damaged(path, f"{key!r} is {shown_value(meta[key])}, not {what}")

    text = lambda value: value
    field("patch", lambda v: v == PATCH, f"{PATCH}, the patch size this pic2emoji uses")
    arch = field("arch", lambda v: v in ARCHS, f"one of {', '.join(ARCHS)}", text)
    emoji_set = field("emoji_set", lambda v: v.strip() != "", "an emoji set's name", text)
    classes = field("classes", lambda v: _strings(v) and len(v) == len(set(v)) > 0, "a list of distinct file names")
    chars = field("chars", lambda v: isinstance(v, list) and len(v) == len(classes) and
                  all(c is None or isinstance(c, str) for c in v), f"a list of {len(classes)} emoji (or nulls)")
    merged = field("merged", lambda v: isinstance(v, dict) and all(map(_strings, v.values())),
                   'an object of {"file name": [file names]}')
    background = field("background", _rgb, "three whole numbers from 0 to 255")
    training = field("training", _training, "an object of training settings and history")
    accuracy = field("accuracy", lambda v: v is None or 0 <= v <= 1, "empty or a number from 0 to 1",
                     lambda t: float(t) if t else None)  # NaN fails the check: nan <= 1 is False
    return Model(None, arch, emoji_set, classes, chars, merged, tuple(background), training, accuracy, path)


def damaged(path, why: str) -> ModelError:
    return ModelError(f"{path}: damaged or inconsistent model file ({why}); retrain it with `pic2emoji train`")


def shown_value(text) -> str:
    """A metadata value in a message: quoted, and cut short (it may be a megabyte of brackets)."""
    text = repr(text)
    return text if len(text) <= 40 else text[:37] + "..."


def _strings(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


def _rgb(value) -> bool:
    return isinstance(value, list) and len(value) == 3 and \
        all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _training(value) -> bool:
    """What train.py records: {"config": {setting: a number, text, null or a list of numbers}, "steps_done":
    n, "history": [[step, loss, accuracy], ...], "seconds": s, ...}; TrainConfig.of checks the settings' names."""
    if not isinstance(value, dict):
        return False
    scalar = lambda v: v is None or isinstance(v, str) or _number(v) or isinstance(v, bool)
    flat = lambda v: scalar(v) or isinstance(v, list) and all(map(scalar, v))
    config, history = value.get("config", {}), value.get("history", [])
    return (isinstance(config, dict) and all(map(flat, config.values())) and
            isinstance(history, list) and all(isinstance(h, list) and all(map(_number, h)) for h in history) and
            all(flat(v) for k, v in value.items() if k not in ("config", "history")) and
            isinstance(value.get("steps_done", 0), int) and value.get("steps_done", 0) >= 0)


def read_layers(model: Model) -> dict[str, np.ndarray]:
    """The net's weights from model.path, by name, checked: every array its architecture holds, of the
    right shape, and finite."""
    try:
        arrays = {k: v for k, v in load_file(model.path).items() if k.startswith("layers.")}
    except (ValueError, OSError, SafetensorError) as e:
        raise ModelError(f"{model.path}: damaged model file ({first_line(e)}); retrain it with `pic2emoji train`") from None
    expected = weight_shapes(model.arch, len(model.classes))
    wrong = [f"{k} missing" if k not in arrays else f"{k} is {tuple(arrays[k].shape)}, not {shape}"
             for k, shape in expected.items() if k not in arrays or arrays[k].shape != shape]
    wrong += [f"{k} is not of it" for k in sorted(set(arrays) - set(expected))]
    if wrong:
        raise ModelError(f"{model.path}: damaged or inconsistent model file (its weights do not fit the {model.arch} "
                         f"architecture of {len(model.classes)} classes: {'; '.join(wrong[:3])}); retrain it with "
                         "`pic2emoji train`")
    if broken := [k for k, v in arrays.items() if not np.isfinite(v).all()]:  # every mosaic would be nonsense
        raise ModelError(f"{model.path}: its weights hold NaN or infinite numbers ({', '.join(sorted(broken))}): "
                         "the file is damaged or its training diverged; retrain it with `pic2emoji train`")
    return {k: v.astype(np.float32) for k, v in arrays.items()}


def load_weights(model: Model) -> "TinyConvNet":
    """Build model.net and read its weights from model.path."""
    from tinygrad import Tensor
    from tinygrad.nn.state import load_state_dict
    from .net import ARCHITECTURES
    net = ARCHITECTURES[model.arch](len(model.classes))
    load_state_dict(net, {k: Tensor(v) for k, v in read_layers(model).items()}, verbose=False)
    model.net = net
    return net
