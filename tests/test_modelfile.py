"""The model file: save/load, metadata readable by safetensors, damage refused in one line, where models are."""
import json
import shutil

import numpy as np
import pytest
from PIL import Image
from safetensors import safe_open
from tinygrad import Tensor

import pic2emoji.modelfile as modelfile

from pic2emoji.emoji_sets import load_emoji_set
from pic2emoji.errors import ModelError, OutputError
from pic2emoji.files import data_dir, shipped_dir
from pic2emoji.modelfile import check_model_fits, load_model, local_model_path, model_path, new_model, save_model
from pic2emoji.net import as_input

from conftest import one_line_error, run


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
    monkeypatch.setattr(modelfile, "save_file", full_disk)
    with pytest.raises(OutputError, match="No space left on device.*untouched"):
        save_model(load_model(tiny_model), target)
    assert target.read_bytes() == before and list(tmp_path.iterdir()) == [target]


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
    monkeypatch.chdir(tmp_path)
    assert model_path("noto") == shipped / "noto.safetensors"
    assert model_path("noto", fast=True) == shipped / "noto-fast.safetensors"
    assert model_path("noto-small", fast=True) == shipped / "noto-small.safetensors"  # no fast one: the default
    # a model trained for a shipped set (in the data folder) wins, and its folder has no fast one
    trained = data_dir() / "models" / "noto.safetensors"
    trained.parent.mkdir(parents=True, exist_ok=True)
    trained.write_bytes((shipped / "noto.safetensors").read_bytes())
    try:
        assert model_path("noto", fast=True) == trained
    finally:
        trained.unlink()


def test_a_model_trained_from_one_folder_is_found_from_any_other(tmp_path, monkeypatch):
    """train's default output and where infer, serve and export-web look agree, wherever each runs."""
    emoji = tmp_path / "x" / "my_emoji"
    emoji.mkdir(parents=True)
    shutil.copy(shipped_dir("emoji_sets") / "noto" / "1f7e5.png", emoji)
    monkeypatch.chdir(tmp_path / "x")
    written = local_model_path("my_emoji")  # where `pic2emoji train my_emoji` writes, run from x/
    assert written == tmp_path / "x" / "models" / "my_emoji.safetensors"
    monkeypatch.chdir("/")
    assert local_model_path(emoji) == written
    with pytest.raises(ModelError, match=f"looked for {written}.*--model"):
        model_path(emoji)
    written.parent.mkdir()
    written.write_bytes(b"a model")
    for place in ("/", tmp_path, emoji):
        monkeypatch.chdir(place)
        assert model_path(emoji) == model_path(emoji, fast=True) == written
    assert local_model_path("noto") == data_dir() / "models" / "noto.safetensors"  # never inside the package


def test_without_a_model_infer_says_where_it_looked(tmp_path, monkeypatch):
    emoji = tmp_path / "x" / "my_emoji"
    emoji.mkdir(parents=True)
    shutil.copy(shipped_dir("emoji_sets") / "noto" / "1f7e5.png", emoji)
    Image.new("RGB", (8, 8)).save(tmp_path / "p.png")
    monkeypatch.chdir("/")
    one_line_error(run("infer", emoji, tmp_path / "p.png"), str(tmp_path / "x" / "models" / "my_emoji.safetensors"),
                   "--model", "pic2emoji train")
