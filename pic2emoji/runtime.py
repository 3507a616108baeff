"""The net at work on a device: captured once as a fixed-shape JIT, and kept in the cache folder.

Everything here leans on tinygrad's internals (TinyJit's capture, pickling it, how buffers are
numbered): a tinygrad upgrade or a new device should touch this module (and device.py) only.
"""
import hashlib
import pickle
import sys
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path

import numpy as np
from tinygrad import Context, Device, Tensor, TinyJit, dtypes
from tinygrad.uop.ops import Ops, ParamArg, UOp

from .defaults import PATCH
from .errors import OutputError
from .files import cache_dir, write_bytes
from .host import as_read, class_mask
from .net import CAPTURE_VERSION, TinyConvNet


def jit_cache_file(model_file, batch: int, reads: int = PATCH) -> Path:
    """The cache file of one model file's net on the current device, read at `reads` px: named by the
    file's bytes, so a retrained model never meets a stale net."""
    digest = hashlib.sha256(Path(model_file).read_bytes())
    digest.update(f"{Device.DEFAULT}/{batch}/{reads} px/capture {CAPTURE_VERSION}/tinygrad {version('tinygrad')}/python {sys.version_info[:2]}".encode())
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
    re-derives every kernel in each new process, which a one-photo command would pay every time
    (docs/BENCHMARKS.md, "Captured nets are kept", measures it).
    """
    batch = 1296

    def __init__(self, net, classes: int, batch: int | None = None, cache: Path | None = None, reads: int = PATCH):
        """`net`: the net, or a function that returns it, called only when the net must be captured here
        (a capture loaded from the cache holds its own weights, so a one-photo run need not read them).
        `reads`: the patch size the net reads (net.reads), which the JIT is captured for."""
        self.batch, self.classes, self.cache, self._net = batch or self.batch, classes, cache, net
        self.reads = reads
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
    def captured(self) -> bool:
        """Whether the net is compiled and captured (here, or loaded from the cache)."""
        return self._pick.captured is not None

    @property
    def _tuned_note(self) -> Path:
        return self.cache.with_suffix(".tuned")

    @property
    def tuned(self) -> str | None:
        """"BEAM=n" when the cached net was made by `tune`, else None."""
        note = self.cache and self._tuned_note
        return note.read_text().strip() if note and note.is_file() and self._pick.captured is not None else None

    def __call__(self, patches: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
        """(N, s, s, 3) uint8 -> (N,) class indices; `allowed`, a bool per class, limits the choice. s: the
        size the net reads (`reads`) or a multiple of it (host.as_read)."""
        patches, mask = as_read(patches, self.reads), Tensor(class_mask(allowed, self.classes))
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
            self(np.zeros((self.batch, self.reads, self.reads, 3), np.uint8))

    def tune(self, beam: int = 2) -> None:
        """Capture the net afresh with tinygrad's BEAM search choosing each kernel's shape by timing it
        here (minutes, once per machine), and save that into the cache for every later run."""
        with Context(BEAM=beam):
            self._pick, self._saved = self._new_jit(), True  # saved below, marked as tuned
            self.warm_up()
        self._save(beam)
