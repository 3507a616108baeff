"""Rendering grids: tiles on the background, text lines, each tile read once and only when shown."""
import io
import shutil

import numpy as np
import pytest
from PIL import Image

from pic2emoji.errors import OutputError
from pic2emoji.render import Renderer, split_text

from conftest import one_line_error, run, solid


def renderer(asked=None):
    """Three classes: opaque red, fully transparent (shows the background), opaque blue."""
    tiles = np.zeros((3, 72, 72, 4), np.uint8)
    tiles[0], tiles[2] = (255, 0, 0, 255), (0, 0, 255, 255)

    def read(classes):
        if asked is not None:
            asked.append(sorted(classes.tolist()))
        return tiles[classes]
    return Renderer(read, {"txt": ["🟥", "⬜", "🟦"], "shortcodes": [":red_square:", ":white_large_square:", ":b:"]},
                    (0, 255, 0))


def test_image_size_and_colours():
    image = renderer().image(np.array([[0, 1, 0]]), tile_px=10)
    assert image.size == (30, 10) and image.mode == "RGB"
    assert image.getpixel((5, 5)) == (255, 0, 0) and image.getpixel((15, 5)) == (0, 255, 0)


def test_text_lines():
    assert renderer().text(np.array([[0, 1], [1, 1]])) == "🟥⬜\n⬜⬜\n"
    assert renderer().text(np.array([[0, 2]]), "shortcodes") == ":red_square::b:\n"


@pytest.mark.parametrize("limit", [3, 4, 7, 8, 11, 12, 100])
def test_split_text_cuts_on_row_boundaries_into_pieces_that_fit(limit):
    text = "abc\nde\nfgh\ni\njk\n"
    pieces = split_text(text, limit)
    assert all(len(piece) <= limit for piece in pieces)
    assert "\n".join(pieces) + "\n" == text  # together, the same rows in the same order
    # greedy: no piece could have taken the next one's first row
    assert all(len(a) + 1 + len(b.split("\n")[0]) > limit for a, b in zip(pieces, pieces[1:]))


def test_split_text_examples():
    assert split_text("ab\ncd\nef\n", 5) == ["ab\ncd", "ef"]   # "ab\ncd" is 5 characters: the newline counts
    assert split_text("ab\ncd\nef\n", 4) == ["ab", "cd", "ef"]
    assert split_text("ab\ncd\nef\n", 8) == ["ab\ncd\nef"]


def test_a_row_longer_than_the_limit_says_which_cols_fit():
    """Judged from the rows made, not from the longest text the set has."""
    with pytest.raises(OutputError, match=r"^row 2 of the mosaic is 32 characters, more than --split 30; "
                                          r"use --cols 1 or fewer \(its widest row takes 16 characters a cell\)$"):
        renderer().pieces(np.array([[2, 2], [0, 1]]), "shortcodes", 30)
    with pytest.raises(OutputError, match="use --cols 2 or fewer \\(its widest row takes 3 characters a cell"):
        renderer().pieces(np.array([[2, 2, 2]]), "shortcodes", 6)  # :b: is 3 characters, not :white_large_square:'s 20
    with pytest.raises(OutputError, match="use --cols 10 or fewer \\(its widest row takes 1 character a cell"):
        renderer().pieces(np.zeros((2, 12), int), "txt", 10)  # the terminal palette: a character a cell
    with pytest.raises(OutputError, match="--split must be at least 12, the longest text of one emoji in it"):
        renderer().pieces(np.array([[0]]), "shortcodes", 5)
    assert renderer().pieces(np.array([[0, 1, 2]] * 3), "txt", 7) == ["🟥⬜🟦\n🟥⬜🟦", "🟥⬜🟦"]  # 3 + 1 + 3


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
    text = run("infer", emoji, photo, "--model", tiny_model, "--cols", 4, "--method", "net")
    assert text.exit_code == 0 and len(text.stdout.splitlines()) > 0  # the net's text needs the names only
    one_line_error(run("infer", emoji, photo, "--model", tiny_model, "--cols", 4),  # refine compares the tiles
                   str(emoji), ".png: not a readable image", "remove or replace it")
    out = tmp_path / "out.png"
    one_line_error(run("infer", emoji, photo, "--model", tiny_model, "--cols", 4, "-o", out),
                   str(emoji), ".png: not a readable image", "remove or replace it")
    assert not out.exists()
