"""The net: TinyConvNet, the architectures built from it, and how it reads a patch.

A net is a plain class with a list of layers. `ARCHITECTURES` names each variant a model file can hold:
modelfile.py stores and rebuilds nets by these names, runtime.py captures one on a device and caches it.
"""
from functools import partial

import numpy as np
from tinygrad import Tensor, dtypes, nn

from .archs import ARCHS, FEATURES
from .defaults import PATCH
CAPTURE_VERSION = 3  # part of a captured net's cache key: bump it when classify or __call__ computes differently


class TinyConvNet:
    """The seed net: two 3×3 convolutions with ReLU and 2× max-pooling, then the class layer.

    36×36×3 -> conv 8 -> 34 -> pool -> 17 -> conv 16 -> 15 -> pool -> 7, so 16·7·7 = 784 features.
    The convolutions cost 0.5 M multiply-adds per patch; the class layer 784 per class, three quarters
    of the work with 1850 classes. With `rank`, the class layer is factored through `rank` numbers
    (784 -> rank -> classes, nothing in between): a rank-64 layer does a quarter of the work. With
    `stride`, a 4×4 convolution at stride 2 replaces the first convolution and its pool (36 -> 17 at
    once): 0.11 M multiply-adds instead of 0.25 M, and no 34×34 activations to pool. With `half`, the
    net reads the patch at half its size, nearer what a camera's or a film's cell holds (8 or 4 source
    pixels): 2×2 means (18×18), a 3×3 convolution (16×16×8) and one at stride 2 (7×7×16, the same 784
    features): 0.11 M multiply-adds for the two, no pool, and the browser brings a cell to 18×18, not
    36×36 (docs/BENCHMARKS.md, "Live camera while panning").

    As run, each convolution computes only what the pools keep (`seen`): 32×32 and 14×14 outputs,
    0.45 M multiply-adds a patch for the two (0.10 M for the stride-2 first convolution).
    """
    def __init__(self, classes: int, rank: int | None = None, stride: bool = False, half: bool = False):
        head = [nn.Linear(FEATURES, classes)] if rank is None else [nn.Linear(FEATURES, rank, bias=False), nn.Linear(rank, classes)]
        self.rank = rank
        self.reads = PATCH // 2 if half else PATCH  # the patch size it reads best: a half net's 18×18 are its own
        if half:  # the patch halved to 18×18 (2×2 means), then 3×3 convolutions: 16×16, and 7×7 at stride 2
            self.layers = [halve, nn.Conv2d(3, 8, 3), Tensor.relu, nn.Conv2d(8, 16, 3, stride=2), Tensor.relu, flatten, *head]
        else:  # stride: the first convolution 4×4 at stride 2 (36 -> 17 directly) in place of 3×3 and a pool
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
        first (the 1/255 goes into its weights). tinygrad's own kernel for it, fused with the pool, is
        slow on a CPU; this way the layer takes a fraction of the time (docs/BENCHMARKS.md, "The net made
        cheaper", has the figures). A half net takes (N, 18, 18, 3) as well: the cells read at 18 px."""
        first, size = self.layers[0], self.seen[0]
        if first is halve and patches.shape[1] == self.reads:  # read at 18 px: the halving is done
            return self(convolve(patches[:, :self.seen[1], :self.seen[1]], self.layers[1], 1 / 255).permute(0, 3, 1, 2), start=2)
        if first is halve:  # the 2×2 means as a sum of four (the 1/4 goes into the weights with the 1/255)
            x = patches[:, :size, :size].cast(dtypes.float32).reshape(len(patches), size // 2, 2, size // 2, 2, 3).sum((2, 4))
            return self(convolve(x[:, :self.seen[1], :self.seen[1]], self.layers[1], 1 / 1020).permute(0, 3, 1, 2), start=2)
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
            elif layer is Tensor.max_pool2d or layer is halve:
                size *= 2
            sizes.append(size)
        return sizes[::-1]

    def convolutions(self) -> list[nn.Conv2d]:
        return [layer for layer in self.layers if isinstance(layer, nn.Conv2d)]

    def class_layer(self) -> tuple[np.ndarray, np.ndarray]:
        """The class layer as one matrix and bias: (classes, 784) and (classes,), whatever its rank."""
        last = self.layers[-1]
        weight = last.weight.numpy() if self.rank is None else last.weight.numpy() @ self.layers[-2].weight.numpy()
        return weight, last.bias.numpy()

    def start_from(self, other: "TinyConvNet", rows: np.ndarray | None = None) -> None:
        """Take another TinyConvNet's weights (any rank): the convolutions as they are (first with first,
        second with second), the class layer exactly or, to a lower rank, as its best approximation
        (truncated SVD). `rows`: for a net of other classes (another emoji set), the row of `other`'s
        class layer each of this net's classes takes, -1 where `other` has no such class: those start
        from the mean row, with a little noise so that they part."""
        for mine, theirs in zip(self.convolutions(), other.convolutions()):
            if mine.weight.shape != theirs.weight.shape:
                continue  # another first convolution: it starts afresh, the rest starts trained
            mine.weight.assign(theirs.weight.contiguous()).realize()
            mine.bias.assign(theirs.bias.contiguous()).realize()
        weight, bias = other.class_layer()
        if rows is not None:
            known, noise = rows >= 0, np.random.default_rng(0).normal(0, weight.std() / 10, (len(rows), FEATURES))
            weight = np.where(known[:, None], weight[np.maximum(rows, 0)], weight.mean(0) + noise).astype(np.float32)
            bias = np.where(known, bias[np.maximum(rows, 0)], bias.mean()).astype(np.float32)
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


def halve(x: Tensor) -> Tensor:
    """The patch at half its size: the mean of each 2×2 block."""
    return x.avg_pool2d(2)


def same(x: Tensor) -> Tensor:
    """Stands in for the stride-2 net's pool, so every architecture has its layers at the same places."""
    return x


ARCHITECTURES = {name: partial(TinyConvNet, **options) for name, options in ARCHS.items()}


def as_input(patches: Tensor) -> Tensor:
    """(N, 36, 36, 3) uint8 patches, as numpy makes them -> the net's (N, 3, 36, 36) floats in [0, 1]."""
    return patches.permute(0, 3, 1, 2).cast(dtypes.float32) / 255
