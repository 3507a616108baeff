"""The browser camera: `export-web`'s folder and its refusals, and the exported site in headless
Chromium served by `python -m http.server`, as a user would publish it (its graphs: test_onnx_export.py)."""
import base64
import contextlib
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pic2emoji.files import shipped_dir
from pic2emoji.converter import Converter
from pic2emoji.errors import OutputError
from pic2emoji.live import Page
from pic2emoji.modelfile import model_path
from pic2emoji.web import export_web

from conftest import one_line_error, run
from test_serve import playwright  # noqa: F401  (the fixture)
from browser import open_browser, write_y4m

PHOTO = Path(__file__).resolve().parent.parent / "examples" / "photos" / "chelsea.png"
NOTO = shipped_dir("emoji_sets") / "noto"


def test_export_web_writes_a_whole_site_and_refuses_to_overwrite(converter, tmp_path):
    out = tmp_path / "site"
    result = run("export-web", converter.emoji_set.path, out, "--model", converter.model.path, "--rows", 6, "--cols", 8)
    assert result.exit_code == 0, result.output
    names = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert {"index.html", "worker.js", "config.json", "cells.onnx", "net.onnx", "atlas.png", "ort/LICENSE",
            "ort/VERSION", "ort/ort.wasm.min.mjs", "ort/ort-wasm-simd-threaded.wasm"} <= names
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert (config["mode"], config["rows"], config["cols"], config["emoji"]) == ("browser", 6, 8, converter.texts)
    atlas = Image.open(out / "atlas.png")
    allowed = np.flatnonzero(converter.allowed("terminal"))
    assert [config["atlas"]["slots"][c] for c in allowed] == list(range(len(allowed)))
    assert atlas.width == config["atlas"]["columns"] * 32
    assert not list(tmp_path.glob(".*partial"))  # the site was made aside and moved in whole

    (out / "mine.txt").write_text("keep me")
    (out / "index.html").write_text("my own page")
    one_line_error(run("export-web", converter.emoji_set.path, out, "--model", converter.model.path),
                   str(out), "--overwrite")
    assert (out / "index.html").read_text() == "my own page"  # nothing was touched
    assert run("export-web", converter.emoji_set.path, out, "--model", converter.model.path, "--overwrite").exit_code == 0
    assert (out / "mine.txt").read_text() == "keep me" and "getUserMedia" in (out / "index.html").read_text()
    refused = run("export-web", converter.emoji_set.path, out / "mine.txt", "--model", converter.model.path)
    assert refused.exit_code == 2 and "mine.txt' is a file" in refused.output  # click's usage error



def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): os.readlink(p) if p.is_symlink() else p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_symlink() or p.is_file()}


def test_a_full_disk_mid_export_leaves_the_old_site_as_it_was(converter, tmp_path, monkeypatch):
    out = tmp_path / "site"
    export_web(converter, out, 6, 8)
    (out / "index.html").write_text("my own page")
    before = _snapshot(out)
    real = Path.write_bytes

    def full_disk(path, data):  # the disk fills up as net.onnx is written, after the page and the runtime
        if "net.onnx" in path.name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, data)
    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(OutputError) as e:
        export_web(converter, out, 3, 4, overwrite=True)
    assert "No space left on device" in str(e.value) and "the folder is as it was" in str(e.value)
    assert "untouched" not in str(e.value)
    assert _snapshot(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["site"]


def test_overwrite_never_writes_through_a_link_inside_the_folder(converter, tmp_path):
    out, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "mine.js").write_text("keep me")
    out.mkdir()
    (out / "ort").symlink_to(elsewhere)  # a runtime kept elsewhere, or a trap
    (out / "CNAME").write_text("camera.example.org")
    (out / "docs").mkdir()
    (out / "docs" / "notes.md").write_text("my notes")
    (out / "latest").symlink_to("docs")
    result = run("export-web", converter.emoji_set.path, out, "--model", converter.model.path, "--rows", 6, "--cols", 8,
                 "--overwrite")
    assert result.exit_code == 0, result.output
    assert _snapshot(elsewhere) == {"mine.js": b"keep me"}  # the link's target is untouched
    assert not (out / "ort").is_symlink() and (out / "ort" / "VERSION").is_file()
    assert (out / "CNAME").read_text() == "camera.example.org" and (out / "docs" / "notes.md").read_text() == "my notes"
    assert os.readlink(out / "latest") == "docs" and "getUserMedia" in (out / "index.html").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "site"]  # nothing left beside it

