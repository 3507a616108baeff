"""Render a grid of class indices as a mosaic: an image of emoji tiles, or lines of emoji text.

Model-free (no tinygrad): it takes the grid and, from the Renderer, the tiles and the texts of the
classes. Images are drawn here and any format's file made through its encoder in the format table
(formats.py); text is cut here into pieces that fit a chat message.
"""
import numpy as np
from PIL import Image

from .defaults import MAX_MOSAIC_PIXELS, TILE_PX
from .errors import OutputError
from .files import write_bytes
from .formats import TXT, Look, animation_bytes, cell_colours, format_named
from .pixels import as_rgb, composite, resize_tiles, to_uint8


def split_text(text: str, limit: int, fix: str = "make the rows shorter") -> list[str]:
    """Text cut on line boundaries into pieces of at most `limit` characters (Python's len), each
    piece its lines joined by newlines, with no final newline. A line longer than `limit` is an
    OutputError, which ends with `fix`."""
    pieces, lines = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if len(line) > limit:
            raise OutputError(f"row {number} of the mosaic is {len(line)} characters, more than --split {limit}; {fix}")
        if lines and len("\n".join(lines)) + 1 + len(line) > limit:
            pieces.append("\n".join(lines))
            lines = []
        lines.append(line)
    return pieces + ["\n".join(lines)] if lines else pieces


