"""The net on the host: a model's forward pass in numpy, where a device would cost more than it gives.

A one-photo run classifies ~1300 cells: 0.4 G multiply-adds, ~0.05 s for numpy's BLAS on two cores.
Through tinygrad the same run first imports tinygrad, opens its device and loads the captured net
(0.2–0.3 s on a CPU, more where a GPU must wake), so `infer` on one still photo runs the net here unless a
device is asked for (docs/BENCHMARKS.md, "One photo"); and where no GPU is here (gpu_here), folders and
films too: numpy's BLAS beats tinygrad's kernels on the CPU. The camera (serve) and training use tinygrad
(runtime.py). The layers are those of archs.py, and tests hold the two to the same picks.
"""
import glob
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from threadpoolctl import threadpool_limits

from .archs import FEATURES, convolutions, head, reads
from .pixels import block_means, to_uint8

CHUNK = 162  # patches a thread takes at once: an eighth of a 72×54 photo, ~5 MB of windows


class HostNet:
    """The class each patch looks most like, as runtime.Classifier picks it, computed by numpy from the
    model file's weights (`layers`: name -> array, as modelfile.read_layers gives them)."""
    batch = 1296  # patches a chunk, as Classifier's: what a film's frame sends the net at most at once
    captured, tuned, cache = True, None, None  # nothing to compile, tune or keep

    def __init__(self, arch: str, layers: dict[str, np.ndarray]):
        self.reads = reads(arch)
        self.convolutions = []
        for i, (name, size, stride, pooled) in enumerate(convolutions(arch)):
            weight = layers[f"{name}.weight"].transpose(0, 2, 3, 1)  # (out, i, j, in): a window's order, channels last
            scale = 1 / 255 if i == 0 else 1  # the first takes bytes: their 1/255 goes into its weights
            self.convolutions.append((weight.reshape(len(weight), -1).T * scale, layers[f"{name}.bias"], size, stride, pooled))
        names = head(arch)
        first = layers[f"{names[0]}.weight"]  # reads the features as tinygrad flattens them: (channel, y, x)
        first = first.reshape(len(first), 16, 7, 7).transpose(0, 2, 3, 1).reshape(len(first), FEATURES)
        self.head = [first.T.copy(), *(layers[f"{n}.weight"].T.copy() for n in names[1:])]  # channels last here
        self.bias = layers[f"{names[-1]}.bias"]

    def __call__(self, patches: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
        """(N, s, s, 3) uint8 -> (N,) class indices; `allowed`, a bool per class, limits the choice. s: the
        size the net reads, or a multiple of it (as_read)."""
        patches, mask = as_read(patches, self.reads), class_mask(allowed, len(self.bias))
        chunks = [patches[start:start + CHUNK] for start in range(0, len(patches), CHUNK)]
        # Small chunks on two threads, BLAS on one each: numpy's copies and products let go of the GIL, and
        # a chunk's arrays stay in the cache. BLAS's own threads over one large chunk took 3-5× longer.
        with threadpool_limits(1, "blas"), ThreadPoolExecutor(2) as pool:  # (limits nest: a Converter's holds)
            picks = list(pool.map(lambda chunk: self._picks(chunk, mask), chunks))
        return np.concatenate(picks) if picks else np.zeros(0, np.int32)

    def warm_up(self) -> None:
        """Nothing to compile: the same call as Classifier's."""

    def _picks(self, patches: np.ndarray, mask: np.ndarray) -> np.ndarray:
        logits = self.logits(patches)
        logits += mask
        return logits.argmax(1).astype(np.int32)

    def logits(self, patches: np.ndarray) -> np.ndarray:
        """(N, reads, reads, 3) uint8 -> (N, classes) float32: the net's logits, as TinyConvNet gives them."""
        x = patches
        for weight, bias, size, stride, pooled in self.convolutions:
            windows = sliding_window_view(x, (size, size), axis=(1, 2))[:, ::stride, ::stride]  # (n, h, w, c, k, k)
            n, h, w = windows.shape[:3]
            x = windows.transpose(0, 1, 2, 4, 5, 3).reshape(n * h * w, -1).astype(np.float32, copy=False) @ weight
            x += bias
            x = np.maximum(x, 0, out=x).reshape(n, h, w, -1)
            if pooled:  # 2×2 max-pool, an odd last row and column dropped
                x = x[:, :h // 2 * 2, :w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, -1).max((2, 4))
        x = x.reshape(len(x), FEATURES)
        for weight in self.head:
            x = x @ weight
        x += self.bias
        return x


def gpu_here() -> bool:
    """Whether this machine may have a GPU for tinygrad, from its device files alone (no back end is
    opened): NVIDIA's or AMD's, or any render node (an integrated GPU with OpenCL); a Mac always (METAL)."""
    return sys.platform == "darwin" or any(glob.glob(pattern) for pattern in ("/dev/nvidia*", "/dev/kfd", "/dev/dri/renderD*"))


def as_read(patches: np.ndarray, reads: int) -> np.ndarray:
    """(N, s, s, 3) uint8 patches at the size a net reads: s a multiple of it, brought to it by rounded
    block means (a half net given 36-px cells). What HostNet and runtime.Classifier both take."""
    return patches if patches.shape[1] == reads else to_uint8(block_means(patches, patches.shape[1] // reads))


def class_mask(allowed: np.ndarray | None, classes: int) -> np.ndarray:
    """The additive mask over the logits that rules out the classes not `allowed` (None: all allowed)."""
    return np.zeros(classes, np.float32) if allowed is None else np.where(allowed, 0, -1e30).astype(np.float32)


def runs_here(device: str | None, one_still_photo: bool) -> bool:
    """Whether infer runs its net here in numpy, not on a tinygrad device: not where one is asked for
    (--device, DEV); for one still photo always (a device costs it more than its net); else where no GPU is."""
    if device or os.environ.get("DEV"):
        return False
    return one_still_photo or not gpu_here()
