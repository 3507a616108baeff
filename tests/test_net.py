"""The net: a numpy oracle for the forward pass, what it looks at, starting from another net's weights."""
import numpy as np
import pytest
from tinygrad import Tensor
from tinygrad.nn.state import get_state_dict

from pic2emoji.net import TinyConvNet, as_input


def numpy_forward(weights, patches):
    """The seed net written again in plain numpy: the oracle for tinygrad's forward pass."""
    x = patches.astype(np.float64).transpose(0, 3, 1, 2) / 255

    def conv(x, w, b, s=1):
        n, c, h, width = x.shape
        k = w.shape[-1]
        cols = np.stack([x[:, :, i:i + h - k + 1:s, j:j + width - k + 1:s] for i in range(k) for j in range(k)], 2)
        return np.einsum("nckhw,ock->nohw", cols, w.reshape(w.shape[0], c, k * k)) + b[None, :, None, None]

    def pool(x):
        n, c, h, w = x.shape
        return x[:, :, :h // 2 * 2, :w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2).max((3, 5))

    if "layers.0.weight" not in weights:  # the half net: 2×2 means, 3×3, then 3×3 at stride 2, no pools
        n, c, h, w = x.shape
        x = x.reshape(n, c, h // 2, 2, w // 2, 2).mean((3, 5))
        x = np.maximum(conv(x, weights["layers.1.weight"], weights["layers.1.bias"]), 0)
        x = np.maximum(conv(x, weights["layers.3.weight"], weights["layers.3.bias"], 2), 0).reshape(len(x), -1)
        last = 6
    else:
        if weights["layers.0.weight"].shape[-1] == 4:  # the stride-2 first convolution, no pool after it
            x = np.maximum(conv(x, weights["layers.0.weight"], weights["layers.0.bias"], 2), 0)
        else:
            x = pool(np.maximum(conv(x, weights["layers.0.weight"], weights["layers.0.bias"]), 0))
        x = pool(np.maximum(conv(x, weights["layers.3.weight"], weights["layers.3.bias"]), 0)).reshape(len(x), -1)
        last = 7
    if f"layers.{last + 1}.weight" in weights:  # the class layer at low rank: two matrices, nothing between them
        return x @ weights[f"layers.{last}.weight"].T @ weights[f"layers.{last + 1}.weight"].T + weights[f"layers.{last + 1}.bias"]
    return x @ weights[f"layers.{last}.weight"].T + weights[f"layers.{last}.bias"]


@pytest.mark.parametrize("rank, stride, half", [(None, False, False), (4, False, False), (4, True, False), (4, False, True)])
def test_tinygrad_forward_and_classify_match_numpy_reference(rank, stride, half):
    net = TinyConvNet(7, rank, stride, half)
    patches = np.random.default_rng(0).integers(0, 256, (5, 36, 36, 3), dtype=np.uint8)
    ours = net(as_input(Tensor(patches))).numpy()
    reference = numpy_forward({k: v.numpy() for k, v in get_state_dict(net).items()}, patches)
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-4)
    # the inference layout (bytes in, the first convolution as a matrix product): the same
    np.testing.assert_allclose(net.classify(Tensor(patches)).numpy(), reference, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("stride, half", [(False, False), (True, False), (False, True)])
def test_the_net_never_sees_a_patchs_last_two_rows_and_columns(stride, half):
    """What lets each convolution skip them (TinyConvNet.seen): the pools drop an odd last row; the half
    net's stride-2 convolution reads 15 of its 16 rows."""
    net = TinyConvNet(7, 4, stride, half)
    assert net.seen == {(False, False): [34, 32, 32, 16, 14, 14, 7, 7, 7], (True, False): [34, 16, 16, 16, 14, 14, 7, 7, 7],
                        (False, True): [34, 17, 15, 15, 7, 7, 7, 7]}[stride, half]
    rng = np.random.default_rng(4)
    patches = rng.integers(0, 256, (3, 36, 36, 3), dtype=np.uint8)
    other = patches.copy()
    other[:, 34:], other[:, :, 34:] = rng.integers(0, 256, (3, 2, 36, 3)), rng.integers(0, 256, (3, 36, 2, 3))
    weights = {k: v.numpy() for k, v in get_state_dict(net).items()}
    np.testing.assert_array_equal(numpy_forward(weights, other), numpy_forward(weights, patches))
    other[:, 33] = 255 - other[:, 33]  # the row before them counts
    assert not np.allclose(numpy_forward(weights, other), numpy_forward(weights, patches))


def test_start_from_copies_or_factors_the_class_layer():
    patches = np.random.default_rng(3).integers(0, 256, (6, 36, 36, 3), dtype=np.uint8)
    logits = lambda net: net(as_input(Tensor(patches))).numpy()
    full = TinyConvNet(7)
    exact = TinyConvNet(7, rank=64)  # 7 classes: rank 7 is enough, so the factoring is exact
    exact.start_from(full)
    np.testing.assert_allclose(logits(exact), logits(full), rtol=1e-4, atol=1e-4)
    back = TinyConvNet(7)
    back.start_from(exact)
    np.testing.assert_allclose(logits(back), logits(full), rtol=1e-4, atol=1e-4)
    low = TinyConvNet(7, rank=2)  # truly lower: the best rank-2 approximation, by SVD
    low.start_from(full)
    weight, bias = full.class_layer()
    u, s, vt = np.linalg.svd(weight)
    np.testing.assert_allclose(low.class_layer()[0], (u[:, :2] * s[:2]) @ vt[:2], rtol=1e-4, atol=1e-5)
    strided = TinyConvNet(7, rank=64, stride=True)  # another first convolution: only it starts afresh
    first = strided.layers[0].weight.numpy()
    strided.start_from(full)
    np.testing.assert_array_equal(strided.layers[0].weight.numpy(), first)
    np.testing.assert_array_equal(strided.layers[3].weight.numpy(), full.layers[3].weight.numpy())
    np.testing.assert_allclose(strided.class_layer()[0], weight, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("rank", [None, 64])
def test_a_net_of_other_classes_starts_from_the_shared_ones(rank):
    """Another emoji set: the convolutions as they are, each shared class's row of the class layer, and
    for a class the other net lacks a row of its own near the mean (to a rank's precision)."""
    other = TinyConvNet(5)
    net = TinyConvNet(4, rank)
    rows = np.array([3, -1, 0, -1])
    net.start_from(other, rows)
    for mine, theirs in zip(net.convolutions(), other.convolutions()):
        assert np.array_equal(mine.weight.numpy(), theirs.weight.numpy())
    (weight, bias), (w, b) = net.class_layer(), other.class_layer()
    np.testing.assert_allclose(weight[[0, 2]], w[[3, 0]], atol=1e-5)
    np.testing.assert_allclose(bias, [b[3], b.mean(), b[0], b.mean()], atol=1e-6)
    assert not np.allclose(weight[1], weight[3])  # the new classes part from the start
    assert np.abs(weight[1] - w.mean(0)).max() < np.abs(w - w.mean(0)).max()
