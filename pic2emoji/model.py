"""The net, and the one file that holds everything inference needs.

A model file is safetensors: the weights, plus string metadata (lists and dicts JSON-encoded) with the
format version, architecture, patch size, background, the ordered class list, merged look-alikes,
training settings and the measured held-out accuracy. Loading rebuilds the net from the metadata.
Files are read and written with the `safetensors` library, through numpy: no tinygrad device is
involved, so a GPU machine without a C compiler (tinygrad's CPU back end) saves its models too.
"""
import hashlib
import json
import pickle
import sys
from dataclasses import dataclass, field, replace
from importlib.metadata import version
from pathlib import Path

import numpy as np
from tinygrad import Context, Device, Tensor, TinyJit, dtypes, nn
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file
from tinygrad.nn.state import get_state_dict, load_state_dict
from tinygrad.uop.ops import Ops, ParamArg, UOp

from .defaults import BACKGROUND, PATCH
from .files import cache_dir
from .emoji_sets import EmojiSet, find_emoji_set
from .errors import ModelError, OutputError
from .files import shipped_dir, write_atomically, write_bytes

FORMAT = "pic2emoji-model"
FORMAT_VERSION = 1

FEATURES = 16 * 7 * 7  # what TinyConvNet's convolutions hand to its class layer
CAPTURE_VERSION = 2  # part of a captured net's cache key: bump it when classify or __call__ computes differently


class TinyConvNet:
    """The seed net: two 3×3 convolutions with ReLU and 2× max-pooling, then the class layer.

    36×36×3 -> conv 8 -> 34 -> pool -> 17 -> conv 16 -> 15 -> pool -> 7, so 16·7·7 = 784 features.
    The convolutions cost 0.5 M multiply-adds per patch; the class layer 784 per class, three quarters
    of the work with 1850 classes. With `rank`, the class layer is factored through `rank` numbers
    (784 -> rank -> classes, nothing in between): a rank-64 layer does a quarter of the work. With
    `stride`, a 4×4 convolution at stride 2 replaces the first convolution and its pool (36 -> 17 at
    once): 0.11 M multiply-adds instead of 0.25 M, and no 34×34 activations to pool.

    As run, each convolution computes only what the pools keep (`seen`): 32×32 and 14×14 outputs,
    0.45 M multiply-adds a patch for the two (0.10 M for the stride-2 first convolution).
    """
    def __init__(self, classes: int, rank: int | None = None, stride: bool = False):
        head = [nn.Linear(FEATURES, classes)] if rank is None else [nn.Linear(FEATURES, rank, bias=False), nn.Linear(rank, classes)]
        self.rank = rank
        # stride: the first convolution 4×4 at stride 2 (36 -> 17 directly) in place of 3×3 and a pool
        first = [nn.Conv2d(3, 8, 4, stride=2), Tensor.relu, same] if stride else \
                [nn.Conv2d(3, 8, 3), Tensor.relu, Tensor.max_pool2d]
        self.layers = [*first, nn.Conv2d(8, 16, 3), Tensor.relu, Tensor.max_pool2d, flatten, *head]
        self.seen = self._seen()

    def __call__(self, x: Tensor, start: int = 0) -> Tensor:
        """x: (N, 3, 36, 36) RGB in [0, 1] -> (N, classes) logits; with `start`, x is what layer `start`
        takes. Each convolution reads only the part of its input that reaches the class layer (`seen`)."""
        for layer, size in list(zip(self.layers, self.seen))[start:]:
            x = layer(x[:, :, :size, :size] if isinstance(layer, nn.Conv2d) else x)
        return x

    def classify(self, patches: Tensor) -> Tensor:
        """The same logits from (N, 36, 36, 3) uint8 patches as numpy cuts them, laid out for inference:
        a 3×3 first convolution is one matrix product over the patches' windows, copied out as bytes
        first (the 1/255 goes into its weights). tinygrad's own kernel for it, fused with the pool, runs
        at about 5 GFLOP/s on a CPU through PoCL; this way the layer takes a quarter of the time (docs/BENCHMARKS.md)."""
        first, size = self.layers[0], self.seen[0]
        if stride_of(first) != 1:  # the stride-2 convolution: tinygrad's own kernel does well
            return self(as_input(patches))
        return self(convolve(patches[:, :size, :size], first, 1 / 255).permute(0, 3, 1, 2), start=1)

    def _seen(self) -> list[int]:
        """How many rows (and columns) of each layer's input reach the class layer, first layer first.
        The pools drop an odd last row and column: the net never looks at a patch's last two rows and
        columns, nor at the first pool's last, so its convolutions need not compute them (32×32 outputs of
        34×34, 14×14 of 15×15: 12% of their work)."""
        size, sizes = 7, []  # the class layer reads 16 channels of 7×7 (FEATURES)
        for layer in reversed(self.layers):
            if isinstance(layer, nn.Conv2d):
                size = (size - 1) * stride_of(layer) + layer.weight.shape[-1]
            elif layer is Tensor.max_pool2d:
                size *= 2
            sizes.append(size)
        return sizes[::-1]

    def class_layer(self) -> tuple[np.ndarray, np.ndarray]:
        """The class layer as one matrix and bias: (classes, 784) and (classes,), whatever its rank."""
        last = self.layers[-1]
        weight = last.weight.numpy() if self.rank is None else last.weight.numpy() @ self.layers[-2].weight.numpy()
        return weight, last.bias.numpy()

    def start_from(self, other: "TinyConvNet") -> None:
        """Take another TinyConvNet's weights (same classes, any rank): the convolutions as they are, the
        class layer exactly or, to a lower rank, as its best approximation (truncated SVD)."""
        for mine, theirs in ((self.layers[0], other.layers[0]), (self.layers[3], other.layers[3])):
            if mine.weight.shape != theirs.weight.shape:
                continue  # another first convolution: it starts afresh, the rest starts trained
            mine.weight.assign(theirs.weight.contiguous()).realize()
            mine.bias.assign(theirs.bias.contiguous()).realize()
        weight, bias = other.class_layer()
        self.layers[-1].bias.assign(Tensor(bias)).realize()
        if self.rank is None:
            self.layers[-1].weight.assign(Tensor(weight)).realize()
            return
        u, s, vt = np.linalg.svd(weight, full_matrices=False)
        k = min(self.rank, len(s))  # fewer classes than the rank: exact, the rest of the rank left at zero
        first, second = np.zeros((self.rank, FEATURES), np.float32), np.zeros((len(bias), self.rank), np.float32)
        first[:k], second[:, :k] = np.sqrt(s[:k])[:, None] * vt[:k], u[:, :k] * np.sqrt(s[:k])
        self.layers[-2].weight.assign(Tensor(first)).realize()
        self.layers[-1].weight.assign(Tensor(second)).realize()


