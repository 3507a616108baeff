"""The infer command: photos to mosaic files or stdout, its options, exit codes and one-line errors."""
import json
import os
import re
import shutil
import stat
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import CUSTOM, halves, jpeg_bytes, needs, one_line_error, png_bytes, run, solid


def test_infer_png_size_follows_cols_and_aspect(tiny_set, tiny_model, tmp_path):
    photo = tmp_path / "p.png"
    Image.new("RGB", (400, 300), (200, 30, 30)).save(photo)
    result = run("infer", tiny_set, photo, "--model", tiny_model, "-o", tmp_path / "m.png", "--cols", 8, "--tile-px", 10)
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "m.png").size == (80, 60)  # 8 cols × round(8·300/400) = 6 rows


def test_infer_text_to_file_and_stdout_are_the_same(tiny_set, tiny_model, tmp_path):
    photo = halves(tmp_path / "p.png", (230, 30, 30), (30, 60, 230), size=(160, 120))
    result = run("infer", tiny_set, photo, "--model", tiny_model, "-o", tmp_path / "m.txt", "--cols", 8)
    assert result.exit_code == 0
    text = (tmp_path / "m.txt").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) == 6 and all(len(line) == 8 for line in lines)  # one code point each: terminal palette
    stdout = run("infer", tiny_set, photo, "--model", tiny_model, "--cols", 8)
    assert stdout.exit_code == 0 and stdout.stdout == text and stdout.stderr == ""


def test_infer_refuses_to_overwrite(tiny_set, tiny_model, tmp_path):
    photo = solid(tmp_path / "p.png", (0, 0, 200))
    out = tmp_path / "m.png"
    out.write_bytes(b"mine")
    result = run("infer", tiny_set, photo, "--model", tiny_model, "-o", out)
    assert result.exit_code == 1 and "--overwrite" in result.output and out.read_bytes() == b"mine"
    assert run("infer", tiny_set, photo, "--model", tiny_model, "-o", out, "--overwrite").exit_code == 0
    assert out.read_bytes().startswith(b"\x89PNG")


def test_infer_never_writes_over_its_input(tiny_set, tiny_model, tmp_path):
    photo = solid(tmp_path / "p.png", (0, 0, 200))
    before = photo.read_bytes()
    result = run("infer", tiny_set, photo, "--model", tiny_model, "-o", photo, "--overwrite")
    assert result.exit_code == 1 and "input photo itself" in result.output and photo.read_bytes() == before


def test_folder_input_needs_an_output(tiny_set, tiny_model, tmp_path):
    result = run("infer", tiny_set, tmp_path, "--model", tiny_model)
    assert result.exit_code == 2 and "-o OUT_DIR" in result.output


def test_missing_model_says_how_to_fix(tiny_set, tmp_path):
    result = run("infer", tiny_set, solid(tmp_path / "p.png", (0, 0, 0)), "--model", tmp_path / "none.safetensors")
    assert result.exit_code == 1 and "pic2emoji train" in result.output


