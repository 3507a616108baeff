"""Batch conversion: folders walked, bad photos reported while the rest convert, the report."""
import os

import pytest
from PIL import Image

from pic2emoji.batch import convert_all, photos_in
from pic2emoji.errors import ImageError, OutputError
from pic2emoji.convert import Options

from conftest import assert_names_shown_escaped, hostile_photos, one_line_error, run, solid


def test_photos_are_found_in_sorted_order_with_their_relative_paths(tmp_path):
    (tmp_path / "b").mkdir()
    for name in ["z.jpg", "a.PNG", ".hidden.jpg", "notes.txt", "b/c.webp"]:
        (tmp_path / name).write_bytes(b"x")
    single = tmp_path / "b" / "c.webp"
    found = [(p.relative_to(tmp_path).as_posix(), r.as_posix()) for p, r in photos_in([tmp_path, single])]
    assert found == [("a.PNG", "a.PNG"), ("z.jpg", "z.jpg"), ("b/c.webp", "b/c.webp"), ("b/c.webp", "c.webp")]


def test_convert_all_reports_each_photo(converter, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    solid(photos / "red.png", (220, 30, 30))
    solid(photos / "blue.jpg", (30, 60, 230))
    (photos / "bad.png").write_bytes(b"not a png")
    errors = []
    report = convert_all(converter, [photos], tmp_path / "out", Options("txt", cols=3), on_error=errors.append)
    assert report.converted == [tmp_path / "out" / "blue.txt", tmp_path / "out" / "red.txt"]
    assert [p.name for p, _ in report.failed] == ["bad.png"] and errors == [report.failed[0][1]]
    assert "bad.png: not a readable image" in errors[0] and report.skipped == []
    assert (tmp_path / "out" / "red.txt").read_text(encoding="utf-8") == \
        converter.text(converter.grid(photos / "red.png", cols=3, palette="terminal"))
    again = convert_all(converter, [photos], tmp_path / "out", Options("txt", cols=3), skip_existing=True)
    assert len(again.skipped) == 2 and again.converted == [] and str(again).startswith("converted 0, skipped 2, failed 1")


def test_two_photos_that_would_share_a_mosaic_are_refused(converter, tmp_path):
    solid(tmp_path / "a.png", (220, 30, 30))
    solid(tmp_path / "a.jpg", (30, 60, 230))
    report = convert_all(converter, [tmp_path / "a.jpg", tmp_path / "a.png"], tmp_path / "out", Options(cols=2))
    assert len(report.converted) == 1 and "would overwrite another input's" in report.failed[0][1]
    assert Image.open(tmp_path / "out" / "a.png").size == (64, 64)


def test_no_photos_at_all_is_an_error(converter, tmp_path):
    with pytest.raises(ImageError, match="no photos"):
        convert_all(converter, [tmp_path], tmp_path / "out")


def test_batch_converts_the_rest_and_names_the_bad_file(tiny_set, tiny_model, tmp_path):
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    solid(photos / "a.jpg", (200, 0, 0))
    solid(photos / "sub" / "b.png", (0, 0, 200))
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (photos / "notes.txt").write_text("not a photo, not an image suffix: ignored")
    out = tmp_path / "out"
    result = run("infer", tiny_set, photos, "--model", tiny_model, "-o", out, "--cols", 4)
    assert result.exit_code == 1
    assert "broken.jpg" in result.stderr and "converted 2, skipped 0, failed 1" in result.stderr
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["a.png", "sub", "sub/b.png"]
    again = run("infer", tiny_set, photos, "--model", tiny_model, "-o", out, "--skip-existing")
    assert again.exit_code == 1 and "converted 0, skipped 2, failed 1" in again.stderr


def test_folder_without_photos(tiny_set, tiny_model, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "readme.txt").write_text("x")
    one_line_error(run("infer", tiny_set, tmp_path / "in", "--model", tiny_model, "-o", tmp_path / "out"), "no photos")


def test_the_output_folder_inside_the_photos_is_never_read_as_photos(tiny_set, tiny_model, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    solid(photos / "a.png", (200, 0, 0))
    out = photos / "mosaics"
    for _ in range(3):
        result = run("infer", tiny_set, photos, "--model", tiny_model, "-o", out, "--cols", 2, "--skip-existing")
        assert result.exit_code == 0, result.output
    assert sorted(p.relative_to(photos).as_posix() for p in photos.rglob("*")) == ["a.png", "mosaics", "mosaics/a.png"]
    assert "converted 0, skipped 1, failed 0" in result.stderr


def test_a_fifo_in_a_folder_is_skipped_with_a_note(tiny_set, tiny_model, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    solid(photos / "a.png", (200, 0, 0))
    os.mkfifo(photos / "b.jpg")  # opening it would wait for a writer forever
    result = run("infer", tiny_set, photos, "--model", tiny_model, "-o", tmp_path / "out", "--cols", 2)
    assert result.exit_code == 0 and "note: " in result.stderr and "b.jpg: not a regular file" in result.stderr
    assert "converted 1, skipped 0, failed 0" in result.stderr


def test_shortcode_mosaics_are_txt_files_and_split_is_for_one_photo(converter, tmp_path):
    solid(tmp_path / "red.png", (220, 30, 30))
    report = convert_all(converter, [tmp_path / "red.png"], tmp_path / "out", Options("shortcodes", cols=3))
    assert report.converted == [tmp_path / "out" / "red.txt"]
    assert (tmp_path / "out" / "red.txt").read_text(encoding="utf-8").startswith(":")
    with pytest.raises(OutputError, match="--split cuts the text of one photo"):
        convert_all(converter, [tmp_path / "red.png"], tmp_path / "pieces", Options("txt", split=100))
    assert not (tmp_path / "pieces").exists()


@pytest.mark.slow
def test_on_a_terminal_an_error_line_is_not_glued_onto_the_progress_bar(tiny_set, tiny_model, tmp_path):
    import pty
    import re
    import subprocess
    import sys
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.png", "c.png"):
        solid(photos / name, (200, 0, 0))
    (photos / "b.png").write_bytes(b"broken")
    leader, follower = pty.openpty()  # stderr is a terminal: the bar is drawn
    process = subprocess.Popen([sys.executable, "-m", "pic2emoji", "infer", str(tiny_set), str(photos), "--model",
                                str(tiny_model), "-o", str(tmp_path / "out"), "--cols", "2"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        seen += chunk
    process.wait(timeout=300)
    pieces = re.split(r"[\r\n]", seen.decode(errors="replace"))
    errors = [p for p in pieces if "error:" in p]
    assert errors and all(p.lstrip(" ").startswith("error:") for p in errors), pieces


def test_a_video_in_a_folder_becomes_a_video_in_the_mirror(converter, tmp_path):
    from conftest import make_video
    photos = tmp_path / "photos"
    (photos / "trip").mkdir(parents=True)
    solid(photos / "red.png", (220, 30, 30))
    make_video(photos / "trip" / "clip.mp4", [(30, 60, 230)] * 3)
    (photos / "trip" / "old.avi").write_bytes(b"not a film")
    report = convert_all(converter, [photos], tmp_path / "out", Options(cols=4, tile_px=8))
    assert report.converted == [tmp_path / "out" / "red.png", tmp_path / "out" / "trip" / "clip.mp4"]
    assert [(p.name, "not a readable video" in why) for p, why in report.failed] == [("old.avi", True)]


def test_names_in_error_and_note_lines_are_shown_escaped(tiny_set, tiny_model, tmp_path):
    photos = hostile_photos(tmp_path / "photos")
    result = run("infer", tiny_set, photos, "--model", tiny_model, "-o", tmp_path / "out\x1b[31m", "--cols", 2)
    assert result.exit_code == 1
    assert_names_shown_escaped(result.stderr)
    assert "out\\x1b[31m" in result.stderr.splitlines()[-1]  # the report's folder too
