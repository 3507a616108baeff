"""The Converter: an emoji set and its model, loaded and compiled once, turning any number of photos
into grids of emoji.

For each photo: photo.py lays it on the grid (36 px a cell), background.py chooses the colour behind
the emoji when asked to (`auto`), the net picks an emoji per cell (runtime.Classifier on a tinygrad
device, or host.HostNet in numpy), refine.py refines the mosaic as a whole, and for a
frame of a film or camera the steady rule (views.steady) keeps what did not change; a film's frames
judge again only the cells that changed (motion.py). The renderer draws the grids (render.py). Options
(options.py) say how.
"""
import contextlib
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
from threadpoolctl import threadpool_limits

from .archs import reads
from .background import choose_background, class_layers
from .colour import delta_e2000, srgb_to_lab, window_sums
from .defaults import BLOCKS, PATCH, TILE_PX
from .emoji_sets import load_emoji_set, prints_aligned
from .errors import ModelError
from .formats import SHORTCODES, TXT
from .host import HostNet
from .modelfile import check_model_fits, load_model, load_weights, model_path, read_layers
from .motion import NET_SHARE, Memory, net_again
from .options import AUTO, Options
from .photo import cut_patches, is_transparent, on_grid, view_grid
from .pixels import as_rgb, block_means, to_uint8
from .refine import Refiner
from .render import Renderer
from .views import blocks_on, steady, view_of


OFF = 10.0  # CIEDE2000 at which a window's colour is plainly not the photo's (2.3 is a just-noticeable step)
UNREACHED = 0.25  # the share of such windows at which infer suggests cell colours


class Cells(NamedTuple):
    """What Converter.cells gives: the grid of classes, each cell's mean colour, the emoji's background."""
    grid: np.ndarray        # (rows, cols) class indices
    colours: np.ndarray     # (rows, cols, 3) uint8: the photo's mean colour in each cell (ANSI, cell colours)
    background: tuple       # the colour the emoji were chosen for


