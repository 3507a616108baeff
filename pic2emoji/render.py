"""Render a grid of class indices as a mosaic: an image of emoji tiles, or lines of emoji text.

Model-free (no tinygrad): it takes the grid and, from the Renderer, the tiles and the texts of the
classes. Every output format is drawn here, and text is cut here into pieces that fit a chat message.
"""
import io
from pathlib import Path

import numpy as np
from PIL import Image

from .defaults import MAX_MOSAIC_PIXELS, TILE_PX
from .errors import OutputError
from .files import write_atomically
from .pixels import composite, resize_tiles, to_uint8

FORMATS = ("png", "txt", "shortcodes")
TEXT_FORMATS = ("txt", "shortcodes")  # txt: emoji as characters; shortcodes: every emoji as :name:, for chats
PNG_LEVEL = 1  # zlib level: the fastest; mosaics of a few hundred repeated tiles gain little from more


def format_of(path) -> str | None:
    """The format a file name asks for by its extension (`.png`, `.txt`), or None."""
    suffix = Path(path).suffix.lower()[1:]
    return suffix if suffix in ("png", "txt") else None


def suffix_of(fmt: str) -> str:
    """The extension of a format's files: both text formats write .txt."""
    return ".png" if fmt == "png" else ".txt"


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
    for each of TEXT_FORMATS, the text of every class.
    """
    def __init__(self, tiles, texts: dict[str, list[str]], background):
        self.tiles, self.texts, self.background = tiles, texts, tuple(background)
        self._faces = {}  # tile_px -> {class: face}

    def faces(self, classes: np.ndarray, tile_px: int) -> np.ndarray:
        """(n, tile_px, tile_px, 3) uint8: what the mosaic shows of these classes."""
        known = self._faces.setdefault(tile_px, {})
        new = [c for c in classes if c not in known]
        if new:
            known.update(zip(new, faces(self.tiles(np.array(new)), self.background, tile_px)))
        return np.stack([known[c] for c in classes])

    def image(self, grid: np.ndarray, tile_px: int = TILE_PX) -> Image.Image:
        """RGB image of cols·tile_px × rows·tile_px: each cell's emoji on the background."""
        if grid.size * tile_px ** 2 > MAX_MOSAIC_PIXELS:
            raise OutputError(f"a mosaic of {grid.shape[1]}×{grid.shape[0]} emoji at {tile_px} px would be "
                              f"{grid.size * tile_px ** 2 / 1e6:.0f} megapixels, more than the "
                              f"{MAX_MOSAIC_PIXELS / 1e6:.0f} pic2emoji draws; lower --tile-px or --cols")
        used, inverse = np.unique(grid, return_inverse=True)
        return draw_faces(inverse.reshape(grid.shape), self.faces(used, tile_px))

    def text(self, grid: np.ndarray, fmt: str = "txt") -> str:
        """One line per grid row, one emoji per cell, each line ending in a newline."""
        texts = self.texts[fmt]
        return "".join("".join(texts[c] for c in row) + "\n" for row in grid)

    def pieces(self, grid: np.ndarray, fmt: str, limit: int) -> list[str]:
        """The text cut on row boundaries into pieces of at most `limit` characters (see split_text)."""
        widest = max(map(len, self.texts[fmt]))  # at most this many characters a cell, whichever emoji it gets
        fix = (f"use --cols {limit // widest} or fewer (a cell takes up to {widest})" if limit >= widest else
               f"--split must be at least {widest}, the longest text of one emoji")
        return split_text(self.text(grid, fmt), limit, fix)

    def encode(self, grid: np.ndarray, fmt: str, tile_px: int = TILE_PX) -> bytes:
        """The bytes of a mosaic file in one of FORMATS."""
        if fmt in TEXT_FORMATS:
            return self.text(grid, fmt).encode("utf-8")
        out = io.BytesIO()
        self.image(grid, tile_px).save(out, format="PNG", compress_level=PNG_LEVEL)
        return out.getvalue()

    def write(self, grid: np.ndarray, path, fmt: str, tile_px: int = TILE_PX, overwrite: bool = False) -> None:
        """Write the mosaic to `path` atomically: never half a file, even on a full disk; an existing
        file only with `overwrite` (checked as the file is put in place, so two runs cannot both win)."""
        data = self.encode(grid, fmt, tile_px)
        write_atomically(Path(path), lambda temp: Path(temp).write_bytes(data), replace=overwrite)


def faces(tiles: np.ndarray, background, tile_px: int) -> np.ndarray:
    """RGBA tiles -> what the mosaic shows of them: (n, tile_px, tile_px, 3) uint8 RGB on the background."""
    tiles = resize_tiles(tiles, tile_px) if tiles.shape[1] != tile_px else tiles
    return to_uint8(composite(tiles, background))


def draw_faces(grid: np.ndarray, faces: np.ndarray) -> Image.Image:
    """grid: (rows, cols) indices into faces (n, t, t, 3) -> the RGB mosaic, cols·t × rows·t."""
    (rows, cols), t = grid.shape, faces.shape[1]
    return Image.fromarray(faces[grid].transpose(0, 2, 1, 3, 4).reshape(rows * t, cols * t, 3))
