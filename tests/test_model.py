"""The net and its file: a numpy oracle for the forward pass, save/load, metadata, damage, the cached net."""
import contextlib
import json
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from tinygrad import Tensor
from tinygrad.nn.state import get_state_dict

import pic2emoji.model as model_module

from pic2emoji.emoji_sets import load_emoji_set
from pic2emoji.errors import ModelError, OutputError
from pic2emoji.files import shipped_dir
from pic2emoji.model import (Classifier, TinyConvNet, as_input, check_model_fits, jit_cache_file, load_model,
                             model_path, new_model, save_model)


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

    if weights["layers.0.weight"].shape[-1] == 4:  # the stride-2 first convolution, no pool after it
        x = np.maximum(conv(x, weights["layers.0.weight"], weights["layers.0.bias"], 2), 0)
    else:
        x = pool(np.maximum(conv(x, weights["layers.0.weight"], weights["layers.0.bias"]), 0))
    x = pool(np.maximum(conv(x, weights["layers.3.weight"], weights["layers.3.bias"]), 0)).reshape(len(x), -1)
    if "layers.8.weight" in weights:  # the class layer at low rank: two matrices, nothing between them
        return x @ weights["layers.7.weight"].T @ weights["layers.8.weight"].T + weights["layers.8.bias"]
    return x @ weights["layers.7.weight"].T + weights["layers.7.bias"]


@pytest.mark.parametrize("rank, stride", [(None, False), (4, False), (4, True)])
def test_tinygrad_forward_and_classify_match_numpy_reference(rank, stride):
    net = TinyConvNet(7, rank, stride)
    patches = np.random.default_rng(0).integers(0, 256, (5, 36, 36, 3), dtype=np.uint8)
    ours = net(as_input(Tensor(patches))).numpy()
    reference = numpy_forward({k: v.numpy() for k, v in get_state_dict(net).items()}, patches)
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-4)
    # the inference layout (bytes in, the first convolution as a matrix product): the same
    np.testing.assert_allclose(net.classify(Tensor(patches)).numpy(), reference, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("stride", [False, True])
def test_the_net_never_sees_a_patchs_last_two_rows_and_columns(stride):
    """What lets each convolution skip them (TinyConvNet.seen): the pools drop an odd last row."""
    net = TinyConvNet(7, 4, stride)
    assert net.seen == ([34, 16, 16, 16, 14, 14, 7, 7, 7] if stride else [34, 32, 32, 16, 14, 14, 7, 7, 7])
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


def test_classifier_pads_the_last_chunk_and_keeps_order():
    net = TinyConvNet(5)
    patches = np.random.default_rng(1).integers(0, 256, (1400, 36, 36, 3), dtype=np.uint8)
    logits = net(as_input(Tensor(patches))).numpy()
    classifier = Classifier(net, 5)
    picks = classifier(patches)
    assert picks.shape == (1400,) and classifier.batch < 1400  # two chunks, the second padded
    assert (picks == logits.argmax(1)).mean() > 0.99  # float ties aside
    allowed = np.array([False, True, False, True, False])
    masked = classifier(patches, allowed)
    assert set(np.unique(masked)) <= {1, 3}
    assert (masked == np.where(logits[:, 1] >= logits[:, 3], 1, 3)).mean() > 0.99


def test_save_load_gives_identical_logits(tiny_model, tmp_path):
    model = load_model(tiny_model)
    patches = np.random.default_rng(2).integers(0, 256, (16, 36, 36, 3), dtype=np.uint8)
    before = model.net(as_input(Tensor(patches))).numpy()
    save_model(model, tmp_path / "copy.safetensors")
    again = load_model(tmp_path / "copy.safetensors")
    np.testing.assert_array_equal(again.net(as_input(Tensor(patches))).numpy(), before)
    assert (again.classes, again.chars, again.background, again.accuracy) == \
           (model.classes, model.chars, model.background, model.accuracy)


def test_metadata_is_plain_strings_readable_by_safetensors(tiny_model, tiny_set):
    with safe_open(str(tiny_model), "numpy") as f:
        meta = f.metadata()
        assert set(f.keys()) == {"layers.0.weight", "layers.0.bias", "layers.3.weight", "layers.3.bias",
                                 "layers.7.weight", "layers.7.bias"}
    assert all(isinstance(v, str) for v in meta.values())
    assert meta["format"] == "pic2emoji-model" and meta["arch"] == "tinyconv" and meta["patch"] == "36"
    assert json.loads(meta["classes"]) == sorted(p.name for p in tiny_set.glob("*.png"))
    assert json.loads(meta["background"]) == [128, 128, 128]
    assert 0.9 <= float(meta["accuracy"]) <= 1


def test_model_knows_its_files(tiny_model, tiny_set):
    assert load_model(tiny_model).files == {p.name for p in tiny_set.glob("*.png")}


def test_new_model_is_seeded():
    a = new_model("tinyconv", "s", ["a", "b"], ["🟥", "🟦"], {}, (0, 0, 0), seed=3)
    b = new_model("tinyconv", "s", ["a", "b"], ["🟥", "🟦"], {}, (0, 0, 0), seed=3)
    np.testing.assert_array_equal(a.net.layers[0].weight.numpy(), b.net.layers[0].weight.numpy())


def _edit_metadata(source, target, **changes):
    model = load_model(source)
    save_model(model, target)
    raw = target.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    header["__metadata__"].update(changes)
    text = json.dumps(header).encode()
    target.write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + n:])
    return target


