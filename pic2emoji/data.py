"""Training data, made on the fly and seeded: numpy and Pillow only (no tinygrad here).

Two kinds of 36×36 samples:
- augmented emoji: a tile on the set's background, rotated, zoomed (crop), shifted, blurred and
  recoloured, labelled with its class. These teach the net what each emoji looks like.
- photo-like patches: smooth colour fields, gradients, soft edges and mild texture, labelled with the
  class whose tile is nearest by 6×6 block colour (the nearest-colour oracle). Real photos look like
  this far more than like emoji; without them the net makes confident odd picks on photo patches.
Batch k is made from rng([seed, k]) alone, so a run is reproducible and resumable from any step, and
the same whichever of the Batches' worker processes makes it.
"""
import ctypes
import multiprocessing
import os
import queue
import signal
import sys
from dataclasses import asdict, is_dataclass
from types import SimpleNamespace

import numpy as np
from PIL import Image, ImageFilter

from .defaults import PATCH
from .pixels import block_means, to_uint8
from .views import Nearest

HELD_OUT_STREAM = 2 ** 31  # rng stream for the held-out set; training batches use 0, 1, 2, ...
# Linear interpolation from 5 noise samples to 36 pixels: soft texture, not visible blocks.
_SMOOTH = np.maximum(0, 1 - np.abs(np.linspace(0, 4, PATCH)[:, None] - np.arange(5)[None, :])).astype(np.float32)


