"""The net's architectures by name, without tinygrad: what a model file may name, the weights each
holds and how it reads a patch. net.py builds each as a TinyConvNet (tinygrad); host.py runs one in
numpy. Both are checked against each other in the tests, layer by layer."""
from .defaults import PATCH

FEATURES = 16 * 7 * 7  # what the convolutions hand to the class layer: 16 channels of 7×7

# TinyConvNet's keywords for each name (net.TinyConvNet says what rank, stride and half change).
ARCHS = {"tinyconv": {}, "tinyconv-r64": {"rank": 64}, "tinyconv-s2r64": {"rank": 64, "stride": True},
         "tinyconv-hr64": {"rank": 64, "half": True}}


def reads(arch: str) -> int:
    """The patch size a net of this architecture reads best: a half net's 18×18, else the whole 36×36."""
    return PATCH // 2 if ARCHS[arch].get("half") else PATCH


def convolutions(arch: str) -> list[tuple[str, int, int, bool]]:
    """Each convolution of the net, first first: (its weights' name, kernel size, stride, whether a 2×2
    max-pool follows it). Between and after them: ReLU; before them, for a half net given a whole
    patch, 2×2 means."""
    options = ARCHS[arch]
    if options.get("half"):  # layers: halve, conv, relu, conv, relu, flatten, head
        return [("layers.1", 3, 1, False), ("layers.3", 3, 2, False)]
    if options.get("stride"):  # conv, relu, (no pool), conv, relu, pool, flatten, head
        return [("layers.0", 4, 2, False), ("layers.3", 3, 1, True)]
    return [("layers.0", 3, 1, True), ("layers.3", 3, 1, True)]  # conv, relu, pool, conv, relu, pool, ...


def head(arch: str) -> list[str]:
    """The class layer's weights' names: one layer, or two through the rank (the first without bias)."""
    first = 6 if ARCHS[arch].get("half") else 7
    return [f"layers.{first}"] if ARCHS[arch].get("rank") is None else [f"layers.{first}", f"layers.{first + 1}"]


def weight_shapes(arch: str, classes: int) -> dict[str, tuple[int, ...]]:
    """Every array a model file of this architecture holds, by name, with its shape."""
    shapes, channels = {}, 3
    for (name, size, _, _), out in zip(convolutions(arch), (8, 16)):
        shapes[f"{name}.weight"], shapes[f"{name}.bias"] = (out, channels, size, size), (out,)
        channels = out
    rank, names = ARCHS[arch].get("rank"), head(arch)
    if rank is None:
        shapes[f"{names[0]}.weight"], shapes[f"{names[0]}.bias"] = (classes, FEATURES), (classes,)
    else:
        shapes[f"{names[0]}.weight"] = (rank, FEATURES)
        shapes[f"{names[1]}.weight"], shapes[f"{names[1]}.bias"] = (classes, rank), (classes,)
    return shapes
