"""Rendering grids: tiles on the background, text lines, each tile read once and only when shown."""
import io
import shutil

import numpy as np
from PIL import Image

from pic2emoji.render import Renderer

from conftest import one_line_error, run, solid


def renderer(asked=None):
    """Three classes: opaque red, fully transparent (shows the background), opaque blue."""
    tiles = np.zeros((3, 72, 72, 4), np.uint8)
    tiles[0], tiles[2] = (255, 0, 0, 255), (0, 0, 255, 255)

    def read(classes):
        if asked is not None:
            asked.append(sorted(classes.tolist()))
        return tiles[classes]
    return Renderer(read, ["🟥", "⬜", "🟦"], (0, 255, 0))


def test_image_size_and_colours():
    image = renderer().image(np.array([[0, 1, 0]]), tile_px=10)
    assert image.size == (30, 10) and image.mode == "RGB"
    assert image.getpixel((5, 5)) == (255, 0, 0) and image.getpixel((15, 5)) == (0, 255, 0)


def test_text_lines():
    assert renderer().text(np.array([[0, 1], [1, 1]])) == "🟥⬜\n⬜⬜\n"


def test_only_the_tiles_shown_are_read_and_each_once():
    asked = []
    draw = renderer(asked)
    draw.image(np.array([[0, 0]]), tile_px=8)
    draw.image(np.array([[2, 0]]), tile_px=8)
    draw.image(np.array([[2, 0]]), tile_px=16)  # another size: made again from the tiles
    assert asked == [[0], [2], [0, 2]]


def test_encoded_files_read_back(tmp_path):
    grid = np.array([[0, 2], [2, 1]])
    draw = renderer()
    png = Image.open(io.BytesIO(draw.encode(grid, "png", tile_px=4)))
    assert png.format == "PNG" and np.array_equal(np.asarray(png), np.asarray(draw.image(grid, tile_px=4)))
    draw.write(grid, tmp_path / "m.txt", "txt")
    assert (tmp_path / "m.txt").read_text(encoding="utf-8") == "🟥🟦\n🟦⬜\n"


def test_a_damaged_emoji_image_is_named_when_a_mosaic_needs_it(tiny_set, tiny_model, tmp_path):
    emoji = tmp_path / "tiny"
    shutil.copytree(tiny_set, emoji)
    for tile in emoji.glob("*.png"):
        tile.write_bytes(b"not a png")  # every tile damaged: whichever the mosaic picks is one
    photo = solid(tmp_path / "red.png", (220, 30, 30))
    text = run("infer", emoji, photo, "--model", tiny_model, "--cols", 4)
    assert text.exit_code == 0 and len(text.stdout.splitlines()) > 0  # text needs the names only
    out = tmp_path / "out.png"
    one_line_error(run("infer", emoji, photo, "--model", tiny_model, "--cols", 4, "-o", out),
                   str(emoji), ".png: not a readable image", "remove or replace it")
    assert not out.exists()
