"""The net, and the one file that holds everything inference needs.

A model file is safetensors: the weights, plus string metadata (lists and dicts JSON-encoded) with the
format version, architecture, patch size, background, the ordered class list, merged look-alikes,
training settings and the measured held-out accuracy. Loading rebuilds the net from the metadata.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tinygrad import Device, Tensor, TinyJit, dtypes, nn
from tinygrad.helpers import DEV
from tinygrad.nn.state import get_state_dict, load_state_dict, safe_load, safe_load_metadata, safe_save

from .errors import ModelError
from .files import write_atomically

FORMAT = "pic2emoji-model"
FORMAT_VERSION = 1
PATCH = 36  # the net sees 36×36 RGB patches


class TinyConvNet:
    """The seed net: two 3×3 convolutions with ReLU and 2× max-pooling, then one linear layer.

    36×36×3 -> conv 8 -> 34 -> pool -> 17 -> conv 16 -> 15 -> pool -> 7, so 16·7·7 = 784 features.
    About 1 MFLOP for the convolutions plus 1.6 kFLOP per class, per patch.
    """
    def __init__(self, classes: int):
        self.layers = [nn.Conv2d(3, 8, 3), Tensor.relu, Tensor.max_pool2d,
                       nn.Conv2d(8, 16, 3), Tensor.relu, Tensor.max_pool2d,
                       lambda x: x.flatten(1), nn.Linear(16 * 7 * 7, classes)]

    def __call__(self, x: Tensor) -> Tensor:
        """x: (N, 3, 36, 36) RGB in [0, 1] -> (N, classes) logits."""
        return x.sequential(self.layers)


ARCHITECTURES = {"tinyconv": TinyConvNet}


def as_input(patches: Tensor) -> Tensor:
    """(N, 36, 36, 3) uint8 patches, as numpy makes them -> the net's (N, 3, 36, 36) floats in [0, 1]."""
    return patches.permute(0, 3, 1, 2).cast(dtypes.float32) / 255


@dataclass
class Model:
    """A net and what it was trained on."""
    net: TinyConvNet
    arch: str
    emoji_set: str            # the set's folder name, e.g. "noto"
    classes: list[str]        # file name of each class's tile, in logit order
    chars: list[str | None]   # the emoji each class prints as text
    merged: dict[str, list[str]] = field(default_factory=dict)  # kept file -> look-alike files merged into it
    background: tuple[int, int, int] = (128, 128, 128)
    training: dict = field(default_factory=dict)
    accuracy: float | None = None  # top-1 on the held-out augmented emoji
    path: Path | None = None

    @property
    def files(self) -> set[str]:
        """Every file of the emoji set this model covers, merged look-alikes included."""
        return set(self.classes).union(*self.merged.values())

    def metadata(self) -> dict[str, str]:
        return {"format": FORMAT, "format_version": str(FORMAT_VERSION), "arch": self.arch, "patch": str(PATCH),
                "emoji_set": self.emoji_set, "classes": json.dumps(self.classes),
                "chars": json.dumps(self.chars, ensure_ascii=False), "merged": json.dumps(self.merged),
                "background": json.dumps(list(self.background)), "training": json.dumps(self.training),
                "accuracy": "" if self.accuracy is None else f"{self.accuracy:.6f}"}


def new_model(arch: str, emoji_set: str, classes, chars, merged, background, seed: int = 0) -> Model:
    Tensor.manual_seed(seed)
    return Model(ARCHITECTURES[arch](len(classes)), arch, emoji_set, list(classes), list(chars), dict(merged),
                 tuple(int(c) for c in background))


def save_model(model: Model, path, extra: dict[str, Tensor] | None = None) -> None:
    """Write the model (and, for checkpoints, extra tensors such as optimizer state) atomically."""
    tensors = {k: v.cast(dtypes.float32) if v.dtype != dtypes.float32 else v for k, v in get_state_dict(model.net).items()}
    tensors.update(extra or {})
    write_atomically(Path(path), lambda temp: safe_save(tensors, temp, model.metadata()))


