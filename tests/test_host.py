"""The net in numpy (host.py): the same logits and picks as the tinygrad net, for every architecture."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tinygrad import Tensor, dtypes
from tinygrad.nn.state import get_state_dict

from pic2emoji.archs import ARCHS
from pic2emoji.host import CHUNK, HostNet
from pic2emoji.net import ARCHITECTURES
from pic2emoji.pixels import block_means, to_uint8

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "photos" / "chelsea.png"


def cells(size: int, count: int = 300) -> np.ndarray:
    """`count` cells of a real photo at `size` px, then noise: both kinds of input a net meets."""
    photo = np.asarray(Image.open(EXAMPLE).convert("RGB").resize((12 * size, 10 * size)))
    grid = photo.reshape(10, size, 12, size, 3).transpose(0, 2, 1, 3, 4).reshape(-1, size, size, 3)
    noise = np.random.default_rng(2).integers(0, 256, (count - len(grid), size, size, 3), dtype=np.uint8)
    return np.concatenate([grid, noise])


def both(arch: str, classes: int = 40):
    net = ARCHITECTURES[arch](classes)
    return net, HostNet(arch, {k: v.numpy() for k, v in get_state_dict(net).items()})


@pytest.mark.parametrize("arch", [a if a == "tinyconv-hr64" else pytest.param(a, marks=pytest.mark.slow) for a in sorted(ARCHS)])
def test_the_host_net_gives_the_tinygrad_nets_logits(arch):  # noto's own quick, the three others with the slow tests
    net, host = both(arch)
    patches = cells(host.reads)
    theirs = net.classify(Tensor(patches, dtype=dtypes.uint8)).numpy()
    ours = host.logits(patches)
    assert ours.shape == theirs.shape == (len(patches), 40)
    assert np.allclose(ours, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())
    assert (host(patches) == theirs.argmax(1)).mean() > 0.99  # float ties aside


def test_picks_keep_to_the_palette_and_the_order_over_chunks():
    net, host = both("tinyconv-hr64", 6)
    patches = cells(18, 3 * CHUNK + 5)  # four chunks, the last short
    logits = host.logits(patches)
    assert (host(patches) == logits.argmax(1)).all()
    allowed = np.array([False, True, False, True, False, False])
    assert (host(patches, allowed) == np.where(logits[:, 1] >= logits[:, 3], 1, 3)).all()
    assert host(patches[:0]).shape == (0,)


def test_a_half_net_takes_36_px_cells_by_their_rounded_2x2_means_as_the_classifier_does():
    _, host = both("tinyconv-hr64")
    big = cells(36, 150)
    assert (host(big) == host(to_uint8(block_means(big, 2)))).all()


def test_the_net_runs_here_for_one_still_photo_and_without_a_gpu_unless_a_device_is_asked(monkeypatch):
    import pic2emoji.host as host
    monkeypatch.delenv("DEV")
    for gpu in (True, False):
        monkeypatch.setattr(host, "gpu_here", lambda: gpu)
        assert host.runs_here(None, True)  # one still photo: always
        assert host.runs_here(None, False) is not gpu  # an animation, a film, a folder: where no GPU is
        assert not host.runs_here("CPU", True) and not host.runs_here("CL", False)
    monkeypatch.setenv("DEV", "CPU")
    assert not host.runs_here(None, True) and not host.runs_here(None, False)


def test_gpu_here_reads_the_device_files(monkeypatch):
    import pic2emoji.host as host
    monkeypatch.setattr(host.sys, "platform", "linux")
    monkeypatch.setattr(host.glob, "glob", lambda pattern: [])
    assert host.gpu_here() is False
    monkeypatch.setattr(host.glob, "glob", lambda pattern: ["/dev/dri/renderD128"] if "dri" in pattern else [])
    assert host.gpu_here() is True
    monkeypatch.setattr(host.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(host.sys, "platform", "darwin")
    assert host.gpu_here() is True