def convolve(x: Tensor, conv: nn.Conv2d, scale: float = 1) -> Tensor:
    """conv on channels-last x (N, H, W, C), bias included, as one matrix product over x's windows
    (copied out, as x's dtype): (N, H', W', out channels). `scale` multiplies x."""
    out, _, size, _ = conv.weight.shape
    stride = stride_of(conv)
    n, height, width, channels = x.shape
    h, w = (height - size) // stride + 1, (width - size) // stride + 1
    windows = [x[:, i:i + stride * (h - 1) + 1:stride, j:j + stride * (w - 1) + 1:stride]
               for i in range(size) for j in range(size)]
    rows = Tensor.stack(*windows, dim=3).reshape(n, h, w, size * size * channels).contiguous()
    weight = conv.weight.permute(0, 2, 3, 1).reshape(out, size * size * channels).T  # rows' (i, j, channel) order
    return rows.cast(dtypes.float32) @ (weight * scale) + conv.bias


def stride_of(conv: nn.Conv2d) -> int:
    """A square convolution's stride (tinygrad keeps an int or a tuple)."""
    return conv.stride if isinstance(conv.stride, int) else conv.stride[0]


def flatten(x: Tensor) -> Tensor:
    return x.flatten(1)


def same(x: Tensor) -> Tensor:
    """Stands in for the stride-2 net's pool, so every architecture has its layers at the same places."""
    return x


ARCHITECTURES = {"tinyconv": TinyConvNet, "tinyconv-r64": lambda classes: TinyConvNet(classes, rank=64),
                 "tinyconv-s2r64": lambda classes: TinyConvNet(classes, rank=64, stride=True)}


def as_input(patches: Tensor) -> Tensor:
    """(N, 36, 36, 3) uint8 patches, as numpy makes them -> the net's (N, 3, 36, 36) floats in [0, 1]."""
    return patches.permute(0, 3, 1, 2).cast(dtypes.float32) / 255


@dataclass
class Model:
    """A net and what it was trained on."""
    net: TinyConvNet | None  # None until load_weights, for a model loaded with weights=False
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

    def metadata(self) -> dict[str, str]:
        return {"format": FORMAT, "format_version": str(FORMAT_VERSION), "arch": self.arch, "patch": str(PATCH),
                "emoji_set": self.emoji_set, "classes": json.dumps(self.classes),
                "chars": json.dumps(self.chars, ensure_ascii=False), "merged": json.dumps(self.merged),
                "background": json.dumps(list(self.background)), "training": json.dumps(self.training),
                "accuracy": "" if self.accuracy is None else f"{self.accuracy:.6f}"}


