"""The net as ONNX graphs, for onnxruntime-web in the browser (web.py), or any other runtime.

Two graphs, so that the page runs the net only on the cells that changed (a still camera changes few):

cells.onnx: what a browser has in hand, a camera frame drawn at k px per cell as canvas RGBA, cut up
    frame   uint8 (1, rows·k, cols·k, 4)   RGBA, row by row, as getImageData gives it
    up      float32 (36, k)                up_matrix(k): which source pixel each of 36 takes
  ->
    cells   float32 (rows·cols, 3, k, k)   each cell's pixels in [0, 1], row by row
    view    float32 (rows·cols, 108)       each cell's 6×6 block means (0..255) once brought to 36×36:
                                           views.view_of, what the steady rule compares

net.onnx: the model's net on any number of those cells, and the steady rule (views.steady)
    cells, up                              as above, for the cells to classify
    view    float32 (M, 108)               their views
    previous int32 (M,)                    each cell's emoji on screen, or -1 for none
  ->
    class   int32 (M,)                     what is on screen next: the arg-max, unless `previous` is
                                           within the steady margin of it
    pick    int32 (M,)                     the plain arg-max (what `infer --method net` would pick)
    top     int32 (M, TOP)                 the TOP classes the net rates highest, best first (the page's
                                           cells that skip the net choose among their own and their
                                           neighbours': live.follow)

Each cell is brought to 36×36 by nearest neighbour (pixels.nearest_pattern, as serve.py does) with two
products by the 0/1 matrix `up`: exact, and far cheaper than gathering pixels (docs/BENCHMARKS.md). A
palette leaves the classes it does not allow out of the class layer. rows, cols, k and M are free
dimensions: one pair of graphs serves any grid and any band of it. Written with the `onnx` package from
the model's own weights; opset OPSET.
"""
import numpy as np

from .defaults import PATCH, VIEW, VIEW_SIZE
from .modelfile import Model
from .net import flatten, halve, same
from .pixels import nearest_pattern
from .views import STEADY, STEADY_NOISE

OPSET = 17
TOP = 8  # net.onnx's `top`: each cell's best classes, which the page's cells that skip the net choose among
IR_VERSION = 8  # read by onnxruntime 1.14 and later, onnxruntime-web included


def up_matrix(k: int) -> np.ndarray:
    """The graphs' `up` input for a frame of k px per cell: (36, k), 1 where output pixel j takes source
    pixel pixels.nearest_pattern(k)[j]."""
    return (nearest_pattern(k)[:, None] == np.arange(k)).astype(np.float32)


class _Graph:
    """A graph written node by node: each node() returns its (made-up) output name."""
    def __init__(self):
        from onnx import numpy_helper
        self.nodes, self.constants, self.to_tensor = [], {}, numpy_helper.from_array

    def node(self, op: str, *inputs: str, out: str | None = None, outs: int = 1, **attributes):
        """The node's output name, or with `outs` > 1 the tuple of its outputs' names."""
        from onnx import helper
        out = out or f"{op.lower()}_{len(self.nodes)}"
        names = [out] + [f"{out}_{i}" for i in range(1, outs)]
        self.nodes.append(helper.make_node(op, list(inputs), names, **attributes))
        return out if outs == 1 else tuple(names)

    def const(self, name: str, value) -> str:
        self.constants[name] = np.asarray(value)
        return name

    def ints(self, *values: int) -> str:
        return self.const("ints_" + "_".join(str(v).replace("-", "m") for v in values), np.array(values, np.int64))

    def model(self, name: str, inputs, outputs):
        import onnx
        from onnx import helper
        graph = helper.make_graph(self.nodes, name, inputs, outputs,
                                  [self.to_tensor(v, k) for k, v in self.constants.items()])
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="pic2emoji")
        proto.ir_version = IR_VERSION
        onnx.checker.check_model(proto, full_check=True)
        return proto