def test_the_page_draws_every_set_from_its_atlas_in_both_modes(converter, tiny_model, tmp_path):
    """The grid on screen is drawn from atlas.png, as Save PNG is (each set in its own style, Noto's too,
    whatever fonts the viewer has): every allowed class has a slot in it, in browser and server mode."""
    from pic2emoji.serve import EmojiCamServer
    allowed = converter.allowed("terminal")
    site = tmp_path / "site"
    export_web(converter, site, 4, 4)
    server = EmojiCamServer(converter, "127.0.0.1", 0, 4, 4, net="server")
    try:
        configs = [json.loads((site / "config.json").read_text()), json.loads(server.files["config.json"])]
        atlas = Image.open(__import__("io").BytesIO(server.files["atlas.png"]))
    finally:
        server.server_close()
    for config in configs:
        slots = np.array(config["atlas"]["slots"])
        assert sorted(slots[allowed]) == list(range(allowed.sum())) and (slots[~allowed] == -1).all()
    assert configs[1]["mode"] == "server" and Image.open(site / "atlas.png").size == atlas.size
    assert atlas.size == (64 * configs[1]["atlas"]["tile"], -(-int(allowed.sum()) // 64) * configs[1]["atlas"]["tile"])


@pytest.mark.slow
def test_export_web_of_a_custom_set_keeps_its_images(custom_set, custom_model, tmp_path):
    """A set of custom images (no emoji text) exports too: its texts are what `txt` prints for them."""
    result = run("export-web", custom_set, tmp_path / "site", "--model", custom_model, "--palette", "all")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "site" / "config.json").read_text())["palette"] == "all"


# The exported site as published: `python -m http.server` in the folder, no special headers.

