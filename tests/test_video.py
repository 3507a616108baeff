"""Films through PyAV (video.py): read a frame at a time, written at their rate or each frame's own
duration, the background auto chose kept, photos and films not mixed, PyAV named when missing."""
from fractions import Fraction

import pytest
from PIL import Image

from pic2emoji.errors import ImageError
from pic2emoji.video import Film, write_film

from conftest import make_video, needs, one_line_error, run, solid


@pytest.mark.parametrize("name", ["m.mp4", "m.webm"])
def test_a_video_gives_a_video_of_mosaics_at_its_frame_rate(tiny_set, tiny_model, tmp_path, name):
    import av
    source = make_video(tmp_path / "in.mp4", [(230, 30, 30)] * 3 + [(30, 60, 230)] * 3)
    result = run("infer", tiny_set, source, "--model", tiny_model, "-o", tmp_path / name, "--cols", 4, "--tile-px", 8)
    assert result.exit_code == 0, result.output
    with av.open(str(tmp_path / name)) as film:
        stream = film.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in film.decode(stream)]
        assert float(stream.average_rate) == pytest.approx(10) and len(frames) == 6
    assert frames[0].shape == (24, 32, 3)  # 4 × 3 cells of 8 px
    assert frames[0].mean((0, 1))[0] > frames[0].mean((0, 1))[2] and frames[-1].mean((0, 1))[2] > frames[-1].mean((0, 1))[0]


def test_a_video_keeps_the_background_auto_chose_for_its_first_frame(tiny_set, tiny_model, tmp_path):
    import av
    source = make_video(tmp_path / "in.mp4", [(48, 48, 48)] * 3 + [(200, 200, 200)] * 3, size=(128, 96))
    result = run("infer", tiny_set, source, "--model", tiny_model, "-o", tmp_path / "m.mp4", "--cols", 4, "--tile-px", 32)
    assert result.exit_code == 0, result.output
    with av.open(str(tmp_path / "m.mp4")) as film:
        corners = [frame.to_ndarray(format="rgb24")[1, 1].astype(int) for frame in film.decode(film.streams.video[0])]
    assert len(corners) == 6 and all(max(c) < 60 for c in corners), corners  # dark, as the first frames need, to the end


def test_videos_and_photos_do_not_mix_and_pyav_is_named_when_missing(tiny_set, tiny_model, tmp_path, monkeypatch):
    photo = solid(tmp_path / "p.png", (0, 0, 200))
    one_line_error(run("infer", tiny_set, photo, "--model", tiny_model, "-o", tmp_path / "m.mp4"), "a video makes a video")
    import builtins
    real = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", lambda name, *a, **k: (_ for _ in ()).throw(ImportError(name))
                        if name == "av" else real(name, *a, **k))
    (tmp_path / "in.mp4").write_bytes(b"not really a video")
    one_line_error(run("infer", tiny_set, tmp_path / "in.mp4", "--model", tiny_model, "-o", tmp_path / "m.mp4"),
                   "pip install 'pic2emoji[video]'")


def test_film_reads_its_frames_rate_and_size(tmp_path):
    source = make_video(tmp_path / "in.mp4", [(230, 30, 30), (30, 60, 230)], rate=12, size=(64, 48))
    with Film(source) as film:
        frames = list(film)
        assert (film.rate, film.width, film.height, film.has_audio) == (12, 64, 48, False)
    assert len(frames) == 2 and frames[0].size == (64, 48) and frames[1].getpixel((32, 24))[2] > 150


def test_a_film_from_an_animation_keeps_each_frames_duration(tmp_path):
    av = needs("av")
    frames = [Image.new("RGB", (32, 24), c) for c in ("red", "blue", "green")]
    write_film(tmp_path / "m.mp4", "mp4", iter(frames), rate=Fraction(1000, 100), durations=[100, 300, 200])
    with av.open(str(tmp_path / "m.mp4")) as film:
        stream = film.streams.video[0]
        times = [float(frame.pts * frame.time_base) for frame in film.decode(stream)]
    assert times == pytest.approx([0, 0.1, 0.4], abs=0.002)


def test_a_damaged_film_and_an_empty_one_are_refused_in_one_line(tmp_path):
    needs("av")
    (tmp_path / "in.mp4").write_bytes(b"not really a video")
    with pytest.raises(ImageError, match=r"in\.mp4: not a readable video \(.+\); check the file$"):
        Film(tmp_path / "in.mp4")
    with pytest.raises(ImageError, match="no frames to write"):
        write_film(tmp_path / "m.mp4", "mp4", iter([]), rate=10)
    assert not (tmp_path / "m.mp4").exists()
