"""Options: the rules of a conversion that the library holds, whoever calls it (the format follows the name)."""
import pytest

from pic2emoji.errors import OutputError
from pic2emoji.options import AUTO, Options


def test_the_format_follows_the_output_name_and_a_picture_gets_the_auto_background():
    for name, fmt in [("x.webp", "webp"), ("x.JPG", "jpg"), ("x.jpeg", "jpg"), ("x.txt", "txt"), ("x.ans", "ansi"),
                      ("x.html", "html"), ("x", "png")]:
        assert Options().for_output(name).fmt == fmt, name
    assert Options().for_output("x.jpg").background == AUTO and Options().for_output("x.txt").palette == "terminal"
    assert Options().background is None and Options().palette is None  # no format yet: nothing decided by it


def test_a_name_that_contradicts_the_format_is_refused_and_one_that_fits_is_kept():
    with pytest.raises(OutputError, match=r"x\.jpg: the extension \.jpg names jpg, not png"):
        Options("png").for_output("x.jpg")
    with pytest.raises(OutputError, match=r"x\.xyz: unknown extension '\.xyz'"):
        Options().for_output("x.xyz")
    assert Options("shortcodes").for_output("m.txt").fmt == "shortcodes"  # shortcodes are text: .txt
    assert Options("png").for_output("mosaic").fmt == "png" and Options("jpg").for_output("x.xyz").fmt == "jpg"


def test_options_refuse_what_no_format_or_method_means():
    with pytest.raises(OutputError, match="unknown format"):
        Options("bmp")
    with pytest.raises(OutputError, match="unknown method"):
        Options(method="magic")
    with pytest.raises(OutputError, match="unknown palette"):
        Options(palette="some")
    with pytest.raises(OutputError, match="--background auto chooses"):
        Options("txt", background="auto")


def test_options_that_do_nothing_for_a_format_are_named():
    assert Options("txt").unused("cell_colour", "quality", "tile_px") == ["cell_colour", "quality", "tile_px"]
    assert Options("ansi").unused("cell_colour") == ["cell_colour"]  # it always has cell colours
    assert Options("jpg").unused("cell_colour", "quality", "tile_px") == []
    assert Options("png").unused("quality", "tile_px") == ["quality"] and Options().unused("quality") == ["quality"]
    assert Options("html").unused("cell_colour", "tile_px") == ["tile_px"] and Options("mp4").unused("tile_px") == []
