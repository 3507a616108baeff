"""The captured net: chunks and palettes, the cache file, a cached net in a fresh process, tuning."""
import contextlib

import numpy as np
from tinygrad import Tensor

import pic2emoji.runtime as runtime

from pic2emoji.modelfile import load_model, new_model, save_model
from pic2emoji.net import TinyConvNet, as_input
from pic2emoji.runtime import Classifier, jit_cache_file


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
from pic2emoji.modelfile import load_model
from pic2emoji.runtime import Classifier
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
    monkeypatch.setattr(runtime, "Context", lambda **settings: asked.append(settings) or contextlib.nullcontext())
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


def test_a_cached_net_is_used_without_reading_the_weights(tiny_set, tiny_model, tmp_path, monkeypatch):
    import pic2emoji.converter as converter
    monkeypatch.setenv("PIC2EMOJI_CACHE_DIR", str(tmp_path))
    patches = np.random.default_rng(6).integers(0, 256, (30, 36, 36, 3), dtype=np.uint8)
    first = converter.Converter(tiny_set, tiny_model)  # nothing cached: the weights are read and the net captured
    assert first.model.net is not None
    picks = first.classifier(patches)
    first.classifier(patches)
    assert jit_cache_file(tiny_model, Classifier.batch).is_file()

    def no_reading(model):
        raise AssertionError("the weights were read although the captured net is cached")
    monkeypatch.setattr(converter, "load_weights", no_reading)
    again = converter.Converter(tiny_set, tiny_model)
    assert again.model.net is None and (again.classifier(patches) == picks).all()


def test_a_half_net_reads_18_px_cells_and_takes_36_px_ones_by_their_2x2_means():
    from pic2emoji.pixels import block_means, to_uint8
    net = TinyConvNet(7, rank=4, half=True)
    assert net.reads == 18
    big = np.random.default_rng(3).integers(0, 256, (40, 36, 36, 3), dtype=np.uint8)
    small = to_uint8(block_means(big, 2))
    classifier = Classifier(net, 7, batch=16, reads=18)
    picks = classifier(small)
    np.testing.assert_array_equal(classifier(big), picks)  # brought to 18 px first
    logits = net.classify(Tensor(small)).numpy()
    np.testing.assert_array_equal(picks, logits.argmax(1))
    # the 18-px input gives the logits of the 36-px patch's exact 2×2 means, to rounding
    np.testing.assert_allclose(logits, net.classify(Tensor(big)).numpy(), atol=0.05)