@pytest.mark.parametrize("name, content", [
    ("empty.jpg", b""),
    ("truncated.jpg", jpeg_bytes()[:300]),
    ("truncated.png", png_bytes()[:60]),
    ("notes.jpg", b"just some text\n"),
    ("page.png", b"<!doctype html><html><body>hello</body></html>"),
    ("photo.png", b"hello, this is text"),
])
def test_unreadable_inputs(tiny_set, tiny_model, tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    out = tmp_path / "out.png"
    one_line_error(run("infer", tiny_set, tmp_path / name, "--model", tiny_model, "-o", out), name, "not a readable image")
    assert list(tmp_path.iterdir()) == [tmp_path / name]  # no output, no temp file


def test_model_of_another_set_via_cli(tiny_model, tmp_path):
    one_line_error(run("infer", "noto-small", solid(tmp_path / "p.png", (0, 0, 0)), "--model", tiny_model),
                   "trained on emoji set 'tiny'", "pic2emoji train")


# --- hostile input and surroundings ----------------------------------------------------------------------

def test_cols_and_rows_together_are_refused():
    result = run("infer", "noto-small", "x.jpg", "--cols", 10, "--rows", 5)
    assert result.exit_code == 2 and "not both" in result.output


@pytest.mark.parametrize("size, options, words", [
    ((1, 60_000), [], ["60000×1", "--rows 50000 or less"]),  # a 1-pixel-wide strip: rows follow its height
    ((400, 300), ["--cols", 1000], ["750×1000", "--cols 257 or less"]),
    ((400, 300), ["--cols", 40, "--tile-px", 512], ["megapixels", "--tile-px"]),
])
def test_grids_and_mosaics_too_large_for_memory_are_refused_up_front(tiny_set, tiny_model, tmp_path, size, options, words):
    photo = solid(tmp_path / "p.png", (200, 0, 0), size=size)
    one_line_error(run("infer", tiny_set, photo, "--model", tiny_model, "-o", tmp_path / "m.png", *options), *words)
    assert not (tmp_path / "m.png").exists()


@pytest.mark.slow
def test_a_header_claiming_a_huge_strip_is_refused_under_a_memory_ceiling(tiny_set, tiny_model, tmp_path):
    """1 × 100,000,000 pixels passes the decompression-bomb check (100 MP); its grid would not fit in memory."""
    import struct
    import zlib
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    strip = tmp_path / "strip.png"
    strip.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 100_000_000, 8, 2, 0, 0, 0))
                      + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
    ceiling = "import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_DATA, (3 << 30, 3 << 30)); " \
              "sys.argv = ['pic2emoji'] + sys.argv[1:]; runpy.run_module('pic2emoji', run_name='__main__')"
    out = subprocess.run([sys.executable, "-c", ceiling, "infer", str(tiny_set), str(strip), "--model", str(tiny_model),
                          "-o", str(tmp_path / "m.png")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and "Traceback" not in out.stderr and "--rows 50000 or less" in out.stderr, out.stderr


def test_overwrite_replaces_regular_files_only(tiny_set, tiny_model, tmp_path):
    fifo = tmp_path / "m.png"
    os.mkfifo(fifo)
    one_line_error(run("infer", tiny_set, solid(tmp_path / "p.png", (0, 0, 200)), "--model", tiny_model, "-o", fifo,
                       "--overwrite"), "m.png", "not a regular file")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_fifo_given_as_the_photo_is_refused_not_waited_for(tiny_set, tiny_model, tmp_path):
    os.mkfifo(tmp_path / "p.png")
    one_line_error(run("infer", tiny_set, tmp_path / "p.png", "--model", tiny_model), "p.png", "not a regular file")


# Custom emoji sets, as a chat workspace's: shortcode text, and text cut to fit chat messages.

SHORTCODE = re.compile(r":[a-z0-9_+-]+:")


def shortcode_rows(text):
    """Each line of a shortcode mosaic as its list of shortcodes; the line must be nothing else."""
    rows = [SHORTCODE.findall(line) for line in text.splitlines()]
    assert ["".join(row) for row in rows] == text.splitlines(), text
    return rows


def test_a_custom_set_trains_and_prints_its_shortcodes(custom_set, custom_model, tmp_path):
    photo = halves(tmp_path / "p.png", (230, 30, 30), (30, 60, 230), size=(160, 120))  # red over blue
    result = run("infer", custom_set, photo, "--model", custom_model, "--cols", 8)
    assert result.exit_code == 0 and result.stderr == "", result.output
    rows = shortcode_rows(result.stdout)
    assert len(rows) == 6 and all(len(row) == 8 for row in rows)
    assert rows[:3] == [[":party_parrot:"] * 8] * 3 and rows[3:] == [[":blob_cat:"] * 8] * 3
    asked = run("infer", custom_set, photo, "--model", custom_model, "--cols", 8, "--format", "shortcodes",
                "-o", tmp_path / "m.txt")
    assert asked.exit_code == 0 and (tmp_path / "m.txt").read_text(encoding="utf-8") == result.stdout


def test_every_file_name_of_a_custom_set_becomes_a_shortcode(custom_set, custom_model, tmp_path):
    photo = tmp_path / "stripes.png"
    Image.fromarray(np.repeat(np.array([[c for c, _ in CUSTOM.values()]], np.uint8), 40, axis=1).repeat(40, axis=0)).save(photo)
    result = run("infer", custom_set, photo, "--model", custom_model, "--cols", 5)
    assert result.exit_code == 0, result.output
    assert shortcode_rows(result.stdout) == [[":party_parrot:", ":blob_cat:", ":ship_it:", ":this-is-fine:", ":dark_mode:"]]


def test_names_json_renames_without_retraining(custom_set, custom_model, tmp_path):
    workspace = tmp_path / "workspace"
    shutil.copytree(custom_set, workspace)
    (workspace / "names.json").write_text('{"party_parrot.gif": ":partyparrot:"}', encoding="utf-8")
    photo = solid(tmp_path / "red.png", (230, 30, 30))
    result = run("infer", workspace, photo, "--model", custom_model, "--cols", 3)
    assert result.exit_code == 0 and set(SHORTCODE.findall(result.stdout)) == {":partyparrot:"}, result.output
    (workspace / "names.json").write_text('{"party_parrot.gif": 1}', encoding="utf-8")
    one_line_error(run("infer", workspace, photo, "--model", custom_model), "names.json", "party_parrot.gif",
                   "non-empty string")


def test_split_pieces_each_fit_and_together_are_the_grid(custom_set, custom_model, tmp_path):
    photo = halves(tmp_path / "p.png", (40, 190, 60), (240, 220, 40), size=(160, 240))  # 5 cols: 8 rows
    args = ["infer", custom_set, photo, "--model", custom_model, "--cols", 5]
    whole = run(*args).stdout
    assert len(whole.splitlines()) == 8 and len(whole) > 3 * 150  # at least four pieces
    stdout = run(*args, "--split", 150)
    assert stdout.exit_code == 0 and stdout.stderr == "", stdout.output
    pieces = stdout.stdout.rstrip("\n").split("\n\n")  # a blank line between pieces
    assert len(pieces) == 4 and all(len(piece) <= 150 for piece in pieces)
    assert "\n".join(pieces) + "\n" == whole
    out = tmp_path / "m.txt"
    written = run(*args, "--split", 150, "-o", out)
    assert written.exit_code == 0 and "wrote 4 text piece(s) of at most 150 characters" in written.stderr
    files = [tmp_path / f"m.{k}.txt" for k in range(1, 5)]
    assert sorted(tmp_path.glob("m*")) == sorted(files)  # no m.txt, no m.5.txt, no temp files
    assert [f.read_text(encoding="utf-8") for f in files] == [piece + "\n" for piece in pieces]
    again = run(*args, "--split", 150, "-o", out)
    one_line_error(again, "m.1.txt: already exists", "--overwrite")
    assert run(*args, "--split", 150, "-o", out, "--overwrite").exit_code == 0


def test_split_refuses_existing_pieces_before_writing_any(custom_set, custom_model, tmp_path):
    photo = halves(tmp_path / "p.png", (40, 190, 60), (240, 220, 40), size=(160, 240))
    (tmp_path / "m.3.txt").write_text("mine")
    one_line_error(run("infer", custom_set, photo, "--model", custom_model, "--cols", 5, "--split", 150,
                       "-o", tmp_path / "m.txt"), "m.3.txt: already exists")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.3.txt", "p.png"]


def test_a_row_longer_than_split_says_which_cols_fit(custom_set, custom_model, tmp_path):
    photo = solid(tmp_path / "p.png", (30, 60, 230), size=(160, 40))
    too_wide = run("infer", custom_set, photo, "--model", custom_model, "--cols", 8, "--split", 50, "-o", tmp_path / "m.txt")
    one_line_error(too_wide, "row 1 of the mosaic is 80", "more than --split 50", "use --cols 5 or fewer")  # :blob_cat:
    assert list(tmp_path.glob("m*")) == []
    fits = run("infer", custom_set, photo, "--model", custom_model, "--cols", 5, "--split", 50)
    assert fits.exit_code == 0 and all(len(line) <= 50 for line in fits.stdout.splitlines()), fits.output


def test_a_shipped_set_writes_the_common_shortcodes(tiny_set, tiny_model, tmp_path):
    photo = halves(tmp_path / "p.png", (230, 30, 30), (30, 60, 230))
    result = run("infer", tiny_set, photo, "--model", tiny_model, "--cols", 4, "--format", "shortcodes")
    assert result.exit_code == 0, result.output
    rows = shortcode_rows(result.stdout)
    assert set(rows[0]) <= {":red_square:", ":tomato:"} and set(rows[-1]) <= {":blue_square:", ":ocean:", ":droplet:"}


def test_split_is_for_text(tmp_path):
    photo = solid(tmp_path / "p.png", (0, 0, 0))
    one_line_error(run("infer", "noto", photo, "-o", tmp_path / "m.png", "--split", 100), "--split cuts plain text",
                   "--format txt or shortcodes")
    assert run("infer", "noto", photo, "--split", 0).exit_code == 2


def test_infer_metrics_line_and_json(converter, tiny_set, tiny_model, tmp_path):
    needs("skimage")
    photo = halves(tmp_path / "rb.png", (230, 30, 30), (30, 60, 230))
    line = run("infer", tiny_set, photo, "--model", tiny_model, "-o", tmp_path / "m.png", "--cols", 4, "--metrics")
    assert line.exit_code == 0 and "dE@2" in line.stdout and "SSIM@6" in line.stdout
    result = run("infer", tiny_set, photo, "--model", tiny_model, "--cols", 4, "--metrics", "--json", "--method", "lookup")
    assert result.exit_code == 0
    scores = json.loads(result.stderr.strip().splitlines()[-1])  # the text mosaic keeps stdout
    assert scores["method"] == "lookup" and scores["palette"] == "terminal" and "de1" in scores


def test_infer_json_needs_metrics_and_metrics_one_photo(tmp_path):
    photo = solid(tmp_path / "r.png", (200, 10, 10))
    assert run("infer", "noto", photo, "--json").exit_code == 2
    assert run("infer", "noto", photo, photo, "-o", tmp_path / "out", "--metrics").exit_code == 2


def test_background_colour_and_auto_from_the_command_line(tiny_set, tiny_model, tmp_path):
    needs("skimage")
    night = tmp_path / "night.png"
    pixels = np.full((108, 144, 3), 48, np.uint8)  # dark: the tiny set's ⬛ is this dark on a dark background only
    pixels[20:50, 20:60] = (90, 30, 30)
    Image.fromarray(pixels).save(night)
    for background, corner in (("black", (0, 0, 0)), ("auto", None), ("#336699", (0x33, 0x66, 0x99))):
        out = tmp_path / f"{background.strip('#')}.png"
        result = run("infer", tiny_set, night, "--model", tiny_model, "--cols", 8, "-o", out, "--background",
                     background, "--metrics", "--json")
        assert result.exit_code == 0, result.output
        shown = json.loads(result.stdout)["background"]
        mosaic = np.asarray(Image.open(out))
        if corner:  # where no emoji covers the tile, its background shows
            assert shown == "#%02x%02x%02x" % corner and tuple(mosaic[0, 0]) == corner
        else:
            assert tuple(mosaic[0, 0]) == tuple(int(shown[i:i + 2], 16) for i in (1, 3, 5)) != (128, 128, 128)
    refused = run("infer", tiny_set, night, "--model", tiny_model, "--cols", 8, "--background", "auto")
    one_line_error(refused, "--background", "terminal")
    assert refused.stdout == ""
    bad = run("infer", tiny_set, night, "--model", tiny_model, "--background", "nocolour", "-o", tmp_path / "x.png")
    assert bad.exit_code == 2 and "nocolour" in bad.output and not (tmp_path / "x.png").exists()


# --- where the mosaic goes ------------------------------------------------------------------------------

def test_an_output_folder_takes_one_photo_named_after_it(tiny_set, tiny_model, tmp_path):
    photo = solid(tmp_path / "cat.jpg", (200, 30, 30))
    args = ["infer", tiny_set, photo, "--model", tiny_model, "--cols", 4]
    assert run(*args, "-o", f"{tmp_path / 'new'}/").exit_code == 0
    assert (tmp_path / "new").is_dir() and Image.open(tmp_path / "new" / "cat.png").size == (128, 96)
    assert run(*args, "-o", tmp_path / "new", "--format", "txt").exit_code == 0  # a folder that exists
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["cat.png", "cat.txt"]
    kept = run(*args, "-o", tmp_path / "new", "--skip-existing")
    assert kept.exit_code == 0 and "kept" in kept.stderr


def test_a_folder_of_photos_into_a_file_name_is_refused_before_anything_is_made(tiny_set, tiny_model, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    solid(photos / "a.png", (200, 30, 30))
    one_line_error(run("infer", tiny_set, photos, "--model", tiny_model, "-o", tmp_path / "one.png"), "one.png",
                   "names a png file", "folder")
    (tmp_path / "notes.txt").write_text("mine")
    one_line_error(run("infer", tiny_set, photos, "--model", tiny_model, "-o", tmp_path / "notes.txt"), "is a file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "photos"]
    assert run("infer", tiny_set, photos, "--model", tiny_model, "-o", f"{tmp_path / 'one.png'}/").exit_code == 0
    assert (tmp_path / "one.png" / "a.png").is_file()  # a slash says it is a folder whatever its name


# --- help and behaviour agree ---------------------------------------------------------------------------

def test_help_says_what_ansi_background_and_colour_depth_do():
    text = " ".join(run("infer", "--help").stdout.split())
    assert "ansi (emoji on their cells' colours, for terminals; into a pipe with --color always)" in text
    assert "-o FILE.ans is always 24-bit" in text and "xterm's 256 colours" in text
    assert "for text, your terminal's colour" not in text and "auto (pictures only)" in text


def test_options_that_do_nothing_for_the_format_are_noted_once(tiny_set, tiny_model, tmp_path):
    photo = solid(tmp_path / "p.png", (220, 30, 30))  # a red the tiny set has: no hint for cell colours
    args = ["infer", tiny_set, photo, "--model", tiny_model, "--cols", 4]
    text = run(*args, "-o", tmp_path / "m.txt", "--quality", 50, "--tile-px", 10, "--cell-colour")
    assert text.exit_code == 0 and text.stderr.splitlines() == \
        ["note: --cell-colour, --quality and --tile-px do nothing for txt output; left out"]
    png = run(*args, "-o", tmp_path / "m.png", "--quality", 50)
    assert png.stderr == "note: --quality does nothing for png output; left out\n"
    assert run(*args, "-o", tmp_path / "m.jpg", "--quality", 50, "--tile-px", 10).stderr == ""
    piped = run(*args, "--format", "ansi")  # CliRunner's stdout is no terminal
    assert piped.exit_code == 0 and "\x1b[" not in piped.stdout and "--color always" in piped.stderr
    assert "\x1b[48;" in run(*args, "--format", "ansi", "--color", "always").stdout


# --- long work says what it does, on a terminal -----------------------------------------------------------

def test_a_cold_first_run_says_what_takes_the_time(tiny_set, tiny_model, tmp_path, monkeypatch):
    import pic2emoji.cli_infer as cli_infer
    monkeypatch.setattr(cli_infer, "on_terminal", lambda: True)  # stderr a terminal, as a person sees it
    monkeypatch.setenv("PIC2EMOJI_CACHE_DIR", str(tmp_path / "cache"))  # nothing compiled or read yet
    photo = solid(tmp_path / "cat.png", (220, 30, 30))
    args = ["infer", tiny_set, photo, "--model", tiny_model, "--cols", 4, "-o", tmp_path / "m.png"]
    cold = run(*args)
    assert cold.exit_code == 0 and cold.stderr.splitlines() == [
        f"reading the 12 emoji of {tiny_set.name} (once: kept in the cache)…",
        "compiling the net for this machine (once: later runs take it from the cache)…", f"wrote {tmp_path / 'm.png'}"]
    warm = run(*args, "--overwrite")
    assert warm.stderr == f"wrote {tmp_path / 'm.png'}\n"
    assert run(*args[:-2]).stderr == ""  # text to stdout: nothing more to say
    monkeypatch.setattr(cli_infer, "on_terminal", lambda: False)
    assert run(*args, "--overwrite").stderr == ""  # a script's log stays quiet


def test_metrics_say_they_are_measuring(tiny_set, tiny_model, tmp_path, monkeypatch):
    needs("skimage")
    import pic2emoji.cli_infer as cli_infer
    monkeypatch.setattr(cli_infer, "on_terminal", lambda: True)
    photo = solid(tmp_path / "cat.png", (200, 30, 30))
    result = run("infer", tiny_set, photo, "--model", tiny_model, "--cols", 4, "-o", tmp_path / "m.png", "--metrics")
    assert result.exit_code == 0 and "measuring the mosaic" in result.stderr and "dE@2" in result.stdout


def test_a_batch_bar_has_a_total_and_mosaics_already_there_are_one_line(tiny_set, tiny_model, tmp_path, monkeypatch):
    import pic2emoji.cli_infer as cli_infer
    monkeypatch.setattr(cli_infer, "on_terminal", lambda: True)
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        solid(photos / name, (200, 30, 30))
    args = ["infer", tiny_set, photos, "--model", tiny_model, "--cols", 2, "-o", tmp_path / "out"]
    first = run(*args)
    assert first.exit_code == 0 and "3/3" in first.stderr and "converted 3" in first.stderr, first.stderr
    (photos / "d.png").write_bytes((photos / "a.png").read_bytes())
    again = run(*args)
    errors = [line for line in again.stderr.replace("\r", "\n").splitlines() if "error:" in line]
    assert again.exit_code == 1 and "converted 1, skipped 0, failed 3" in again.stderr
    assert len(errors) == 1 and "3 mosaics already there" in errors[0] and "--overwrite" in errors[0], again.stderr


def test_colours_no_emoji_has_get_a_hint_for_cell_colours(tiny_set, tiny_model, tmp_path):
    purple = solid(tmp_path / "purple.png", (150, 40, 200), size=(160, 120))  # the tiny set has no purple
    args = ["infer", tiny_set, "--model", tiny_model, "--cols", 8]
    hinted = run(*args, purple, "-o", tmp_path / "m.png")
    assert hinted.exit_code == 0 and hinted.stderr.count("\n") == 1, hinted.stderr
    assert hinted.stderr.startswith("note: purple.png: 100% of the mosaic is far from") and "--cell-colour" in hinted.stderr
    assert run(*args, purple, "-o", tmp_path / "c.png", "--cell-colour").stderr == ""  # taken already
    assert run(*args, purple, "-o", tmp_path / "m.txt").stderr == ""  # text has no cell colours
    red = solid(tmp_path / "red.png", (220, 30, 30), size=(160, 120))
    assert run(*args, red, "-o", tmp_path / "r.png").stderr == ""


# --- -o -: stdout -------------------------------------------------------------------------------------

def test_dash_as_output_is_stdout_not_a_file_named_dash(tiny_set, tiny_model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    photo = halves(tmp_path / "p.png", (230, 30, 30), (30, 60, 230), size=(160, 120))
    model = ("--model", tiny_model, "--cols", 8)
    text = run("infer", tiny_set, photo, *model, "-o", "-")
    assert text.exit_code == 0 and text.stdout == run("infer", tiny_set, photo, *model).stdout and text.stderr == ""
    for fmt in ("png", "html"):  # into a file or a pipe (CliRunner's stdout is no terminal): the file's bytes
        piped = run("infer", tiny_set, photo, *model, "--format", fmt, "-o", "-")
        assert piped.exit_code == 0 and piped.stderr == "", piped.output
        run("infer", tiny_set, photo, *model, "-o", tmp_path / f"m.{fmt}")
        assert piped.stdout_bytes == (tmp_path / f"m.{fmt}").read_bytes()
    one_line_error(run("infer", tiny_set, photo, *model, "--format", "mp4", "-o", "-"), "-: a mp4 film", "-o FILE.mp4")
    assert not (tmp_path / "-").exists()
    again = run("infer", tiny_set, photo, *model, "-o", "./-")  # the usual way to name a file "-"
    assert again.exit_code == 0 and (tmp_path / "-").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dash_as_output_is_for_one_photo(tiny_set, tmp_path):
    result = run("infer", tiny_set, tmp_path, "-o", "-")
    assert result.exit_code == 2 and "-o - writes one photo's mosaic to stdout" in result.stderr


def test_binary_to_a_terminal_is_refused_in_one_line(tiny_set, tmp_path):
    import pty
    photo = solid(tmp_path / "p.png", (0, 0, 200))
    leader, follower = pty.openpty()  # stdout is a terminal
    process = subprocess.run([sys.executable, "-m", "pic2emoji", "infer", str(tiny_set), str(photo), "-o", "-",
                              "--format", "png"], stdin=subprocess.DEVNULL, stdout=follower, stderr=subprocess.PIPE,
                             text=True, timeout=120)
    os.close(follower)
    os.set_blocking(leader, False)
    try:
        shown = os.read(leader, 4096)
    except OSError:  # nothing was written (EAGAIN), or the terminal closed with the process (EIO)
        shown = b""
    os.close(leader)
    assert process.returncode == 1 and shown == b"", shown
    lines = process.stderr.strip().splitlines()
    assert len(lines) == 1 and "png is binary and stdout is a terminal" in lines[0] and "-o FILE" in lines[0], lines

