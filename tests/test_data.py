"""Training data: seeded batches, augmentation that keeps the label, photo-like patches labelled by the oracle."""
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pic2emoji.data import Batches, SampleMaker
from pic2emoji.views import Nearest
from pic2emoji.emoji_sets import load_emoji_set
from pic2emoji.pixels import block_means, to_uint8
from pic2emoji.train import TrainConfig

from conftest import GREY

STILL = dict(rotate=0.0, zoom=0.0, shift=0.0, blur_chance=0.0, color=0.0)  # augmentation switched off


@pytest.fixture(scope="module")
def tiles(tiny_set):
    return to_uint8(load_emoji_set(tiny_set).on_background(GREY))


def maker(tiles, **settings):
    return SampleMaker(tiles, np.arange(len(tiles)), GREY, replace(TrainConfig(), **settings))


def test_a_batch_depends_on_the_seed_and_its_number_only(tiles):
    first, again = maker(tiles).batch(7, 16), maker(tiles).batch(7, 16)
    assert first[0].shape == (16, 36, 36, 3) and first[0].dtype == np.uint8 and first[1].dtype == np.int32
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], maker(tiles).batch(8, 16)[0])
    assert not np.array_equal(first[0], maker(tiles, seed=1).batch(7, 16)[0])


def test_without_augmentation_a_sample_is_its_emoji_at_36_px(tiles):
    patches, labels = maker(tiles, photo_like=0.0, **STILL).batch(0, 24)
    expected = to_uint8(block_means(tiles.astype(np.float32), 2))[labels]
    assert np.abs(patches.astype(int) - expected).max() <= 1


def test_augmented_samples_stay_close_to_their_emoji(tiles):
    patches, labels = maker(tiles, photo_like=0.0).batch(0, 64)
    nearest = Nearest(block_means(tiles.astype(np.float32), 2))
    assert (nearest(patches) == labels).mean() > 0.6  # rotated, shifted, blurred, recoloured: mostly still theirs


def test_photo_like_patches_are_labelled_by_the_nearest_colour_oracle(tiles):
    m = maker(tiles, photo_like=1.0)
    patches, labels = m.batch(3, 32)
    assert np.array_equal(labels, m.nearest(patches))
    assert patches.std(axis=(1, 2)).mean() < 60  # smooth fields, not noise


def test_the_held_out_set_is_fixed_and_covers_every_emoji(tiles):
    patches, labels = maker(tiles).held_out(per_emoji=2)
    again, _ = maker(tiles).held_out(per_emoji=2)
    assert np.array_equal(patches, again) and sorted(labels) == sorted(list(range(len(tiles))) * 2)


def test_batches_from_any_number_of_workers_are_the_same_and_in_order(tiles):
    m = maker(tiles)
    for workers in (1, 3):
        batches = Batches(m, 5, 11, 8, workers)
        try:
            for index in range(5, 11):
                x, y = batches.get(index)
                expected = m.batch(index, 8)
                assert np.array_equal(x, expected[0]) and np.array_equal(y, expected[1])
        finally:
            batches.close()
        assert not any(w.is_alive() for w in batches.workers)


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"  # a zombie is dead too
    except FileNotFoundError:
        return True


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_die_with_training_even_after_kill_9(tiny_set, tmp_path):
    out = tmp_path / "m.safetensors"
    process = subprocess.Popen([sys.executable, "-m", "pic2emoji", "train", str(tiny_set), "-o", str(out), "--steps",
                                "100000", "--batch-size", "32", "--eval-every", "5", "--device", "CPU", "--workers", "2"],
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not Path(str(out) + ".ckpt").exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    children = [int(p) for p in Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()]
    assert len(children) >= 2, "training runs with two batch workers"
    process.kill()
    process.wait()
    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(_gone(pid) for pid in children), "a batch worker outlived training"
