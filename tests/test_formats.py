"""Outputs people share: JPEG/WebP, one HTML file, ANSI colour, cell colours, animations; each read back.
The format table is the one place that names them."""
import ast
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

import pic2emoji
from pic2emoji.formats import CONTRAST, FORMATS, cell_colours, format_of, luminance, suffix_of, xterm_256

from browser import CHROMIUM
from conftest import halves, run, solid

ANSI = re.compile(r"\x1b\[48;(?:2;(\d+);(\d+);(\d+)|5;(\d+))m")


def format_names_written_outside_the_table(package: Path) -> list[str]:
    """Each whole string constant that is a format's name, in any module of `package` but formats.py."""
    names, found = {"png", "jpg", "webp", "gif", "html", "txt", "shortcodes", "ansi", "mp4", "mov", "mkv", "webm"}, []
    for module in sorted(package.glob("*.py")):
        if module.name == "formats.py":
            continue
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in names:
                found.append(f"{module.name}:{node.lineno}: {node.value!r}")
    return found


def test_each_format_is_named_in_the_table_only(tmp_path):
    assert set(FORMATS) == {"png", "jpg", "webp", "gif", "html", "txt", "shortcodes", "ansi", "mp4", "mov", "mkv", "webm"}
    assert format_names_written_outside_the_table(Path(pic2emoji.__file__).parent) == []
    (tmp_path / "elsewhere.py").write_text('fmt = "webp" if animated else "png"\nnote = "a png"\n')
    assert format_names_written_outside_the_table(tmp_path) == ["elsewhere.py:1: 'webp'", "elsewhere.py:1: 'png'"]


def test_both_text_formats_write_txt_files():
    assert [suffix_of(f) for f in ("png", "txt", "shortcodes")] == [".png", ".txt", ".txt"]
    assert format_of("m.TXT") == "txt" and format_of("m.shortcodes") is None and format_of("m") is None


@pytest.mark.parametrize("name, pillow", [("m.jpg", "JPEG"), ("m.jpeg", "JPEG"), ("m.webp", "WEBP"), ("m.gif", "GIF")])
def test_image_formats_follow_the_extension(tiny_set, tiny_model, tmp_path, name, pillow):
    photo = halves(tmp_path / "p.png", (230, 30, 30), (30, 60, 230), size=(160, 120))
    result = run("infer", tiny_set, photo, "--model", tiny_model, "-o", tmp_path / name, "--cols", 8, "--tile-px", 16)
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / name) as image:
        assert image.format == pillow and image.size == (8 * 16, 6 * 16)
        top, bottom = np.asarray(image.convert("RGB"))[:48].mean((0, 1)), np.asarray(image.convert("RGB"))[48:].mean((0, 1))
    assert top[0] > top[2] and bottom[2] > bottom[0]  # red emoji above, blue below


def test_unknown_extensions_and_images_on_stdout_are_refused(tiny_set, tiny_model, tmp_path):
    photo = solid(tmp_path / "p.png", (0, 0, 200))
    result = run("infer", tiny_set, photo, "--model", tiny_model, "-o", tmp_path / "m.xyz")
    assert result.exit_code == 2 and "unknown extension '.xyz'" in result.output and not (tmp_path / "m.xyz").exists()
    result = run("infer", tiny_set, photo, "--model", tiny_model, "--format", "jpg")
    assert result.exit_code == 2 and "needs -o FILE" in result.output