class SampleMaker:
    """Makes training and held-out batches for one emoji set on one background.

    tiles: (N, 72, 72, 3) uint8, every emoji composited on the background at twice the patch size (the
    affine warp runs at 72 px and is then box-averaged to 36, which avoids aliasing);
    labels: (N,) the class of each emoji (look-alikes share one); config: a TrainConfig.
    """
    def __init__(self, tiles: np.ndarray, labels: np.ndarray, background, config):
        # A plain copy of the settings: a worker process can unpickle it without importing training (tinygrad).
        self.config = SimpleNamespace(**asdict(config)) if is_dataclass(config) else config
        self.tiles, self.labels = tiles, np.asarray(labels, np.int32)
        self.background = tuple(int(c) for c in background)
        first_of_class = np.unique(self.labels, return_index=True)[1]
        self.nearest = Nearest(block_means(tiles[first_of_class].astype(np.float32), 2))

    def emoji(self, rng: np.random.Generator, indices: np.ndarray) -> np.ndarray:
        """Augmented patches of the given emoji: (n, 36, 36, 3) uint8."""
        cfg, centre, out = self.config, self.tiles.shape[1] / 2, []
        for i in indices:
            angle = np.radians(rng.uniform(-cfg.rotate, cfg.rotate))
            zoom = 1 + rng.uniform(0, cfg.zoom)
            shift = rng.uniform(-cfg.shift, cfg.shift, 2) * 2  # at 72 px
            # PIL wants the inverse map, output pixel -> input pixel.
            inverse = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]]) / zoom
            offset = centre - inverse @ (centre + shift)
            image = Image.fromarray(self.tiles[i]).transform(
                self.tiles.shape[1:3], Image.AFFINE, (*inverse[0], offset[0], *inverse[1], offset[1]),
                Image.BILINEAR, fillcolor=self.background)
            if rng.random() < cfg.blur_chance:
                radius = rng.uniform(0.3, cfg.blur) * 2
                image = image.filter(ImageFilter.GaussianBlur(radius) if rng.random() < 0.5
                                     else ImageFilter.BoxBlur(radius))
            out.append(np.asarray(image))
        if not out:  # a batch of photo-like patches only
            return np.zeros((0, PATCH, PATCH, 3), np.uint8)
        patches = block_means(np.stack(out).astype(np.float32), 2)
        patches *= 1 + rng.uniform(-cfg.color, cfg.color, (len(indices), 1, 1, 3)).astype(np.float32)
        return to_uint8(patches)

    def photo_like(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Smooth, photo-like patches: a colour, a gradient, maybe a soft edge to a second colour, texture."""
        y, x = (np.mgrid[0:PATCH, 0:PATCH].astype(np.float32) + 0.5) / PATCH - 0.5

        def colours():
            c = rng.uniform(0, 255, (n, 1, 1, 3))
            grey = c.mean(-1, keepdims=True)
            return grey + (c - grey) * rng.uniform(0, 1, (n, 1, 1, 1)) ** 0.7  # photos are mostly unsaturated

        def along_random_direction():
            angle = rng.uniform(0, 2 * np.pi, (n, 1, 1))
            return (np.cos(angle) * x + np.sin(angle) * y)[..., None]

        patches = colours() + along_random_direction() * rng.normal(0, 60, (n, 1, 1, 3))
        edge = 1 / (1 + np.exp(-(along_random_direction() - rng.uniform(-0.4, 0.4, (n, 1, 1, 1)))
                               / rng.uniform(0.01, 0.2, (n, 1, 1, 1))))
        has_edge = rng.random((n, 1, 1, 1)) < 0.5
        patches = np.where(has_edge, patches * (1 - edge) + colours() * edge, patches)
        coarse = np.einsum("yi,nijc,xj->nyxc", _SMOOTH, rng.normal(0, 1, (n, 5, 5, 3)), _SMOOTH)
        patches += coarse * rng.uniform(0, 15, (n, 1, 1, 1)) + rng.normal(0, 1, patches.shape) * rng.uniform(0, 6, (n, 1, 1, 1))
        return to_uint8(patches)

    def batch(self, index: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Training batch number `index`: (size, 36, 36, 3) uint8 patches and (size,) int32 labels."""
        rng = np.random.default_rng([self.config.seed, index])
        photo_count = int(round(size * self.config.photo_like))
        chosen = rng.integers(0, len(self.tiles), size - photo_count)
        photos = self.photo_like(rng, photo_count)
        patches = np.concatenate([self.emoji(rng, chosen), photos])
        labels = np.concatenate([self.labels[chosen], self.nearest(photos)])
        order = rng.permutation(size)
        return patches[order], labels[order]

    def held_out(self, per_emoji: int) -> tuple[np.ndarray, np.ndarray]:
        """The fixed validation set: `per_emoji` augmented samples of every emoji, from their own rng stream."""
        rng = np.random.default_rng([self.config.seed, HELD_OUT_STREAM])
        chosen = np.tile(np.arange(len(self.tiles)), per_emoji)
        return self.emoji(rng, chosen), self.labels[chosen]


def default_workers() -> int:
    """Batch-making processes for training: one per core this process may use, less the one that trains."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores - 1)


class Batches:
    """Training batches first .. last-1, made by worker processes in parallel and handed out in order.

    Worker w makes batches first+w, first+w+workers, ... into a queue of its own, so the batches and
    their order do not depend on the number of workers, and at most `ahead` per worker wait in memory.
    Workers are spawned afresh rather than forked: they hold no copy of this process's tinygrad device,
    GPU context or threads. They ignore Ctrl-C (close() stops them) and die with this process, even
    when it is killed with -9.
    """
    def __init__(self, maker: SampleMaker, first: int, last: int, size: int, workers: int = 1, ahead: int = 3):
        context = multiprocessing.get_context("spawn")
        self.first, self.queues = first, [context.Queue(ahead) for _ in range(workers)]
        self.workers = [context.Process(target=_make_batches, daemon=True, name=f"pic2emoji batches {w}",
                                        args=(maker, first + w, last, workers, size, q, os.getpid()))
                        for w, q in enumerate(self.queues)]
        one_thread = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        saved = {k: os.environ.get(k) for k in one_thread}
        os.environ.update(one_thread)  # the workers' numpy: one thread each, the cores are the workers
        try:
            for worker in self.workers:
                worker.start()
        finally:
            for key, value in saved.items():
                if value is None:
                    del os.environ[key]
                else:
                    os.environ[key] = value

    def get(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch number `index`; batches must be asked for in order, from `first`."""
        w = (index - self.first) % len(self.queues)
        while True:
            try:
                return self.queues[w].get(timeout=2)
            except queue.Empty:
                if not self.workers[w].is_alive():
                    raise RuntimeError(f"the process making training batches died (exit code "
                                       f"{self.workers[w].exitcode}); see the message above it") from None

    def close(self) -> None:
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            worker.join(5)


def _make_batches(maker: SampleMaker, start: int, last: int, step: int, size: int, out, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and ends us with SIGTERM,
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # which must simply end this process
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the parent
    for index in range(start, last, step):
        batch = maker.batch(index, size)
        while True:
            if os.getppid() != parent:  # the parent is gone (where there is no PR_SET_PDEATHSIG)
                return
            try:
                out.put(batch, timeout=1)
                break
            except queue.Full:
                pass
