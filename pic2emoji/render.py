"""Render a grid of class indices as a PNG of emoji tiles or as lines of emoji text.

Pure and model-free: it takes the grid, the tiles and the characters, nothing else (no tinygrad).
"""
import numpy as np
from PIL import Image

from .emoji_sets import composite, resize_tiles


def render_image(grid: np.ndarray, tiles: np.ndarray, background, tile_px: int = 32) -> Image.Image:
    """grid: (rows, cols) class indices; tiles: (classes, s, s, 4) RGBA -> RGB image of cols·tile_px × rows·tile_px.

    Each tile is drawn on the background the model was trained with, so the mosaic shows what the
    net compared the photo against.
    """
    used, inverse = np.unique(grid, return_inverse=True)
    return draw_faces(inverse.reshape(grid.shape), faces(tiles[used], background, tile_px))


def faces(tiles: np.ndarray, background, tile_px: int) -> np.ndarray:
    """RGBA tiles -> what the mosaic shows of them: (n, tile_px, tile_px, 3) uint8 RGB on the background."""
    tiles = resize_tiles(tiles, tile_px) if tiles.shape[1] != tile_px else tiles
    return np.clip(composite(tiles, background) + 0.5, 0, 255).astype(np.uint8)


def draw_faces(grid: np.ndarray, faces: np.ndarray) -> Image.Image:
    """grid: (rows, cols) indices into faces (n, t, t, 3) -> the RGB mosaic, cols·t × rows·t."""
    (rows, cols), t = grid.shape, faces.shape[1]
    return Image.fromarray(faces[grid].transpose(0, 2, 1, 3, 4).reshape(rows * t, cols * t, 3))


def render_text(grid: np.ndarray, texts: list[str]) -> str:
    """One line per grid row, one emoji per cell, each line ending in a newline."""
    return "".join("".join(texts[c] for c in row) + "\n" for row in grid)