def local_model_path(emoji_dir) -> Path:
    """Where `train` writes a set's model by default: models/<set>.safetensors in the current folder."""
    return Path("models") / f"{find_emoji_set(emoji_dir).resolve().name}.safetensors"


def model_path(emoji_dir, fast: bool = False) -> Path:
    """The model for a set: models/<set>.safetensors in the current folder if you trained one there,
    else the one shipped with pic2emoji. With `fast`, <set>-fast.safetensors beside it if there is one
    (the live camera's choice: shipped for noto, 1.4× the frame rate for a little fidelity)."""
    local = local_model_path(emoji_dir)
    shipped = shipped_dir("models") / local.name
    default = local if local.is_file() or not shipped.is_file() else shipped
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
    Tensor.manual_seed(seed)
    return Model(ARCHITECTURES[arch](len(classes)), arch, emoji_set, list(classes), list(chars), dict(merged),
                 tuple(int(c) for c in background))


def save_model(model: Model, path, extra: dict[str, Tensor] | None = None) -> None:
    """Write the model (and, for checkpoints, extra tensors such as optimizer state) atomically."""
    tensors = {**get_state_dict(model.net), **(extra or {})}
    arrays = {k: np.ascontiguousarray(v.cast(dtypes.float32).numpy()) for k, v in tensors.items()}  # copied off the device
    write_atomically(Path(path), lambda temp: save_file(arrays, temp, metadata=model.metadata()))


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
        with open(path, "rb") as f:
            header = json.loads(f.read(8 + header_len)[8:])
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
        if 8 + header_len + end > size:
            raise ValueError(f"file is truncated: {size} bytes, the header promises {8 + header_len + end}")
        return header.get("__metadata__") or {}
    except (ValueError, KeyError, TypeError, AttributeError, OSError, UnicodeDecodeError) as e:
        raise ModelError(f"{path}: not a pic2emoji model file (unreadable safetensors: {e}); "
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
        raise ModelError(f"{path}: model format version {meta.get('format_version')}, this pic2emoji reads "
                         f"{FORMAT_VERSION}; retrain it with `pic2emoji train`")
    try:
        classes, chars = json.loads(meta["classes"]), json.loads(meta["chars"])
        model = Model(None, meta["arch"], meta["emoji_set"], classes, chars, json.loads(meta["merged"]),
                      tuple(json.loads(meta["background"])), json.loads(meta["training"]),
                      float(meta["accuracy"]) if meta["accuracy"] else None, path)
        if int(meta["patch"]) != PATCH or len(chars) != len(classes) or model.arch not in ARCHITECTURES:
            raise ValueError("patch size, class list or architecture does not fit")
    except (KeyError, ValueError, TypeError) as e:
        raise ModelError(f"{path}: damaged or inconsistent model file ({e}); retrain it with `pic2emoji train`") from None
    if weights:
        load_weights(model)
    if extra:  # a checkpoint's optimizer state
        return model, {k: v for k, v in load_file(path).items() if not k.startswith("layers.")}
    return model


def load_weights(model: Model) -> TinyConvNet:
    """Build model.net and read its weights from model.path."""
    try:
        arrays = load_file(model.path)
        net = ARCHITECTURES[model.arch](len(model.classes))
        weights = {k: Tensor(v) for k, v in arrays.items() if k.startswith("layers.")}
        if set(weights) != set(get_state_dict(net)):
            raise ValueError(f"weights {sorted(weights)} do not fit the {model.arch} architecture")
        load_state_dict(net, weights, verbose=False)
    except (KeyError, ValueError, TypeError, RuntimeError, AssertionError, SafetensorError) as e:
        raise ModelError(f"{model.path}: damaged or inconsistent model file ({e}); retrain it with "
                         "`pic2emoji train`") from None
    model.net = net
    return net


def jit_cache_file(model_file, batch: int) -> Path:
    """The cache file of one model file's net on the current device: named by the file's bytes, so a
    retrained model never meets a stale net."""
    digest = hashlib.sha256(Path(model_file).read_bytes())
    digest.update(f"{Device.DEFAULT}/{batch}/capture {CAPTURE_VERSION}/tinygrad {version('tinygrad')}/python {sys.version_info[:2]}".encode())
    return cache_dir() / f"{Path(model_file).stem}-{digest.hexdigest()[:20]}.jit"


class FreshBuffers(pickle.Unpickler):
    """Unpickles a captured net with its buffers numbered afresh.

    tinygrad names each buffer by a number counted in each process and keeps one UOp per name, so a
    pickled buffer whose number a buffer of this process already has (another net's weights, made
    first) would come back as that buffer, its own contents dropped: a wrong net, silently. Here every
    buffer of the pickle takes a new number, the same one wherever the pickle names it again."""
    def __init__(self, file):
        super().__init__(file)
        self.numbers: dict[int, int] = {}

    def find_class(self, module: str, name: str):
        found = super().find_class(module, name)
        return self.uop if found is UOp else found

    def uop(self, op, *args):
        if op is Ops.BUFFER and len(args) > 2 and isinstance(args[2], ParamArg):
            slot = self.numbers.setdefault(args[2].slot, next(UOp.unique_num))
            args = (*args[:2], replace(args[2], slot=slot), *args[3:])
        return UOp(op, *args)


class Classifier:
    """The class each patch looks most like, through one fixed-shape JIT, so its kernels compile once.

    Patches go through in chunks of `batch` (a third of a 54×72 webcam frame), the last one padded. The
    arg-max runs in the JIT too, under an additive mask that rules classes out (a palette), so only one
    index per patch leaves the device. Each chunk's answer is copied out before the next call, because
    the JIT reuses its output buffer.

    With a `cache` file, the captured JIT (its compiled kernels and the weights) is saved there once
    captured and loaded from there by later processes: tinygrad caches compiled binaries on disk but
    re-derives every kernel in each new process, ~2 s that a one-photo command would pay every time.
    """
    batch = 1296

    def __init__(self, net, classes: int, batch: int | None = None, cache: Path | None = None):
        """`net`: the net, or a function that returns it, called only when the net must be captured here
        (a capture loaded from the cache holds its own weights, so a one-photo run need not read them)."""
        self.batch, self.classes, self.cache, self._net = batch or self.batch, classes, cache, net
        self._pick = self._load(cache) or self._new_jit()
        self._saved = self._pick.captured is not None

    def _new_jit(self) -> TinyJit:
        if not isinstance(self._net, TinyConvNet):
            self._net = self._net()
        net = self._net
        return TinyJit(lambda patches, mask: (net.classify(patches) + mask).argmax(1).cast(dtypes.int32).realize())

    @staticmethod
    def _load(cache):
        if cache is None or not cache.is_file():
            return None
        try:
            with open(cache, "rb") as f:
                return FreshBuffers(f).load()
        except Exception:  # written by another tinygrad, or damaged: capture again and replace it
            return None

    def _save(self, beam: int = 0) -> None:
        self._saved = True
        if self.cache is None:
            return
        self._pick.captured.free_intermediates()  # their contents need not be saved; they come back on use
        try:
            write_bytes(self.cache, pickle.dumps(self._pick))
            self._tuned_note.unlink(missing_ok=True)
            if beam:
                self._tuned_note.write_text(f"BEAM={beam}\n")
        except (OutputError, OSError):
            pass  # a read-only cache folder only costs speed

    @property
    def _tuned_note(self) -> Path:
        return self.cache.with_suffix(".tuned")

    @property
    def tuned(self) -> str | None:
        """"BEAM=n" when the cached net was made by `tune`, else None."""
        note = self.cache and self._tuned_note
        return note.read_text().strip() if note and note.is_file() and self._pick.captured is not None else None

    def __call__(self, patches: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
        """(N, 36, 36, 3) uint8 -> (N,) class indices; `allowed`, a bool per class, limits the choice."""
        mask = np.zeros(self.classes, np.float32) if allowed is None else np.where(allowed, 0, -1e30).astype(np.float32)
        mask = Tensor(mask)
        picks = []
        for start in range(0, len(patches), self.batch):
            chunk = patches[start:start + self.batch]
            padded = np.zeros((self.batch, *chunk.shape[1:]), np.uint8)
            padded[:len(chunk)] = chunk
            picks.append(self._pick(Tensor(padded, dtype=dtypes.uint8), mask).numpy()[:len(chunk)])
            if not self._saved and self._pick.captured is not None:
                self._save()
        return np.concatenate(picks) if picks else np.zeros(0, np.int32)

    def warm_up(self) -> None:
        """Capture the JIT now (two calls), so the first real call is fast."""
        while self._pick.captured is None:
            self(np.zeros((self.batch, PATCH, PATCH, 3), np.uint8))

    def tune(self, beam: int = 2) -> None:
        """Capture the net afresh with tinygrad's BEAM search choosing each kernel's shape by timing it
        here (minutes, once per machine), and save that into the cache for every later run."""
        with Context(BEAM=beam):
            self._pick, self._saved = self._new_jit(), True  # saved below, marked as tuned
            self.warm_up()
        self._save(beam)