class Renderer:
    """Draws the grids of one emoji set's classes, as tiles on the background or as text.

    `tiles(classes)` returns the RGBA tiles of those classes; it is asked only for the tiles a mosaic
    shows (a set's lazy reader, so a folder of 1898 emoji costs the few hundred a photo uses), and each
    face (a tile at one size, on the background) is made once and kept for later mosaics. `texts` holds,
    for each plain text format (txt, shortcodes: formats.py), the text of every class.
    """
    def __init__(self, tiles, texts: dict[str, list[str]], background, chars=None):
        self.tiles, self.texts, self.background = tiles, texts, tuple(background)
        self.chars = chars if chars is not None else texts[TXT]  # None where a class is a custom image
        self._faces = {}  # tile_px -> {class: face}
        self._rgba = {}  # tile_px -> {class: RGBA tile at that size}, for faces on cell colours

    def rgba(self, classes, tile_px: int) -> np.ndarray:
        """(n, tile_px, tile_px, 4) uint8: these classes' tiles at this size, each made once."""
        sized = lambda tiles: resize_tiles(tiles, tile_px) if tiles.shape[1] != tile_px else tiles
        return _made_once(self._rgba.setdefault(tile_px, {}), classes, lambda new: sized(self.tiles(new)))

    def backgrounds(self, grid: np.ndarray, photo_colours: np.ndarray) -> np.ndarray:
        """The colour behind each cell's emoji when mosaics sit on cell colours (see formats.cell_colours)."""
        used, inverse = np.unique(grid, return_inverse=True)
        tiles = self.rgba(used, 24).astype(np.float32) / 255  # 24 px: enough for a mean
        coverage, ink = tiles[..., 3].mean((1, 2)), (tiles[..., :3] * tiles[..., 3:]).mean((1, 2)) * 255
        inverse = inverse.reshape(grid.shape)
        return cell_colours(photo_colours, coverage[inverse], ink[inverse])

    def faces(self, classes: np.ndarray, tile_px: int, background=None) -> np.ndarray:
        """(n, tile_px, tile_px, 3) uint8: what the mosaic shows of these classes, on the background
        (None: the model's)."""
        background = as_rgb(background, self.background)
        on_background = lambda new: to_uint8(composite(self.rgba(new, tile_px), background))
        return _made_once(self._faces.setdefault((tile_px, background), {}), classes, on_background)

    def image(self, grid: np.ndarray, tile_px: int = TILE_PX, backgrounds: np.ndarray | None = None,
              background=None) -> Image.Image:
        """RGB image of cols·tile_px × rows·tile_px: each cell's emoji on the background (None: the
        model's), or on its own colour from `backgrounds` (rows, cols, 3)."""
        if grid.size * tile_px ** 2 > MAX_MOSAIC_PIXELS:
            raise OutputError(f"a mosaic of {grid.shape[1]}×{grid.shape[0]} emoji at {tile_px} px would be "
                              f"{grid.size * tile_px ** 2 / 1e6:.0f} megapixels, more than the "
                              f"{MAX_MOSAIC_PIXELS / 1e6:.0f} pic2emoji draws; lower --tile-px or --cols")
        used, inverse = np.unique(grid, return_inverse=True)
        if backgrounds is None:
            return draw_faces(inverse.reshape(grid.shape), self.faces(used, tile_px, background))
        (rows, cols), t = grid.shape, tile_px
        cells = np.empty((rows, cols, t, t, 3), np.uint8)
        tiles = self.rgba(used, t)
        for r in range(rows):  # a row at a time: memory stays at one row of float tiles
            cells[r] = to_uint8(composite(tiles[inverse.reshape(grid.shape)[r]], backgrounds[r][:, None, None, :]))
        return Image.fromarray(cells.transpose(0, 2, 1, 3, 4).reshape(rows * t, cols * t, 3))

    def text(self, grid: np.ndarray, fmt: str = TXT) -> str:
        """One line per grid row, one emoji per cell, each line ending in a newline."""
        texts = self.texts[fmt]
        return "".join("".join(texts[c] for c in row) + "\n" for row in grid)

    def pieces(self, grid: np.ndarray, fmt: str, limit: int) -> list[str]:
        """The text cut on row boundaries into pieces of at most `limit` characters (see split_text). A
        row too long is refused with the columns that would fit, judged from the rows made: the widest
        row's characters a cell (1 for the terminal palette, about 12 for shortcodes)."""
        text = self.text(grid, fmt)
        per_cell = max(map(len, text.splitlines())) / grid.shape[1]
        longest = max(len(self.texts[fmt][c]) for c in np.unique(grid))  # at least this, for any --cols
        fix = (f"use --cols {int(limit // per_cell)} or fewer (its widest row takes "
               f"{per_cell:.3g} character{'s' * (per_cell != 1)} a cell)"
               if limit >= longest else f"--split must be at least {longest}, the longest text of one emoji in it")
        return split_text(text, limit, fix)

    def encode(self, grid: np.ndarray, fmt: str, tile_px: int = TILE_PX, colours: np.ndarray | None = None,
               cell_colour: bool = False, title: str = "mosaic", quality: int = 90, truecolor: bool = True,
               background=None) -> bytes:
        """The bytes of a mosaic file in one of formats.FORMATS but a video's, made by its encoder there.
        `colours`: the photo's mean colour in each cell (rows, cols, 3), which ANSI (always) and
        `cell_colour` mosaics put behind the emoji; `background`: the colour behind the emoji in images
        and HTML pages (None: the model's)."""
        record = format_named(fmt)
        if record.encode is None:
            raise OutputError(f"{fmt} is a video's format, written frame by frame from a video (video.py)")
        wanted = colours is not None and (cell_colour or record.cell_colours)
        look = Look(tile_px=tile_px, backgrounds=self.backgrounds(grid, colours) if wanted else None,
                    background=background, title=title, quality=quality, truecolor=truecolor)
        return record.encode(self, grid, record, look)

    def encode_animation(self, grids: list, colours: list, durations: list, loop: int, fmt: str,
                         tile_px: int = TILE_PX, cell_colour: bool = False, quality: int = 90,
                         background=None) -> bytes:
        """An animated GIF, APNG or WebP of one mosaic per frame, each shown for its duration (ms)."""
        frames = [self.image(grid, tile_px, self.backgrounds(grid, c) if cell_colour else None, background)
                  for grid, c in zip(grids, colours)]
        return animation_bytes(frames, durations, loop, fmt, quality)

    def write(self, grid: np.ndarray, path, fmt: str, tile_px: int = TILE_PX, overwrite: bool = False, **look) -> None:
        """Write the mosaic to `path` atomically: never half a file, even on a full disk; an existing
        file only with `overwrite` (checked as the file is put in place, so two runs cannot both win).
        `look`: encode's colours, cell_colour, title, quality, truecolor, background."""
        data = self.encode(grid, fmt, tile_px, **look)
        write_bytes(path, data, replace=overwrite)


def _made_once(cache: dict, classes, make) -> np.ndarray:
    """The cached array of each class, `make(new classes)` called only for those not cached yet."""
    new = [c for c in classes if c not in cache]
    if new:
        cache.update(zip(new, make(np.array(new))))
    return np.stack([cache[c] for c in classes])


def draw_faces(grid: np.ndarray, faces: np.ndarray) -> Image.Image:
    """grid: (rows, cols) indices into faces (n, t, t, 3) -> the RGB mosaic, cols·t × rows·t."""
    (rows, cols), t = grid.shape, faces.shape[1]
    return Image.fromarray(faces[grid].transpose(0, 2, 1, 3, 4).reshape(rows * t, cols * t, 3))
