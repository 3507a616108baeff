"""One photo into its mosaic: what measure scores (save_mosaic's own tests are in test_options and test_cli)."""
from conftest import GREY, dark_scene, halves, needs


def test_measure_scores_the_mosaic_it_makes(converter, tmp_path):
    needs("skimage")
    from pic2emoji.convert import measure
    from pic2emoji.options import Options
    path = halves(tmp_path / "rb.png", (230, 30, 30), (30, 60, 230))
    scores = measure(converter, path, Options(cols=4))
    assert set(scores) >= {"de2", "de1", "cell_psnr", "ssim6", "distinct"} and scores["method"] == "refine"
    assert 0 <= scores["de2"] < 30 and scores["cell_psnr"] > 10


def test_a_dark_photo_is_drawn_nearer_its_colours_on_its_own_background(converter, tmp_path):
    needs("skimage")
    from pic2emoji.convert import measure
    from pic2emoji.options import Options
    path = tmp_path / "night.png"
    dark_scene().save(path)
    grey, auto = (measure(converter, path, Options(cols=8, background=b)) for b in (GREY, None))  # None: auto, for pictures
    assert grey["background"] == "#808080" and auto["background"] != "#808080"
    assert auto["de2"] < 0.9 * grey["de2"], (grey, auto)


def test_save_mosaic_writes_the_format_the_name_asks_for(converter, tmp_path):
    from PIL import Image
    from pic2emoji import save_mosaic
    photo = halves(tmp_path / "p.png", (230, 30, 30), (30, 60, 230))
    for name, pillow in [("x.webp", "WEBP"), ("x.jpg", "JPEG"), ("x.png", "PNG")]:
        assert save_mosaic(converter, photo, tmp_path / name) == [tmp_path / name]
        with Image.open(tmp_path / name) as written:
            assert written.format == pillow, name


def test_a_mosaic_too_large_to_draw_is_refused_before_any_work(converter, tmp_path, monkeypatch):
    import pytest
    from pic2emoji.convert import prepare
    from pic2emoji.errors import OutputError
    from pic2emoji.options import Options
    photo = halves(tmp_path / "p.png", (230, 30, 30), (30, 60, 230), size=(800, 600))
    monkeypatch.setattr(converter, "cells", lambda *a, **k: pytest.fail("converted before the cap was checked"))
    with pytest.raises(OutputError, match=r"a mosaic of 200×150 emoji at 512 px would be 7864 megapixels"):
        prepare(converter, photo, tmp_path / "x.png", Options("png", cols=200, tile_px=512))