def test_ansi_colours_each_cell_and_strips_back_to_the_text(tiny_set, tiny_model, tmp_path):
    photo = halves(tmp_path / "p.png", (230, 30, 30), (30, 60, 230), size=(160, 120))
    plain = run("infer", tiny_set, photo, "--model", tiny_model, "--cols", 8).stdout
    coloured = run("infer", tiny_set, photo, "--model", tiny_model, "--cols", 8, "--format", "ansi", "--color", "always")
    assert coloured.exit_code == 0
    codes = ANSI.findall(coloured.stdout)
    assert len(codes) == 48  # one colour escape a cell
    assert ANSI.sub("", coloured.stdout).replace("\x1b[0m", "") == plain
    auto = run("infer", tiny_set, photo, "--model", tiny_model, "--cols", 8, "--format", "ansi")
    assert auto.stdout == plain  # --color auto: plain into a pipe, as ls and grep
    assert run("infer", tiny_set, photo, "--model", tiny_model, "--cols", 8, "--color", "never", "--format",
               "ansi").stdout == plain
    run("infer", tiny_set, photo, "--model", tiny_model, "--cols", 8, "-o", tmp_path / "m.ans")
    assert len(ANSI.findall((tmp_path / "m.ans").read_text(encoding="utf-8"))) == 48  # asked for by the name


def test_256_colours_where_the_terminal_lacks_24_bit(monkeypatch):
    assert xterm_256(np.array([[0, 0, 0], [255, 255, 255], [255, 0, 0], [128, 128, 128]])).tolist() == [16, 231, 196, 244]


def test_cell_colours_keep_the_cells_colour_and_the_emoji_visible():
    photo = np.array([[[120, 80, 50], [120, 80, 50], [250, 250, 250]]], np.uint8)  # brown, brown, white cells
    coverage = np.array([[0.5, 0.5, 0.5]])
    # a dark olive emoji on the brown cell; a brown one on brown; a light grey one on white
    ink = np.array([[[40, 30, 5], [60, 40, 25], [100, 100, 100]]], np.float32)
    behind = cell_colours(photo, coverage, ink)
    mean = ink + (1 - coverage[..., None]) * behind
    assert np.abs(mean[0, 0] - photo[0, 0]).max() < 2  # the brown cell looks brown from a step back
    emoji = ink / coverage[..., None]
    assert (np.abs(luminance(behind.astype(np.float32)) - luminance(emoji)) >= CONTRAST - 1).all()  # never vanishes


@pytest.mark.parametrize("name", ["m.png", "m.webp", "m.gif"])
def test_an_animation_gives_an_animation_with_its_timings(tiny_set, tiny_model, tmp_path, name):
    frames = [Image.new("RGB", (120, 90), colour) for colour in [(230, 30, 30), (30, 60, 230), (30, 200, 60)]]
    frames[0].save(tmp_path / "in.gif", save_all=True, append_images=frames[1:], duration=[100, 200, 300], loop=0)
    result = run("infer", tiny_set, tmp_path / "in.gif", "--model", tiny_model, "-o", tmp_path / name, "--cols", 4,
                 "--tile-px", 8)
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / name) as out:
        got = [(frame.copy().convert("RGB"), frame.info.get("duration")) for frame in ImageSequence.Iterator(out)]
    assert [int(d) for _, d in got] == [100, 200, 300]
    reds = [np.asarray(f).mean((0, 1)) for f, _ in got]
    assert reds[0][0] > reds[0][2] and reds[1][2] > reds[1][0]  # red frame, then blue


