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

    def conv(x, w, b):
        n, c, h, width = x.shape
        k = w.shape[-1]
        cols = np.stack([x[:, :, i:i + h - k + 1, j:j + width - k + 1] for i in range(k) for j in range(k)], 2)
        return np.einsum("nckhw,ock->nohw", cols, w.reshape(w.shape[0], c, k * k)) + b[None, :, None, None]

    def pool(x):
        n, c, h, w = x.shape
        return x[:, :, :h // 2 * 2, :w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2).max((3, 5))

    x = pool(np.maximum(conv(x, weights["layers.0.weight"], weights["layers.0.bias"]), 0))
    x = pool(np.maximum(conv(x, weights["layers.3.weight"], weights["layers.3.bias"]), 0))
    return x.reshape(len(x), -1) @ weights["layers.7.weight"].T + weights["layers.7.bias"]


def test_tinygrad_forward_matches_numpy_reference():
    from tinygrad.nn.state import get_state_dict
    net = TinyConvNet(7)
    patches = np.random.default_rng(0).integers(0, 256, (5, 36, 36, 3), dtype=np.uint8)
    ours = net(as_input(Tensor(patches))).numpy()
    reference = numpy_forward({k: v.numpy() for k, v in get_state_dict(net).items()}, patches)
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-4)


def test_classifier_pads_the_last_chunk_and_keeps_order():
    net = TinyConvNet(5)
    patches = np.random.default_rng(1).integers(0, 256, (700, 36, 36, 3), dtype=np.uint8)
    logits = Classifier(net)(patches)
    assert logits.shape == (700, 5)
    np.testing.assert_allclose(logits[600:610], net(as_input(Tensor(patches[600:610]))).numpy(), rtol=1e-4, atol=1e-5)


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
