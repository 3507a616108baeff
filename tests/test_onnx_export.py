"""The net as ONNX graphs against tinygrad and numpy (onnxruntime from PyPI, a test extra)."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pic2emoji.runtime import Classifier
from pic2emoji.converter import Converter
from pic2emoji.files import shipped_dir
from pic2emoji.modelfile import load_model
from pic2emoji.onnx_export import TOP, cells_graph, net_graph, up_matrix
from pic2emoji.photo import cut_patches
from pic2emoji.pixels import upsample_cells
from pic2emoji.views import STEADY, view_of

from conftest import needs

PHOTO = Path(__file__).resolve().parent.parent / "examples" / "photos" / "chelsea.png"
NOTO = shipped_dir("emoji_sets") / "noto"


def session(proto):
    ort = needs("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


def frame_of(image: np.ndarray) -> np.ndarray:
    """RGB (h, w, 3) -> the graph's (1, h, w, 4) RGBA, as canvas getImageData gives it."""
    return np.concatenate([image, np.full(image.shape[:2] + (1,), 255, np.uint8)], 2)[None]


@pytest.mark.parametrize("k", [3, 8, 13])
def test_cells_graph_cuts_the_frame_as_serve_does(k):
    rng = np.random.default_rng(k)
    rows, cols = 5, 7
    image = rng.integers(0, 256, (rows * k, cols * k, 3), dtype=np.uint8)
    cells, view = session(cells_graph()).run(None, {"frame": frame_of(image), "up": up_matrix(k)})
    patches = cut_patches(upsample_cells(image, (rows, cols)), (rows, cols))  # what serve.py gives the net
    each = image.reshape(rows, k, cols, k, 3).transpose(0, 2, 4, 1, 3).reshape(-1, 3, k, k)  # row by row, NCHW
    assert cells.shape == (rows * cols, 3, k, k) and np.array_equal(np.round(cells * 255), each)
    assert np.allclose(view, view_of(patches.astype(np.float32)), atol=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["noto", "noto-r64"])
def test_onnx_net_picks_what_tinygrad_picks(model):
    """The shipped models on a real photo at 54×72, both palettes: ≥ 99.9% of cells alike (float
    rounding may part near-ties), and the steady rule as views.steady."""
    converter = Converter(NOTO, shipped_dir("models") / f"{model}.safetensors")
    frame = np.asarray(Image.open(PHOTO).convert("RGB").resize((72 * 8, 54 * 8), Image.LANCZOS))
    cells, view = session(cells_graph()).run(None, {"frame": frame_of(frame), "up": up_matrix(8)})
    patches = cut_patches(upsample_cells(frame, (54, 72)), (54, 72))
    weights = load_model(converter.model.path)
    for palette in ("all", "terminal"):
        allowed = converter.allowed(palette)
        net = session(net_graph(weights, converter.views_on(), allowed, STEADY))
        feed = {"cells": cells, "up": up_matrix(8), "view": view}
        _, pick, top = net.run(None, {**feed, "previous": np.full(len(cells), -1, np.int32)})
        expected = Classifier(weights.net, len(weights.classes))(patches, allowed)  # the net on the 36-px patches, as the graph
        assert (pick == expected).mean() >= 0.999, (palette, (pick != expected).sum())
        assert allowed[pick].all() and allowed[top].all() and (top[:, 0] == pick).all()
        assert top.shape == (len(cells), TOP) and all(len(set(row)) == TOP for row in top)
        # steady: against a previous grid of which half the cells are some other allowed emoji
        rng = np.random.default_rng(0)
        previous = np.where(rng.random(len(pick)) < 0.5, rng.choice(np.flatnonzero(allowed), len(pick)), pick)
        steady, *_ = net.run(None, {**feed, "previous": previous.astype(np.int32)})
        expected_steady = converter.steady(patches, pick.reshape(54, 72), previous.reshape(54, 72)).ravel()
        assert (steady == expected_steady).mean() >= 0.999
        assert 0 < (steady == previous).mean() < 1  # some kept, some not: the rule was exercised
