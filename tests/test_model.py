import json
import subprocess
import sys

import numpy as np
import pytest
from safetensors import safe_open
from tinygrad import Tensor

from pic2emoji.errors import ModelError, OutputError
from pic2emoji.model import Classifier, TinyConvNet, as_input, load_model, new_model, save_model
from pic2emoji.train import check_model_fits, checkpoint_path, evaluate, train
from pic2emoji.emoji_sets import load_emoji_set


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
def test_tinygrad_forward_matches_numpy_reference(rank, stride):
    from tinygrad.nn.state import get_state_dict
    net = TinyConvNet(7, rank, stride)
    patches = np.random.default_rng(0).integers(0, 256, (5, 36, 36, 3), dtype=np.uint8)
    ours = net(as_input(Tensor(patches))).numpy()
    reference = numpy_forward({k: v.numpy() for k, v in get_state_dict(net).items()}, patches)
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-4)


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


def test_training_learns(tiny_model, tiny_config):
    model = load_model(tiny_model)
    history = model.training["history"]
    assert [h[0] for h in history] == [30, 60]
    assert history[-1][1] < 0.5 * np.log(12)       # loss fell well below chance (ln 12)
    assert model.accuracy >= 0.9                    # held-out top-1 on the 12 emoji
    assert model.training["config"]["steps"] == tiny_config.steps


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


def test_a_model_for_another_set_is_refused(tiny_model):
    with pytest.raises(ModelError, match="trained on emoji set 'tiny'.*pic2emoji train"):
        check_model_fits(load_model(tiny_model), load_emoji_set("noto-small"))


def test_model_knows_its_files(tiny_model, tiny_set):
    assert load_model(tiny_model).files == {p.name for p in tiny_set.glob("*.png")}


def test_evaluate_reproduces_the_training_accuracy(tiny_model, tiny_set):
    report = evaluate(tiny_set, tiny_model)
    assert report["accuracy"] == pytest.approx(load_model(tiny_model).accuracy, abs=1e-6)
    assert report["classes"] == 12 and report["samples"] == 120


def test_interrupt_saves_a_checkpoint_and_resume_finishes(tiny_set, tiny_config, tmp_path, monkeypatch):
    import pic2emoji.train as training
    out = tmp_path / "m.safetensors"
    real = training.learning_rate

    def interrupt_at_step_40(config, step):
        if step == 40:
            raise KeyboardInterrupt
        return real(config, step)

    monkeypatch.setattr(training, "learning_rate", interrupt_at_step_40)
    result = train(tiny_set, out, tiny_config, progress=False)
    assert result.interrupted and result.steps == 40
    assert not out.exists() and checkpoint_path(out).is_file()
    monkeypatch.setattr(training, "learning_rate", real)
    with pytest.raises(OutputError, match="--resume"):
        train(tiny_set, out, tiny_config, progress=False)  # forgetting --resume must not lose the checkpoint
    done = train(tiny_set, out, tiny_config, resume=True, progress=False)
    assert not done.interrupted and done.steps == tiny_config.steps
    assert out.is_file() and not checkpoint_path(out).exists()
    assert load_model(out).training["steps_done"] == tiny_config.steps


def test_new_model_is_seeded():
    a = new_model("tinyconv", "s", ["a", "b"], ["🟥", "🟦"], {}, (0, 0, 0), seed=3)
    b = new_model("tinyconv", "s", ["a", "b"], ["🟥", "🟦"], {}, (0, 0, 0), seed=3)
    np.testing.assert_array_equal(a.net.layers[0].weight.numpy(), b.net.layers[0].weight.numpy())


@pytest.mark.parametrize("device", ["CPU", "CL"])
def test_both_devices_train_and_agree(device, tiny_set, tiny_model, tmp_path):
    """Each device in its own process, as users run it: a few training steps, then eval of the shared model."""
    run = lambda *args: subprocess.run([sys.executable, "-m", "pic2emoji", *args], capture_output=True, text=True,
                                       env={**__import__("os").environ, "DEV": ""}, timeout=600)
    trained = run("train", str(tiny_set), "-o", str(tmp_path / "d.safetensors"), "--steps", "3", "--batch-size", "32",
                  "--device", device)
    assert trained.returncode == 0, trained.stderr
    assert load_model(tmp_path / "d.safetensors").training["device"] == device
    report = run("eval", str(tiny_set), "--model", str(tiny_model), "--device", device, "--json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["accuracy"] == pytest.approx(load_model(tiny_model).accuracy, abs=0.02)


def test_a_low_rank_model_starts_from_a_trained_one(tiny_set, tiny_config, tiny_model, tmp_path):
    from dataclasses import replace
    config = replace(tiny_config, arch="tinyconv-r64", init=str(tiny_model), steps=10, eval_every=10, lr=1e-3, warmup=1)
    result = train(tiny_set, tmp_path / "r64.safetensors", config, progress=False)
    assert result.accuracy >= load_model(tiny_model).accuracy - 0.1  # it starts where the full model is
    model = load_model(tmp_path / "r64.safetensors")
    assert model.arch == "tinyconv-r64" and model.net.rank == 64 and model.training["config"]["init"] == str(tiny_model)


def test_init_from_a_model_of_other_classes_is_refused(tiny_set, tiny_config, tmp_path):
    from dataclasses import replace
    from pic2emoji.infer import model_path
    config = replace(tiny_config, init=str(model_path("noto-small")))
    with pytest.raises(ModelError, match="noto-small.safetensors: cannot start from this model"):
        train(tiny_set, tmp_path / "m.safetensors", config, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_captured_net_is_cached_and_gives_the_same_picks(tiny_model, tmp_path, monkeypatch):
    from pic2emoji.model import jit_cache_file
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


def test_the_cache_file_follows_the_model_bytes(tiny_model, tmp_path):
    from pic2emoji.model import jit_cache_file
    copy = tmp_path / tiny_model.name
    copy.write_bytes(tiny_model.read_bytes())
    assert jit_cache_file(copy, 1296) == jit_cache_file(tiny_model, 1296) != jit_cache_file(tiny_model, 512)
    copy.write_bytes(tiny_model.read_bytes() + b" ")
    assert jit_cache_file(copy, 1296) != jit_cache_file(tiny_model, 1296)


def test_tune_captures_under_beam_search_and_marks_the_cache(tiny_model, tmp_path, monkeypatch):
    import contextlib
    import pic2emoji.model as model_module
    from pic2emoji.model import jit_cache_file
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
    from pic2emoji.emoji_sets import shipped_dir
    models = sorted(shipped_dir("models").glob("*.safetensors"))
    assert {m.name for m in models} >= {"noto.safetensors", "noto-fast.safetensors", "noto-tinyconv.safetensors",
                                        "noto-small.safetensors"}
    for path in models:
        model = load_model(path)
        check_model_fits(model, load_emoji_set(model.emoji_set, lazy=True))
        assert model.accuracy >= 0.95, path
    assert load_model(shipped_dir("models") / "noto.safetensors").arch == "tinyconv-r64"
    assert load_model(shipped_dir("models") / "noto-fast.safetensors").arch == "tinyconv-s2r64"