@pytest.mark.parametrize("damage, message", [
    (lambda src, dst: dst.write_bytes(src.read_bytes()[:len(src.read_bytes()) // 2]), "truncated"),
    (lambda src, dst: dst.write_bytes(b"PK\x03\x04 a zip file, not a model"), "not a pic2emoji model"),
    (lambda src, dst: dst.write_bytes(b""), "not a pic2emoji model"),
    (lambda src, dst: _edit_metadata(src, dst, format_version="0"), "format version 0"),
    (lambda src, dst: _edit_metadata(src, dst, classes=json.dumps(["a.png"] * 13), chars=json.dumps(["a"] * 13)),
     "damaged or inconsistent"),
    (lambda src, dst: _edit_metadata(src, dst, format="something-else"), "not a pic2emoji model"),
])
def test_damaged_models_are_refused(tiny_model, tmp_path, damage, message):
    bad = tmp_path / "bad.safetensors"
    damage(tiny_model, bad)
    with pytest.raises(ModelError, match=message):
        load_model(bad)


def test_disk_full_while_saving_keeps_the_old_model(tiny_model, tmp_path, monkeypatch):
    target = tmp_path / "m.safetensors"
    target.write_bytes(tiny_model.read_bytes())
    before = target.read_bytes()

    def full_disk(tensors, path, metadata=None):
        with open(path, "wb") as f:
            f.write(b"half a model")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(model_module, "save_file", full_disk)
    with pytest.raises(OutputError, match="No space left on device.*untouched"):
        save_model(load_model(tiny_model), target)
    assert target.read_bytes() == before and list(tmp_path.iterdir()) == [target]


def test_a_captured_net_is_cached_and_gives_the_same_picks(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("PIC2EMOJI_CACHE_DIR", str(tmp_path))
    model = load_model(tiny_model)
    cache = jit_cache_file(tiny_model, Classifier.batch)
    patches = np.random.default_rng(4).integers(0, 256, (50, 36, 36, 3), dtype=np.uint8)
    first = Classifier(model.net, len(model.classes), cache=cache)
    picks = first(patches)
    assert not cache.exists()  # one call runs the net; the second captures it, and then it is saved
    assert (first(patches) == picks).all() and cache.is_file()
    again = Classifier(TinyConvNet(len(model.classes)), len(model.classes), cache=cache)  # weights come from the cache
    assert again._pick.captured is not None
    assert (again(patches) == picks).all()
    cache.write_bytes(b"damaged")  # a bad cache file is captured anew and replaced
    fresh = Classifier(model.net, len(model.classes), cache=cache)
    assert (fresh(patches) == picks).all() and (fresh(patches) == picks).all() and cache.read_bytes() != b"damaged"


CAPTURE = """
import sys, numpy as np
from pic2emoji.model import Classifier, load_model
patches = np.random.default_rng(6).integers(0, 256, (40, 36, 36, 3), dtype=np.uint8)
if len(sys.argv) > 3:  # another net of the same shapes runs first, its buffers numbered as the cached net's were
    first = load_model(sys.argv[3])
    Classifier(first.net, len(first.classes))(patches)
model = load_model(sys.argv[1])
picks = Classifier(model.net, len(model.classes), cache=__import__("pathlib").Path(sys.argv[2]))
print(" ".join(map(str, picks(patches))), " ".join(map(str, picks(patches))))
"""


def test_a_cached_net_loads_as_itself_beside_another_net(tiny_model, tmp_path):
    """A captured net is saved in one process and loaded in another where a net of the same shapes was
    made first: tinygrad names buffers by a number counted per process, and without FreshBuffers the
    loaded net silently took the other net's weights (issue found in review: every pick wrong)."""
    import subprocess
    import sys
    model = load_model(tiny_model)
    other = new_model(model.arch, model.emoji_set, model.classes, model.chars, model.merged, model.background, seed=9)
    save_model(other, tmp_path / "other.safetensors")
    cache = tmp_path / "net.jit"
    script = lambda *args: subprocess.run([sys.executable, "-c", CAPTURE, str(tiny_model), str(cache), *map(str, args)],
                                          capture_output=True, text=True, check=True).stdout.split()
    captured = script()
    assert cache.is_file()
    loaded = script(tmp_path / "other.safetensors")
    assert loaded == captured
    assert script(tmp_path / "other.safetensors") == captured


def test_the_cache_file_follows_the_model_bytes(tiny_model, tmp_path):
    copy = tmp_path / tiny_model.name
    copy.write_bytes(tiny_model.read_bytes())
    assert jit_cache_file(copy, 1296) == jit_cache_file(tiny_model, 1296) != jit_cache_file(tiny_model, 512)
    copy.write_bytes(tiny_model.read_bytes() + b" ")
    assert jit_cache_file(copy, 1296) != jit_cache_file(tiny_model, 1296)


def test_tune_captures_under_beam_search_and_marks_the_cache(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("PIC2EMOJI_CACHE_DIR", str(tmp_path))
    asked = []  # a real BEAM search takes minutes on a fresh machine: here we check it is asked for
    monkeypatch.setattr(model_module, "Context", lambda **settings: asked.append(settings) or contextlib.nullcontext())
    model = load_model(tiny_model)
    cache = jit_cache_file(tiny_model, Classifier.batch)
    patches = np.random.default_rng(5).integers(0, 256, (20, 36, 36, 3), dtype=np.uint8)
    plain = Classifier(model.net, len(model.classes), cache=cache)
    picks = plain(patches)
    assert plain.tuned is None and asked == []
    plain.tune(beam=3)
    assert asked == [{"BEAM": 3}] and plain.tuned == "BEAM=3" and cache.is_file()
    tuned = Classifier(model.net, len(model.classes), cache=cache)
    assert tuned.tuned == "BEAM=3" and (tuned(patches) == picks).all()
    tuned.cache.unlink()
    again = Classifier(model.net, len(model.classes), cache=cache)  # captured anew: no longer tuned
    again(patches), again(patches)
    assert again.tuned is None and cache.is_file()


def test_shipped_models_fit_their_sets_and_keep_their_accuracy():
    models = sorted(shipped_dir("models").glob("*.safetensors"))
    assert {m.name for m in models} >= {"noto.safetensors", "noto-fast.safetensors", "noto-tinyconv.safetensors",
                                        "noto-small.safetensors"}
    for path in models:
        model = load_model(path)
        check_model_fits(model, load_emoji_set(model.emoji_set, lazy=True))
        assert model.accuracy >= 0.95, path
    assert load_model(shipped_dir("models") / "noto.safetensors").arch == "tinyconv-r64"
    assert load_model(shipped_dir("models") / "noto-fast.safetensors").arch == "tinyconv-s2r64"


def test_the_live_camera_picks_the_fast_model_beside_the_default(tmp_path, monkeypatch):
    shipped = shipped_dir("models")
    monkeypatch.chdir(tmp_path)  # no models/ here (in a checkout, ./models is the shipped folder itself)
    assert model_path("noto") == shipped / "noto.safetensors"
    assert model_path("noto", fast=True) == shipped / "noto-fast.safetensors"
    assert model_path("noto-small", fast=True) == shipped / "noto-small.safetensors"  # no fast one: the default
    # a model trained here wins, and its folder has no fast one
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "noto.safetensors").write_bytes((shipped / "noto.safetensors").read_bytes())
    assert model_path("noto", fast=True) == Path("models") / "noto.safetensors"


def test_a_cached_net_is_used_without_reading_the_weights(tiny_set, tiny_model, tmp_path, monkeypatch):
    import pic2emoji.infer as infer
    monkeypatch.setenv("PIC2EMOJI_CACHE_DIR", str(tmp_path))
    patches = np.random.default_rng(6).integers(0, 256, (30, 36, 36, 3), dtype=np.uint8)
    first = infer.Converter(tiny_set, tiny_model)  # nothing cached: the weights are read and the net captured
    assert first.model.net is not None
    picks = first.classifier(patches)
    first.classifier(patches)
    assert jit_cache_file(tiny_model, Classifier.batch).is_file()

    def no_reading(model):
        raise AssertionError("the weights were read although the captured net is cached")
    monkeypatch.setattr(infer, "load_weights", no_reading)
    again = infer.Converter(tiny_set, tiny_model)
    assert again.model.net is None and (again.classifier(patches) == picks).all()