@contextlib.contextmanager
def static_server(folder):
    """`python -m http.server` in `folder` on a free loopback port; yields its URL."""
    server = subprocess.Popen([sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1", "-d", str(folder)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = server.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N (http://127.0.0.1:N/) ..."
        yield line.split("(")[1].split(")")[0]
    finally:
        server.kill()
        server.wait()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The shipped noto set and its fast model (what serve runs) exported, on a static file server."""
    out = tmp_path_factory.mktemp("web") / "site"
    export_web(Converter(NOTO, model_path(NOTO, fast=True)), out, 54, 72)
    with static_server(out) as url:
        yield url


def camera_frame(page, mirror: bool = False) -> np.ndarray:
    """The picture the page's camera shows now, (h, w, 3) uint8, read from a canvas at its own size,
    mirrored as the page's capture mirrors it (drawn flipped: the browser's video-to-RGB conversion may
    sample a flipped frame a level apart from the flipped pixels of an unflipped one)."""
    encoded = page.evaluate("""(mirror) => {
        const video = $('preview'), canvas = document.createElement('canvas');
        [canvas.width, canvas.height] = [video.videoWidth, video.videoHeight];
        const context = canvas.getContext('2d', {willReadFrequently: true});  // as capture(): the same raster path
        context.setTransform(mirror ? -1 : 1, 0, 0, 1, mirror ? canvas.width : 0, 0);
        context.drawImage(video, 0, 0, canvas.width, canvas.height, 0, 0, canvas.width, canvas.height);  // as capture()
        const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
        let text = '';
        for (let i = 0; i < pixels.length; i += 8192) text += String.fromCharCode(...pixels.subarray(i, i + 8192));
        return [canvas.height, canvas.width, btoa(text)];
    }""", mirror)
    height, width, data = encoded
    return np.frombuffer(base64.b64decode(data), np.uint8).reshape(height, width, 4)[..., :3]


def watch(playwright, tmp_path, camera, url):  # noqa: F811
    browser = open_browser(playwright, tmp_path / "profile", camera)
    page = browser.new_page()
    page.posts = []
    page.on("request", lambda request: request.method != "GET" and page.posts.append(request.url))
    page.goto(url)
    page.wait_for_function("() => window.emojicam.frames >= 2", timeout=90_000)
    return browser, page


def page_in_python(url: str, workers: int) -> Page:
    """live.Page over the files a site serves."""
    from urllib.request import urlopen
    names = ("config.json", "cells.onnx", "net.onnx", "views.bin", "colours.bin")
    return Page({name: urlopen(url + name).read() for name in names}, workers)


@pytest.mark.slow
def test_static_site_matches_python_and_follows_a_change_at_once(playwright, site, tmp_path):  # noqa: F811
    """A still 576×432 camera (72×8 by 54×8 px: drawn 1:1, no resampling in the page) against the same
    frame (as the page's camera shows it) through the page's rules in Python: ≥ 99% of the cells alike
    (wasm's float sums are not numpy's, which may part near-ties). Then the picture changes (the mirror
    flips it): a few frames later the grid is Python's for the new picture, by the same rules. Both frames
    are read back as the page draws them (a level's difference in a few pixels moves ~3% of the cells
    once the touch-up has run: one CI run compared the page with a frame flipped in numpy and got
    97.6%). (The graphs against tinygrad: test_onnx_export.py.)"""
    camera = write_y4m(Image.open(PHOTO), tmp_path / "camera.y4m", size=(576, 432))
    browser, page = watch(playwright, tmp_path, camera, site + "?mirror=0")
    assert page.evaluate("[$('preview').videoWidth, $('preview').videoHeight]") == [576, 432]
    frame = camera_frame(page)  # the camera's frame as the browser decoded it (within a level of ours)
    unmirrored = np.array(page.evaluate("emojicam.classes"))
    shown = page.evaluate("$('mirror').click(), emojicam.shown")
    page.wait_for_function(f"() => emojicam.shown >= {shown + 3}", timeout=60_000)
    mirrored = np.array(page.evaluate("emojicam.classes"))
    flipped = camera_frame(page, mirror=True)
    workers = page.evaluate("Math.min(8, navigator.hardwareConcurrency || 2)")
    assert page.evaluate("emojicam.mode") == "browser" and page.posts == []
    assert not page.evaluate("crossOriginIsolated")  # a plain static host: one thread per worker, and it works
    assert page.evaluate("getComputedStyle($('grid')).backgroundColor") == "rgb(128, 128, 128)"  # as chosen for
    browser.close()

    python = page_in_python(site, workers)
    rgba = lambda rgb: np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 255, np.uint8)], -1)
    expected = python.frame(rgba(frame))[0]
    for _ in range(shown):  # the still frames the page had shown by then: they save up the net's budget
        python.frame(rgba(frame))
    expected_mirrored = python.frame(rgba(flipped))[0]
    agreement, after = (unmirrored == expected).mean(), (mirrored == expected_mirrored).mean()
    apart = np.abs(flipped.astype(int) - frame[:, ::-1]).max()
    print(f"page vs Python: {agreement:.2%} of 3888 cells alike; after the change {after:.2%} "
          f"(the camera drawn flipped: {apart} levels at most from the flipped frame)")
    assert unmirrored.shape == (54, 72) and agreement >= 0.99 and after >= 0.98


def panned(frames: int, step: int, size=(576, 432)) -> list[np.ndarray]:
    """RGBA frames of the cat, the camera moving `step` px to the right a frame."""
    wide = np.asarray(Image.open(PHOTO).convert("RGBA").resize((size[0] + step * frames, size[1]), Image.LANCZOS))
    return [np.ascontiguousarray(wide[:, i * step:i * step + size[0]]) for i in range(frames)]


@pytest.mark.slow
def test_the_worker_follows_a_panning_camera_as_python_does(playwright, site, tmp_path):  # noqa: F811
    """The page's worker against live.py, the same rules in Python over the same graphs (in onnxruntime),
    on a camera panning a cell a frame: the net judges a sixth of the cells a frame after the first (the
    same count in both), the others follow their neighbours, and the cells that moved are touched up for
    colour; ≥ 99% of cells alike every frame."""
    frames = panned(4, 8)
    browser = open_browser(playwright, tmp_path / "profile")
    page = browser.new_page()
    page.goto(site + "?mirror=0")
    answers = page.evaluate("""async (frames) => {
        const config = await (await fetch('config.json')).json(), worker = new Worker('worker.js', {type: 'module'});
        const call = (message) => new Promise((resolve) => { worker.onmessage = (e) => resolve(e.data); worker.postMessage(message); });
        const url = (name) => new URL(config.models[name], location.href).href;
        const started = await call({type: 'start', threads: 1, ep: 'wasm', patch: config.patch, viewSize: config.view_size,
                                    change: config.change, share: config.share, steady: config.steady, touch: config.touch,
                                    cells: url('cells'), net: url('net'), views: url('views'), colours: url('colours')});
        const answers = [started];
        for (const frame of frames) {
            const pixels = Uint8ClampedArray.from(atob(frame), (c) => c.charCodeAt(0));
            answers.push(await call({type: 'frame', pixels, width: 576, height: 432, k: 8}));
        }
        return answers.map((a) => a.error ? a : {classes: a.classes && Array.from(a.classes), netCells: a.netCells});
    }""", [base64.b64encode(f.tobytes()).decode() for f in frames])
    browser.close()
    assert "error" not in answers[0], answers[0]
    python = page_in_python(site, 1)
    for frame, answer in zip(frames, answers[1:]):
        grid, judged, _ = python.frame(frame)
        alike = (np.array(answer["classes"]) == grid.ravel()).mean()
        print(f"net {judged} cells, page {answer['netCells']}; {alike:.2%} of cells alike")
        assert answer["netCells"] == judged and alike >= 0.99
    assert python.config["share"] < 1 and judged == int(python.config["share"] * 54 * 72)


@pytest.mark.slow
def test_the_settling_worker_draws_refines_mosaic_as_python_does(playwright, site, tmp_path):  # noqa: F811
    """settle.js (in a worker started as the page starts it) against live.settle, refine in numpy, on a
    still camera's cells (the cat), the page's grid given as the net's own picks, which refine's mosaic is
    nearer in colour than: ≥ 99% of cells alike, and most of them changed."""
    from pic2emoji.live import settle
    python = page_in_python(site, 1)
    frame = panned(1, 0)[0]
    _, _, views = python.frame(frame)
    start = python.bands[0].top[:, 0].copy()
    expected = settle(python.refiner, views, (54, 72), start, start, python.allowed)
    browser = open_browser(playwright, tmp_path / "profile")
    page = browser.new_page()
    page.goto(site + "?mirror=0")
    answer = page.evaluate("""async ([views, start]) => {
        const config = await (await fetch('config.json')).json(), worker = new Worker('worker.js', {type: 'module'});
        const call = (message) => new Promise((resolve) => { worker.onmessage = (e) => resolve(e.data); worker.postMessage(message); });
        const url = (name) => new URL(config.models[name], location.href).href;
        const allowed = config.atlas.slots.flatMap((slot, c) => (slot >= 0 ? [c] : []));
        const started = await call({type: 'start', viewSize: config.view_size, touch: config.touch,
                                    settle: {...config.settle, allowed}, views: url('views'), colours: url('colours')});
        if (started.error) return started;
        const bytes = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0)).buffer;
        const first = new Int32Array(bytes(start));
        const settled = await call({type: 'settle', views: new Float32Array(bytes(views)), start: first, classes: first.slice(), rows: 54, cols: 72});
        return settled.error ? settled : {classes: Array.from(settled.classes), ms: settled.ms};
    }""", [base64.b64encode(views.astype("<f4").tobytes()).decode(), base64.b64encode(start.astype("<i4").tobytes()).decode()])
    browser.close()
    assert "error" not in answer, answer
    alike, changed = (np.array(answer["classes"]) == expected).mean(), (expected != start).mean()
    print(f"settled in {answer['ms']:.0f} ms; {alike:.2%} of cells as Python's, {changed:.0%} of them changed")
    assert alike >= 0.99 and changed >= 0.3


@pytest.mark.slow
def test_a_still_noisy_camera_barely_flickers(playwright, site, tmp_path):  # noqa: F811
    camera = write_y4m(Image.open(PHOTO), tmp_path / "camera.y4m", frames=15, noise=4)
    browser, page = watch(playwright, tmp_path, camera, site)
    start = page.evaluate("({...emojicam, classes: null})")
    page.wait_for_function(f"() => emojicam.frames >= {start['frames'] + 10} && emojicam.settled >= 1", timeout=60_000)
    end = page.evaluate("({...emojicam, classes: null})")
    browser.close()
    share = (end["changed"] - start["changed"]) / (end["cells"] - start["cells"])
    print(f"still camera, noise 4: {share:.2%} of cells change a frame (settled in {end['settleMs']:.0f} ms)")
    assert share <= 0.02


@pytest.mark.slow
def test_columns_change_live_on_the_webgpu_build(playwright, site, tmp_path):  # noqa: F811
    """Forced onto onnxruntime-web's WebGPU build (what a browser with a GPU gets): here, with no GPU, it
    falls back to its own wasm, so the shipped build is checked to load and run."""
    camera = write_y4m(Image.open(PHOTO), tmp_path / "camera.y4m")
    browser, page = watch(playwright, tmp_path, camera, site + "?ep=webgpu")
    assert page.evaluate("emojicam.backend").startswith("webgpu")
    shown = page.evaluate("$('cols').value = '36', $('cols').dispatchEvent(new Event('change')), emojicam.shown")
    page.wait_for_function(f"() => emojicam.shown >= {shown + 2}", timeout=60_000)
    assert np.array(page.evaluate("emojicam.classes")).shape == (27, 36)  # rows follow, keeping the grid's shape
    width, height = page.evaluate("[$('grid').width, $('grid').height]")  # the canvas: 36 by 27 square cells
    assert width % 36 == 0 and height * 36 == width * 27
    assert page.evaluate("emojicam.grid").count("\n") == 26
    browser.close()


@pytest.mark.slow
def test_a_site_whose_net_does_not_load_says_so(playwright, converter, tmp_path):  # noqa: F811
    out = tmp_path / "site"
    export_web(converter, out, 6, 8)
    (out / "net.onnx").write_bytes(b"not a model")
    with static_server(out) as url:
        browser = open_browser(playwright, tmp_path / "profile", write_y4m(Image.open(PHOTO), tmp_path / "camera.y4m"))
        page = browser.new_page()
        page.goto(url)
        page.wait_for_function("() => document.body.dataset.state === 'net-failed'", timeout=60_000)
        assert "did not start in this browser" in page.text_content("#status")
        browser.close()


@pytest.mark.slow
@pytest.mark.parametrize("net", ["browser", "server"])
def test_the_camera_draws_a_custom_set_from_its_atlas(playwright, custom_set, custom_model, tmp_path, net):  # noqa: F811
    """Emoji with no character (chars[i] is None) are their tiles in the grid, as Save PNG draws them (and
    their :shortcodes: in the grid's text): in export-web's site, and from `serve --net server`."""
    from browser import ServerProcess
    from conftest import halves_image
    camera = write_y4m(halves_image((640, 480), (230, 30, 30), (30, 60, 230)), tmp_path / "camera.y4m")
    with contextlib.ExitStack() as stack:
        if net == "browser":
            out = tmp_path / "site"
            assert run("export-web", custom_set, out, "--model", custom_model, "--rows", 4, "--cols", 4).exit_code == 0
            assert json.loads((out / "config.json").read_text())["atlas"]["slots"] == [0, 1, 2, 3, 4]
            url = stack.enter_context(static_server(out))
        else:
            url = stack.enter_context(ServerProcess(custom_set, "--model", custom_model, "--rows", 4, "--cols", 4,
                                                    "--net", "server", env=dict(os.environ, DEV="CPU"))).url
        browser, page = watch(playwright, tmp_path, camera, url + "?mirror=0")
        rows = page.evaluate("emojicam.grid").split("\n")
        picture = np.asarray(Image.open(__import__("io").BytesIO(page.locator("#grid").screenshot())).convert("RGB"))
        browser.close()
    assert len(rows) == 4 and set(rows[0].split(":")[1::2]) == {"party_parrot"}, rows  # no character: their :names:
    assert set(rows[-1].split(":")[1::2]) == {"blob_cat"}, rows
    h, w, _ = picture.shape  # the middle of the top-left cell and of the bottom-left one: the tiles' colours
    top, bottom = picture[h // 8, w // 8].astype(int), picture[7 * h // 8, w // 8].astype(int)
    assert np.abs(top - (230, 30, 30)).max() < 30 and np.abs(bottom - (30, 60, 230)).max() < 30, (top, bottom)