def read_metadata(path) -> dict[str, str]:
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file; train one with `pic2emoji train <emoji set>`")
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            header_len = int.from_bytes(f.read(8), "little")
            if size < 8 or header_len <= 0 or header_len > min(size - 8, 100 << 20):
                raise ValueError("bad header length")
        header = safe_load_metadata(path)[2]
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
        if 8 + header_len + end > size:
            raise ValueError(f"file is truncated: {size} bytes, the header promises {8 + header_len + end}")
        return header.get("__metadata__") or {}
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as e:
        raise ModelError(f"{path}: not a pic2emoji model file (unreadable safetensors: {e}); "
                         "train a new one with `pic2emoji train`") from None


def load_model(path, extra: bool = False):
    """Rebuild the net from a model file. With extra=True also return the file's other tensors."""
    path = Path(path)
    meta = read_metadata(path)
    if meta.get("format") != FORMAT:
        raise ModelError(f"{path}: not a pic2emoji model (no pic2emoji metadata); train one with `pic2emoji train`")
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise ModelError(f"{path}: model format version {meta.get('format_version')}, this pic2emoji reads "
                         f"{FORMAT_VERSION}; retrain it with `pic2emoji train`")
    try:
        classes, chars = json.loads(meta["classes"]), json.loads(meta["chars"])
        model = Model(ARCHITECTURES[meta["arch"]](len(classes)), meta["arch"], meta["emoji_set"], classes, chars,
                      json.loads(meta["merged"]), tuple(json.loads(meta["background"])), json.loads(meta["training"]),
                      float(meta["accuracy"]) if meta["accuracy"] else None, path)
        if int(meta["patch"]) != PATCH or len(chars) != len(classes):
            raise ValueError("patch size or class list does not fit")
        tensors = safe_load(path)
        weights = {k: v for k, v in tensors.items() if k.startswith("layers.")}
        if set(weights) != set(get_state_dict(model.net)):
            raise ValueError(f"weights {sorted(weights)} do not fit the {meta['arch']} architecture")
        load_state_dict(model.net, weights, verbose=False)
    except (KeyError, ValueError, TypeError, RuntimeError, AssertionError) as e:
        raise ModelError(f"{path}: damaged or inconsistent model file ({e}); retrain it with `pic2emoji train`") from None
    if extra:
        return model, {k: v for k, v in tensors.items() if not k.startswith("layers.")}
    return model


def use_device(name: str | None) -> str:
    """Make `name` (CPU, CL, METAL, CUDA, ...) tinygrad's default device; None keeps tinygrad's choice."""
    if name:
        DEV.value = name.upper()
    try:
        return Device[Device.DEFAULT].device
    except Exception as e:  # tinygrad raises many kinds here; all mean the same to the user
        raise ModelError(f"device {name or Device.DEFAULT} is not usable here ({str(e).splitlines()[0][:120]}); "
                         "try --device CPU (needs clang) or --device CL (needs an OpenCL driver, e.g. pocl)") from None


class Classifier:
    """Logits for any number of patches through one fixed-shape JIT, so its kernels compile once.

    Patches go through in chunks of `batch`, the last one padded; each chunk's output is copied out
    (.numpy()) before the next call, because the JIT reuses its output buffer.
    """
    def __init__(self, net, batch: int = 512):
        self.batch = batch
        self._logits = TinyJit(lambda patches: net(as_input(patches)).realize())

    def __call__(self, patches: np.ndarray) -> np.ndarray:
        """(N, 36, 36, 3) uint8 -> (N, classes) float32."""
        chunks = []
        for start in range(0, len(patches), self.batch):
            chunk = patches[start:start + self.batch]
            padded = np.zeros((self.batch, *chunk.shape[1:]), np.uint8)
            padded[:len(chunk)] = chunk
            chunks.append(self._logits(Tensor(padded, dtype=dtypes.uint8)).numpy()[:len(chunk)])
        return np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)
