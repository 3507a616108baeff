"""One photo into its mosaic: what measure scores (save_mosaic's own tests are in test_options and test_cli)."""
from pathlib import Path

import numpy as np

from conftest import GREY, dark_scene, halves, make_video, needs


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


def test_animations_and_videos_go_to_every_animated_format(converter, tmp_path):
    """GIF to MP4 and WebM with each frame's duration kept; MP4 to GIF, APNG and WebP at its frame rate."""
    import av
    from PIL import Image
    from pic2emoji import save_mosaic
    frames = [Image.new("RGB", (64, 48), c) for c in [(230, 30, 30), (30, 60, 230), (30, 200, 60)]]
    frames[0].save(tmp_path / "in.gif", save_all=True, append_images=frames[1:], duration=[100, 200, 300], loop=0)
    for name in ("a.mp4", "a.webm"):
        save_mosaic(converter, tmp_path / "in.gif", tmp_path / name, _options(cols=4, tile_px=8))
        with av.open(str(tmp_path / name)) as film:
            times = [round(float(f.time), 2) for f in film.decode(film.streams.video[0])]
        assert times == [0.0, 0.1, 0.3], name  # each frame when the GIF shows it
    film = make_video(tmp_path / "in.mp4", [(230, 30, 30)] * 2 + [(30, 60, 230)] * 2)
    for name in ("b.gif", "b.png", "b.webp"):
        save_mosaic(converter, film, tmp_path / name, _options(cols=4, tile_px=8))
        with Image.open(tmp_path / name) as out:
            shown = []
            for number in range(out.n_frames):  # (GIF joins identical frames, adding their durations)
                out.seek(number)
                out.load()  # WebP tells a frame's duration once it is read
                shown.append(out.info["duration"])
            assert sum(shown) == 400, (name, shown)  # four frames at 10 a second
            assert np.asarray(out.convert("RGB")).mean((0, 1))[2] > 100  # the last frames are blue
    import pytest
    from pic2emoji.errors import OutputError
    with pytest.raises(OutputError, match="a video makes a video or an animation"):
        save_mosaic(converter, film, tmp_path / "b.jpg")


def _options(**settings):
    from pic2emoji.options import Options
    return Options(**settings)


def test_a_video_to_text_gives_its_frames_at_its_rate(converter, tmp_path):
    from pic2emoji.convert import text_frames
    film = make_video(tmp_path / "in.mp4", [(230, 30, 30)] * 2 + [(30, 60, 230)] * 2)
    frames = text_frames(converter, film, _options(fmt="txt", cols=4))
    assert [duration for _, duration in frames] == [100] * 4
    assert all(len(text.splitlines()) == 3 for text, _ in frames) and frames[0][0] != frames[-1][0]


def test_a_folder_takes_the_mosaic_named_after_the_photo(tmp_path):
    """-o DIR/ or an existing folder: the mosaic goes in it, named after the photo; a video stays a video."""
    from pic2emoji.options import target
    from pic2emoji.options import Options
    (tmp_path / "there").mkdir()
    assert target("trip/cat.jpg", "new/", Options()) == (Path("new/cat.png"), Options("png"))
    assert target("cat.jpg", tmp_path / "there", Options(cols=9))[0] == tmp_path / "there" / "cat.png"
    assert target("cat.jpg", "new/", Options("txt"))[0] == Path("new/cat.txt")
    assert target("clip.mov", "new/", Options()) == (Path("new/clip.mov"), Options("mov"))
    assert target("clip.avi", "new/", Options())[1].fmt == "mp4" and target("clip.mov", "new/", Options("gif"))[1].fmt == "gif"
    assert target("cat.jpg", "new", Options()) == (Path("new"), Options("png"))  # no slash, no folder: a file's name


def test_a_video_into_a_folder_is_a_video_in_it(converter, tmp_path):
    from pic2emoji.convert import save_mosaic
    from pic2emoji.options import Options
    clip = make_video(tmp_path / "clip.mp4", [(30, 60, 230)] * 2)
    written = save_mosaic(converter, clip, f"{tmp_path / 'films'}/", Options("mp4", cols=4, tile_px=8))
    assert written == [tmp_path / "films" / "clip.mp4"] and (tmp_path / "films").is_dir()


def test_still_tells_one_still_picture_from_an_animation_and_a_film(tmp_path):
    from PIL import Image
    from pic2emoji.convert import still
    Image.new("RGB", (16, 16), "red").save(tmp_path / "p.png")
    frames = [Image.new("RGB", (16, 16), c) for c in ("red", "blue")]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    assert still(tmp_path / "p.png") and still(Image.new("RGB", (4, 4)))
    assert not still(tmp_path / "a.gif") and not still(tmp_path / "clip.mp4")