class Converter:
    """An emoji set and its model, loaded and compiled once, to turn any number of photos into mosaics.

    Safe to share between threads: the net (whose compiled kernels reuse their buffers) takes one
    frame at a time; the rest is numpy on each caller's own arrays."""
    def __init__(self, emoji_dir, model_file=None, log=lambda message: None, host: bool = False):
        """`log` hears, once each, of the slow first-run work: compiling the net, reading the tiles. With
        `host`, the net runs in numpy (host.HostNet) rather than on tinygrad's device: faster for one
        photo anywhere, and for everything on a machine without a GPU (host.gpu_here)."""
        self.log = log
        self.emoji_set = load_emoji_set(emoji_dir, lazy=True)
        self.model = load_model(model_file or model_path(emoji_dir), weights=False)  # read if the net is not cached
        check_model_fits(self.model, self.emoji_set)
        index = {f: i for i, f in enumerate(self.emoji_set.files)}
        self.tile_of = np.array([index[f] for f in self.model.classes])  # class -> its tile in the set
        self.texts = [self.emoji_set.text(i) for i in self.tile_of]  # what txt prints for each class
        texts = {TXT: self.texts, SHORTCODES: [self.emoji_set.shortcode(i) for i in self.tile_of]}
        self.renderer = Renderer(lambda classes: self.emoji_set.tiles(self.tile_of[classes]), texts,
                                 self.model.background, [self.emoji_set.chars[i] for i in self.tile_of])
        self.reads = reads(self.model.arch)  # the px a cell the net reads: a photo is read at that size
        self.host = host
        if host:
            self.classifier = HostNet(self.model.arch, read_layers(self.model))
        else:
            from .runtime import Classifier, jit_cache_file  # tinygrad, imported only for a net on its device
            self.classifier = Classifier(lambda: load_weights(self.model), len(self.model.classes),
                                         cache=jit_cache_file(self.model.path, Classifier.batch, self.reads), reads=self.reads)
        self.lock = threading.Lock()  # one frame in the net at a time
        self._refiners, self._layers = {}, None  # background -> Refiner; the tiles' layers once read

    def allowed(self, palette: str | None) -> np.ndarray:
        """A bool per class: which emoji the palette lets a mosaic use (None: all)."""
        allowed = np.ones(len(self.model.classes), bool)
        # Judged by what txt prints, for every format: shortcodes of a shipped set keep to the one-code-point emoji.
        if palette == "terminal":
            allowed = np.array([prints_aligned(t) for t in self.texts])
            if not allowed.any():
                raise ModelError(f"{self.emoji_set.path}: no emoji of this set is terminal-safe; use --palette all")
        elif palette not in (None, "all"):
            raise ModelError(f"unknown palette {palette!r}; choose all or terminal")
        return allowed

    def refiner(self, background=None) -> Refiner:
        """The whole-mosaic refinement (and the lookup it holds) over this set's tiles on a background
        (None: the model's), made on first use."""
        background = as_rgb(background, self.model.background)
        if background not in self._refiners:
            self._refiners[background] = Refiner(self.views_on(background))
        return self._refiners[background]

    def views_on(self, background=None) -> np.ndarray:
        """Every class's tile on a background (None: the model's) as a view, (N, 108)."""
        return blocks_on(self.layers(), as_rgb(background, self.model.background))

    def layers(self) -> np.ndarray:
        """Every class's tile_layers (views.py), (N, 144), from its tile as the mosaic draws it at 36 px
        (what the metrics measure, not the 72-px file): read once, and kept in the cache."""
        if self._layers is None:
            files = [self.emoji_set.path / self.emoji_set.files[i] for i in self.tile_of]

            def read():
                self.log(f"reading the {len(files)} emoji of {self.emoji_set.path.name} (once: kept in the cache)")
                return self.renderer.rgba(np.arange(len(files)), PATCH)
            self._layers = class_layers(files, read, Path(self.model.path).stem, self.model.digest)
        return self._layers

    def pixels(self, photo, options: Options | None = None, px: int = PATCH) -> tuple[np.ndarray, tuple, tuple]:
        """The photo as the grid sees it, (rows·px, cols·px, 3) uint8 (36 px a cell unless asked), its
        (rows, cols), and the colour behind the emoji: the options' (None: the model's), or with AUTO the
        grey chosen for this photo (background.choose_background), its clear parts then laid on that
        colour. `photo`: a file path, a PIL image, or an array already at 36 px a cell."""
        options = options or Options()
        return self._laid(photo, options, lambda background: on_grid(photo, background, options.cols, options.rows, px),
                          lambda pixels, shape: view_of(cut_patches(pixels, shape)))

    def _laid(self, photo, options: Options, read, view) -> tuple[np.ndarray, tuple, tuple]:
        """pixels() for any reading: `read` (background -> the photo on it, (rows, cols)), `view` (what
        read gave, (rows, cols) -> the cells' views, to choose the AUTO background by)."""
        own = tuple(self.model.background)
        if options.background != AUTO:
            background = as_rgb(options.background, own)
            return *read(background), background
        laid, shape = read(own)
        background = choose_background(view(laid, shape), shape, self.layers(), own, self.allowed(options.palette))
        if background != own and is_transparent(photo):
            laid, shape = read(background)  # its clear parts on the new colour
        return laid, shape, background

    def cells(self, photo, options: Options | None = None, previous: np.ndarray | None = None,
              stages: dict | None = None, memory: Memory | None = None, **settings) -> Cells:
        """The grid of a photo, the photo's mean colour in each cell and the background the emoji were
        chosen for, as `options` (or Options(**settings): cols=72, method="net", ...) ask. With
        `previous`, the last frame's grid, cells keep their emoji unless the new pick is clearly better
        (views.steady): a still scene does not flicker. With `memory`, a film's (Converter.frames), see
        `_frame`. `stages`, if given, gets the milliseconds spent waiting for the net, in it, and refining."""
        options = replace(options, **settings) if options is not None else Options(**settings)
        # On the host, numpy on our own two threads where it splits work: BLAS's own would only contend
        with threadpool_limits(1, "blas") if self.host else contextlib.nullcontext():
            return self._cells(photo, options, previous, stages, memory)

    def _cells(self, photo, options: Options, previous, stages, memory) -> Cells:
        if memory is not None:
            return self._frame(photo, options, previous, stages, memory)
        pixels, shape, background = self.pixels(photo, options, self.reads)  # at the size the net reads
        patches, allowed = cut_patches(pixels, shape), self.allowed(options.palette)  # a palette masks choices
        if options.method == "lookup":
            grid = self.refiner(background).nearest(patches, allowed).reshape(shape)
        else:
            grid = self._net(patches, allowed, stages).reshape(shape)
        if options.method == "refine":  # the net knows only the model's background: refine takes it from there
            started = time.perf_counter()
            grid = self.refiner(background)(patches, shape, grid.ravel(), allowed)
            if stages is not None:
                stages["refine"] = (time.perf_counter() - started) * 1e3
        if previous is not None and previous.shape == grid.shape:
            grid = self.steady(patches, grid, previous, background)
        return Cells(grid, to_uint8(block_means(pixels, pixels.shape[0] // shape[0])), background)

    def _frame(self, image, options: Options, previous, stages, memory: Memory) -> Cells:
        """Converter.cells for a film's frame: the frame is read at 6 px a cell (photo.view_grid), which
        is all that refine, the steady rule and motion.py compare cells by, and at the size the net reads
        only for the cells the net judges again (motion.net_again), on the frames where it does: the
        picture at 36 px a cell and its views were most of a film's frame."""
        view, shape, background = self._laid(image, options, lambda background: view_grid(
            image, background, options.cols, options.rows), lambda view, shape: view)
        allowed, refiner = self.allowed(options.palette), self.refiner(background)
        if options.method == "lookup":
            grid = refiner.lookup.of_view(view, allowed)
        else:
            patches = []  # the frame at 36 px a cell, once the net needs it

            def net(cells: np.ndarray) -> np.ndarray:
                if not patches:
                    patches.append(cut_patches(*on_grid(image, background, options.cols, options.rows, self.reads)))
                return self._net(patches[0][cells], allowed, stages)
            share = NET_SHARE if options.method == "refine" else None  # refine: the net's pick only starts ICM
            grid = net_again(net, view, memory, self.classifier.batch, share)
        if options.method == "refine":
            started = time.perf_counter()
            grid, memory.recall = refiner.frame(view, shape, grid.ravel(), allowed, memory.recall)
            if stages is not None:
                stages["refine"] = (time.perf_counter() - started) * 1e3
        grid = grid.reshape(shape)
        if previous is not None and previous.shape == grid.shape:
            grid = self.steady(None, grid, previous, background, view)
        return Cells(grid, to_uint8(view.reshape(*shape, BLOCKS, 3).mean(2)), background)

    def unreached(self, cells: Cells) -> float:
        """The share of a mosaic's 2×2-cell windows whose colour from a step back (its tiles' mean colours
        on their background) is more than OFF CIEDE2000 from the photo's: where the emoji cannot reach
        the photo's colours, which cell colours could (0 for a grid of one row or column)."""
        if min(cells.grid.shape) < 2:
            return 0.0
        means = self.refiner(cells.background).means[cells.grid]
        lab = [srgb_to_lab(window_sums(c.astype(np.float32)) / 4) for c in (means, cells.colours)]
        return float((delta_e2000(*lab) > OFF).mean())

    def grid(self, photo, options: Options | None = None, **settings) -> np.ndarray:
        """Class index of every cell, (rows, cols): `cells(...).grid`."""
        return self.cells(photo, options, **settings).grid

    def frames(self, images, options: Options | None = None):
        """The Cells of each frame of an animation or film (PIL images, lazily), as `options` ask: the
        background chosen on the first frame (AUTO) and kept for all, and each frame steady against the
        last (views.steady)."""
        options, grid, memory = options or Options(), None, Memory()
        for image in images:
            cells = self.cells(image, options, previous=grid, memory=memory)
            grid, options = cells.grid, replace(options, background=cells.background)
            yield cells

    def steady(self, patches: np.ndarray, grid: np.ndarray, previous: np.ndarray, background=None,
               view: np.ndarray | None = None) -> np.ndarray:
        """views.steady over this set's tiles on the background (None: the model's)."""
        return steady(patches, grid, previous, self.refiner(background).lookup.blocks, view=view)

    def _net(self, patches: np.ndarray, allowed: np.ndarray, stages: dict | None) -> np.ndarray:
        asked = time.perf_counter()
        with self.lock:
            started = time.perf_counter()
            if not self.classifier.captured:  # captured now, even for a photo of one chunk, and so cached
                self.log("compiling the net for this machine (once: later runs take it from the cache)")
                self.classifier.warm_up()
            grid = self.classifier(patches, allowed)  # needs no tile: text of a set with a damaged one still works
        if stages is not None:
            stages.update(wait=(started - asked) * 1e3, net=(time.perf_counter() - started) * 1e3)
        return grid

    def image(self, grid: np.ndarray, tile_px: int = TILE_PX, background=None):
        return self.renderer.image(grid, tile_px, background=background)

    def text(self, grid: np.ndarray, fmt: str = TXT) -> str:
        return self.renderer.text(grid, fmt)