def _tensor(name: str, kind: str, shape):
    from onnx import TensorProto, helper
    return helper.make_tensor_value_info(name, getattr(TensorProto, kind), shape)


def _up(g: _Graph, cells: str, up: str = "up") -> str:
    """(N, 3, k, k) -> (N, 3, n, n): up · cell · upᵀ, for an `up` of (n, k)."""
    return g.node("MatMul", g.node("MatMul", up, cells), g.node("Transpose", up, perm=[1, 0]))


def _halved(g: _Graph) -> str:
    """`up` (36, k) with its rows averaged in pairs, (18, k): bringing a cell to 36×36 and halving it
    (net.halve) in one product each side, at a quarter of the work."""
    k = g.node("Slice", g.node("Shape", "up"), g.ints(1), g.ints(2))
    pairs = g.node("Reshape", "up", g.node("Concat", g.ints(PATCH // 2, 2), k, axis=0))
    return g.node("ReduceMean", pairs, axes=[1], keepdims=0)


def cells_graph():
    """cells.onnx (see the module's docstring): the frame cut into cells, and their views."""
    from onnx import TensorProto
    g = _Graph()
    rgb = g.node("Squeeze", g.node("Slice", "frame", g.ints(0), g.ints(3), g.ints(3)), g.ints(0))  # (H, W, 3)
    rgb = g.node("Mul", g.node("Cast", rgb, to=TensorProto.FLOAT), g.const("scale", np.float32(1 / 255)))
    rgb = g.node("Transpose", rgb, perm=[2, 0, 1])  # (3, rows·k, cols·k)
    k = g.node("Slice", g.node("Shape", "up"), g.ints(1), g.ints(2))
    size = g.node("Shape", rgb)
    rows, cols = (g.node("Div", g.node("Slice", size, g.ints(a), g.ints(a + 1)), k) for a in (1, 2))
    grid = g.node("Reshape", rgb, g.node("Concat", g.ints(3), rows, k, cols, k, axis=0))  # (3, rows, k, cols, k)
    g.node("Reshape", g.node("Transpose", grid, perm=[1, 3, 0, 2, 4]),  # (rows, cols, 3, k, k), row by row
           g.node("Concat", g.ints(-1, 3), k, k, axis=0), out="cells")
    # 6×6 block means of the 36×36 patch straight from the k×k cell: blocks · cell · blocksᵀ, where
    # blocks (6, k) is up's rows averaged six at a time; in views.view_of's (6, 6, 3) order, 0..255
    rows_per_block = PATCH // VIEW
    blocks = g.node("ReduceMean", g.node("Reshape", "up", g.node("Concat", g.ints(VIEW, rows_per_block), k, axis=0)),
                    axes=[1], keepdims=0)
    view = g.node("MatMul", g.node("MatMul", blocks, "cells"), g.node("Transpose", blocks, perm=[1, 0]))
    view = g.node("Reshape", g.node("Transpose", view, perm=[0, 2, 3, 1]), g.ints(-1, VIEW_SIZE))
    g.node("Mul", view, g.const("to_255", np.float32(255)), out="view")
    return g.model("pic2emoji cells", [_tensor("frame", "UINT8", [1, "height", "width", 4]), _tensor("up", "FLOAT", [PATCH, "k"])],
                   [_tensor("cells", "FLOAT", ["cells", 3, "k", "k"]), _tensor("view", "FLOAT", ["cells", VIEW_SIZE])])


def net_graph(model: Model, class_views: np.ndarray, allowed: np.ndarray | None = None, margin: float = STEADY,
              noise: float = STEADY_NOISE):
    """net.onnx (see the module's docstring) for a model with its weights loaded. class_views: each
    class's (108,) view (Converter.views_on); allowed: a bool per class (a palette); margin and
    noise: the steady rule's, as views.steady."""
    from onnx import TensorProto
    from tinygrad.nn.state import get_state_dict
    g, net = _Graph(), model.net
    for name, tensor in get_state_dict(net).items():
        g.const(name, tensor.numpy().astype(np.float32))
    last = len(net.layers) - 1
    if allowed is not None:  # the class layer computes only the classes the palette allows
        kept = np.flatnonzero(allowed).astype(np.int64)
        for name in (f"layers.{last}.weight", f"layers.{last}.bias"):
            g.const(name, g.constants[name][kept])
    first = int(net.layers[0] is halve)  # a halving net: the 2×2 means folded into `up`
    x = _up(g, "cells", _halved(g) if first else "up")
    for i, (layer, size) in list(enumerate(zip(net.layers, net.seen)))[first:]:
        x = _layer(g, i, layer, x, size)
    pick = g.node("ArgMax", x, axis=1, keepdims=0)
    count = min(TOP, len(kept) if allowed is not None else len(g.constants[f"layers.{last}.bias"]))
    _, top = g.node("TopK", x, g.ints(count), axis=1, largest=1, sorted=1, outs=2)  # values, their classes
    if allowed is not None:  # back to the model's class numbers
        pick, top = (g.node("Gather", g.const("kept", kept), c, axis=0) for c in (pick, top))
    g.node("Cast", top, to=TensorProto.INT32, out="top")
    pick = g.node("Cast", pick, to=TensorProto.INT32, out="pick")
    # steady: keep `previous` where its view distance is within (1 + margin) of the pick's, plus noise
    views = g.const("class_views", np.asarray(class_views, np.float32))
    had = g.node("GreaterOrEqual", "previous", g.const("zero_i32", np.int32(0)))
    old = g.node("Max", "previous", "zero_i32")
    distance = [g.node("ReduceSum", g.node("Mul", d, d), g.ints(1), keepdims=0)
                for d in (g.node("Sub", "view", g.node("Gather", views, c, axis=0)) for c in (pick, old))]
    bound = g.node("Add", g.node("Mul", distance[0], g.const("margin", np.float32(1 + margin))),
                   g.const("noise", np.float32(noise)))
    keep = g.node("And", had, g.node("LessOrEqual", distance[1], bound))
    g.node("Where", keep, old, pick, out="class")
    return g.model(f"pic2emoji {model.arch} {model.emoji_set}",
                   [_tensor("cells", "FLOAT", ["cells", 3, "k", "k"]), _tensor("up", "FLOAT", [PATCH, "k"]),
                    _tensor("view", "FLOAT", ["cells", VIEW_SIZE]), _tensor("previous", "INT32", ["cells"])],
                   [_tensor("class", "INT32", ["cells"]), _tensor("pick", "INT32", ["cells"]),
                    _tensor("top", "INT32", ["cells", count])])


def _layer(g: _Graph, i: int, layer, x: str, size: int) -> str:
    """One of TinyConvNet's layers as ONNX, reading the weights by their state-dict names; a convolution
    reads the first `size` rows and columns of its input, all that reach the class layer (TinyConvNet.seen)."""
    from tinygrad import Tensor, nn
    if isinstance(layer, nn.Conv2d):
        x = g.node("Slice", x, g.ints(0, 0), g.ints(size, size), g.ints(2, 3))
        stride = [layer.stride] * 2 if isinstance(layer.stride, int) else list(layer.stride)
        return g.node("Conv", x, f"layers.{i}.weight", f"layers.{i}.bias", kernel_shape=list(layer.kernel_size), strides=stride)
    if isinstance(layer, nn.Linear):
        return g.node("Gemm", x, f"layers.{i}.weight", *([f"layers.{i}.bias"] if layer.bias is not None else []), transB=1)
    if layer is Tensor.relu:
        return g.node("Relu", x)
    if layer is Tensor.max_pool2d:
        return g.node("MaxPool", x, kernel_shape=[2, 2], strides=[2, 2])
    if layer is flatten:
        return g.node("Flatten", x, axis=1)
    if layer is same:
        return x
    raise ValueError(f"layer {i} ({layer!r}) has no ONNX form here")