def test_an_animation_keeps_the_background_auto_chose_for_its_first_frame(tiny_set, tiny_model, tmp_path):
    frames = [Image.new("RGB", (120, 90), colour) for colour in [(12, 12, 12), (200, 200, 200), (128, 128, 128)]]
    frames[0].save(tmp_path / "in.png", save_all=True, append_images=frames[1:], duration=100, loop=0)
    result = run("infer", tiny_set, tmp_path / "in.png", "--model", tiny_model, "-o", tmp_path / "m.png", "--cols", 4,
                 "--tile-px", 32, "--background", "auto")
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "m.png") as out:
        corners = {tuple(np.asarray(frame.convert("RGB"))[0, 0]) for frame in ImageSequence.Iterator(out)}
    assert len(corners) == 1 and max(corners.pop()) <= 32  # dark, as the first frame needs, in every frame


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"), reason="needs Chromium")
def test_html_opens_offline_as_an_aligned_grid_of_copyable_emoji(tiny_set, tiny_model, tmp_path):
    from playwright.sync_api import sync_playwright
    from browser import open_browser
    photo = halves(tmp_path / "holiday.png", (230, 30, 30), (30, 60, 230), size=(160, 120))
    text = run("infer", tiny_set, photo, "--model", tiny_model, "--cols", 8, "--palette", "all").stdout
    assert run("infer", tiny_set, photo, "--model", tiny_model, "--cols", 8, "-o", tmp_path / "m.html",
               "--cell-colour").exit_code == 0
    with sync_playwright() as playwright:
        browser = open_browser(playwright, tmp_path / "profile", allow_camera=False, extra_args=["--offline"])
        page = browser.new_page()
        page.goto((tmp_path / "m.html").as_uri())
        cells = page.eval_on_selector_all(".row span", "s => s.map(c => [c.offsetLeft, c.offsetTop, c.textContent])")
        assert page.title() == "holiday.png" and len(cells) == 48
        lefts = {k: {c[0] for c in cells[k::8]} for k in range(8)}
        assert all(len(v) == 1 for v in lefts.values()), lefts  # every column lines up, whatever the glyphs
        assert len({c[1] for c in cells}) == 6
        assert page.inner_text(".mosaic").strip().splitlines() == text.strip().splitlines()  # copy gives the rows
        browser.close()


def test_an_animation_as_text_gives_every_frame(tiny_set, tiny_model, tmp_path):
    frames = [Image.new("RGB", (120, 90), colour) for colour in [(230, 30, 30), (30, 60, 230), (30, 200, 60)]]
    frames[0].save(tmp_path / "in.gif", save_all=True, append_images=frames[1:], duration=[100, 200, 300], loop=0)
    plain = run("infer", tiny_set, tmp_path / "in.gif", "--model", tiny_model, "--cols", 4).stdout
    assert [len(block.splitlines()) for block in plain.split("\n\n")] == [3, 3, 3]  # blank lines between frames
    ansi = run("infer", tiny_set, tmp_path / "in.gif", "--model", tiny_model, "--cols", 4, "--format", "ansi",
               "--color", "always").stdout
    assert ansi.count("\x1b[H") == 2 and len(ANSI.findall(ansi)) == 36  # cursor home between frames: `cat` replays


def test_custom_emoji_in_html_have_their_shortcode_as_alt_text():
    from pic2emoji.formats import html_page
    page = html_page(np.array([[0, 1]]), [None, "🟥"], lambda c: b"png", "t", None, (128, 128, 128),
                     [":party_parrot:", "🟥"])
    assert 'alt=":party_parrot:"' in page and page.count("<img") == 1


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"), reason="needs Chromium")
def test_copying_an_html_mosaic_of_custom_emoji_gives_their_shortcodes(custom_set, custom_model, tmp_path):
    import functools
    import http.server
    import threading
    from playwright.sync_api import sync_playwright
    from browser import open_browser
    photo = halves(tmp_path / "p.png", (230, 30, 30), (30, 60, 230), size=(160, 120))
    text = run("infer", custom_set, photo, "--model", custom_model, "--cols", 4).stdout
    assert run("infer", custom_set, photo, "--model", custom_model, "--cols", 4, "-o", tmp_path / "m.html").exit_code == 0
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)  # the clipboard wants an http page
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_port}"
    try:
        with sync_playwright() as playwright:
            browser = open_browser(playwright, tmp_path / "profile", allow_camera=False)
            browser.grant_permissions(["clipboard-read", "clipboard-write"], origin=origin)
            page = browser.new_page()
            page.goto(f"{origin}/m.html")
            page.evaluate("() => getSelection().selectAllChildren(document.querySelector('.mosaic'))")
            page.keyboard.press("Control+C")
            copied = page.evaluate("() => navigator.clipboard.readText()")
            browser.close()
    finally:
        server.shutdown()
    assert copied.strip().splitlines() == text.strip().splitlines() and ":party_parrot:" in copied
