"""The live camera's server: frames, its bounds and the steady rule against a server in this process
(what each request gets: test_routes.py), then the real page in headless Chromium with a fake camera
against `pic2emoji serve` in a subprocess. Loopback addresses only."""
import http.client
import io
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from pic2emoji.cli import main
from pic2emoji.photo import cut_patches
from pic2emoji.serve import EmojiCamServer

from browser import CHROMIUM, ServerProcess, open_browser, rss_mb, write_y4m
from conftest import halves_image

ROWS, COLS = 6, 8
CPU = dict(os.environ, DEV="CPU")  # for `pic2emoji serve` subprocesses, as conftest sets it for this one
REDS, BLUES = set("🟥🍅"), set("🟦🌊💧")


def halves(width, height) -> Image.Image:
    return halves_image((width, height))


def jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


@pytest.fixture(scope="module")
def server(converter):
    server = EmojiCamServer(converter, "127.0.0.1", 0, ROWS, COLS, net="server")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def request(server, path, body=None, content_type="image/jpeg", method=None):
    """(status, headers, body) of one request; the body parsed when it is JSON."""
    url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    headers = {"Content-Type": content_type} if body is not None else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers, method=method), timeout=30) as response:
            status, headers, data = response.status, response.headers, response.read()
    except urllib.error.HTTPError as e:
        status, headers, data = e.code, e.headers, e.read()
    return status, headers, json.loads(data) if headers.get_content_type() == "application/json" else data


def test_serve_method_refine_keeps_to_the_palette(converter):
    server = EmojiCamServer(converter, "127.0.0.1", 0, ROWS, COLS, method="refine", net="server")
    try:
        grid, ms = server.frame(jpeg(halves(COLS * 8, ROWS * 8)))
    finally:
        server.server_close()
    assert grid.shape == (ROWS, COLS) and converter.allowed("terminal")[grid].all() and "refine" in ms


@pytest.mark.parametrize("cell_px", [4, 8, 36])
def test_red_top_blue_bottom_gives_red_emoji_on_top_and_blue_below(server, cell_px):
    _, _, answer = request(server, "/frame", jpeg(halves(COLS * cell_px, ROWS * cell_px)))
    top, bottom = "".join(answer["text"][: ROWS // 2]), "".join(answer["text"][ROWS // 2:])
    assert set(top) <= REDS and set(bottom) <= BLUES, answer["text"]


def test_concurrent_frames_get_their_own_answers(server):
    frames = {c: jpeg(Image.new("RGB", (COLS * 4, ROWS * 4), c)) for c in ("red", "blue", "green", "yellow")}
    alone = {colour: request(server, "/frame", frame)[2]["grid"] for colour, frame in frames.items()}
    together = {}
    send = lambda colour: together.update({colour: request(server, "/frame", frames[colour])[2]["grid"]})
    threads = [threading.Thread(target=send, args=(colour,)) for colour in list(frames) * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert together == alone


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads memory use from Linux /proc")
def test_memory_stays_flat_over_hundreds_of_frames(tiny_set, tiny_model):
    frame = jpeg(halves(COLS * 8, ROWS * 8))
    # The server as users run it, in its own process (inside this long test session RSS drifts for
    # reasons of its own), fed over two keep-alive connections taking turns, as the page sends frames.
    with ServerProcess(tiny_set, "--model", tiny_model, "--rows", ROWS, "--cols", COLS, "--net", "server", env=CPU) as server:
        port = int(server.url.rsplit(":", 1)[1])
        connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(2)]

        def send(i):
            connection = connections[i % 2]
            connection.request("POST", "/frame", frame, {"Content-Type": "image/jpeg"})
            response = connection.getresponse()
            assert response.status == 200 and len(json.loads(response.read())["grid"]) == ROWS

        for i in range(50):
            send(i)
        # RSS swings by up to ~10 MB between samples as the allocator hands big buffers back and forth,
        # so compare the mean of many samples early and late: a leak lifts the whole later window.
        windows = []
        for _ in range(2):
            samples = []
            for _ in range(15):
                for i in range(10):
                    send(i)
                samples.append(rss_mb(server.proc.pid)["rss_mb"])
            windows.append(sum(samples) / len(samples))
        for connection in connections:
            connection.close()
    grown = windows[1] - windows[0]
    print(f"server RSS {windows[0]:.1f} MB over frames 50-200, {windows[1]:.1f} MB over frames 200-350")
    assert grown < 4, f"{grown:.1f} MB more over 150 frames"


def test_serve_reports_a_busy_port_in_one_line(tiny_set, tiny_model):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", str(tiny_set), "--model", str(tiny_model), "--port", str(port)])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output and "--port" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("net, warm_up", [("server", "compiled the net for a 3×4 grid"),
                                          ("browser", "made the page and the net as ONNX for a 3×4 grid")])
def test_serve_warms_up_before_ready_and_stops_on_ctrl_c(tiny_set, tiny_model, net, warm_up):
    with ServerProcess(tiny_set, "--model", tiny_model, "--rows", 3, "--cols", 4, "--net", net, env=CPU) as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert warm_up in "".join(server.log)  # before the ready line
        with urllib.request.urlopen(server.url + "/config", timeout=10) as response:
            assert json.load(response)["cols"] == 4
        assert server.stop() == 0
    assert server.log[-1].strip() == "stopped" and "Traceback" not in "".join(server.log)


# The real page in headless Chromium. Only a missing Chromium skips these, and never in CI.

@pytest.fixture(scope="module")
def playwright():
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: apt-get install chromium (scripts/setup.sh --test does) or set PIC2EMOJI_CHROMIUM"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module", params=["browser", "server"])
def camera_server(request, tiny_set, tiny_model):
    """`pic2emoji serve` with the net in the page (the default), and with the net in the server."""
    with ServerProcess(tiny_set, "--model", tiny_model, "--rows", 54, "--cols", 72, "--allow-host", "emojicam.test",
                       "--net", request.param, env=CPU) as server:
        server.net = request.param
        yield server


def test_page_turns_the_camera_into_a_54_by_72_emoji_grid(playwright, camera_server, converter, tmp_path):
    camera = write_y4m(halves(640, 480), tmp_path / "camera.y4m")
    browser = open_browser(playwright, tmp_path / "profile", camera)
    page = browser.new_page()
    posts = []
    page.on("request", lambda request: request.method != "GET" and posts.append(request.url))
    page.goto(camera_server.url)
    page.wait_for_function("() => window.emojicam.frames >= 1", timeout=60_000)
    assert page.evaluate("emojicam.mode") == camera_server.net
    rows = page.evaluate("emojicam.grid").split("\n")
    assert len(rows) == 54 and all(len(row) == 72 for row in rows)  # one emoji in every cell
    width, height = page.evaluate("[$('grid').width, $('grid').height]")  # drawn as 54 rows of 72 square cells
    assert width % 72 == 0 and height * 72 == width * 54
    top, bottom = "".join(rows[:24]), "".join(rows[30:])
    assert sum(c in REDS for c in top) > 0.95 * len(top), rows
    assert sum(c in BLUES for c in bottom) > 0.95 * len(bottom), rows
    assert "frames/s" in page.text_content("#fps") and page.get_attribute("body", "data-state") == "running"

    with page.expect_download() as download:
        page.click("#save-text")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.endswith("\n") and len(text.splitlines()) == 54 and all(len(line) == 72 for line in text.splitlines())
    page.click("#pause")  # the grid stays put while the PNG is saved, so it can be compared with Python's
    page.wait_for_function("() => document.body.dataset.state === 'paused'")
    shown = np.array(page.evaluate("emojicam.classes"))
    with page.expect_download() as download:
        page.click("#save-png")
    # drawn by the page from the atlas, or by the server: the same pixels as `infer -o x.png` draws
    assert np.array_equal(np.asarray(Image.open(download.value.path()).convert("RGB")), np.asarray(converter.image(shown)))
    assert page.evaluate("emojicam.grid") == "\n".join("".join(converter.texts[c] for c in row) for row in shown)
    if camera_server.net == "browser":
        assert posts == [] and page.evaluate("crossOriginIsolated")  # serve's headers allow wasm threads
    else:
        assert any(url.split("?")[0].endswith("/frame") for url in posts)

    # Set PIC2EMOJI_SCREENSHOT=docs/serve-screenshot.png to keep it (serve_bench --screenshot does so on a real model).
    screenshot = Path(os.environ.get("PIC2EMOJI_SCREENSHOT") or tmp_path / "serve-screenshot.png")
    page.screenshot(path=str(screenshot))
    assert screenshot.stat().st_size > 10_000
    browser.close()


def test_page_says_when_camera_permission_is_refused(playwright, camera_server, tmp_path):
    browser = open_browser(playwright, tmp_path / "profile", write_y4m(halves(640, 480), tmp_path / "camera.y4m"),
                           allow_camera=False)
    page = browser.new_page()
    page.goto(camera_server.url)
    page.wait_for_function("() => document.body.dataset.state === 'denied'", timeout=20_000)
    assert "permission was refused" in page.text_content("#status")
    browser.close()


def test_page_says_when_there_is_no_camera_or_the_origin_is_not_secure(playwright, camera_server, tmp_path):
    lan_name = "--host-resolver-rules=MAP emojicam.test 127.0.0.1"  # a name that is not localhost, on loopback
    browser = open_browser(playwright, tmp_path / "profile", camera=None, extra_args=[lan_name])
    page = browser.new_page()
    page.goto(camera_server.url)
    page.wait_for_function("() => document.body.dataset.state === 'no-camera'", timeout=20_000)
    assert "No camera was found" in page.text_content("#status")
    port = camera_server.url.rsplit(":", 1)[1]
    page.goto(f"http://emojicam.test:{port}/")
    page.wait_for_function("() => document.body.dataset.state === 'insecure'", timeout=20_000)
    assert f"open http://localhost:{port}/" in page.text_content("#status")
    browser.close()


def raw(server, data: bytes, timeout: float = 10) -> bytes:
    """Send bytes as they are and read the whole answer (until the server closes or `timeout`)."""
    with socket.create_connection(server.server_address[:2], timeout=timeout) as connection:
        connection.sendall(data)
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return answer


def test_head_nested_json_and_the_url_on_every_address(server, converter):
    head = raw(server, b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert head.startswith(b"HTTP/1.") and b" 200 " in head.split(b"\r\n")[0] and head.endswith(b"\r\n\r\n")  # no body
    deep = b'{"grid": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    status, _, answer = request(server, "/mosaic.png", deep, "application/json")
    assert status == 400 and '{"grid"' in answer["error"]
    everywhere = EmojiCamServer(converter, "0.0.0.0", 0, ROWS, COLS, net="server")
    try:
        assert everywhere.url.startswith("http://127.0.0.1:")  # a URL browsers treat as secure
        assert everywhere.names_this_server("192.168.1.20") and not everywhere.names_this_server("attacker.example")
    finally:
        everywhere.server_close()


def test_a_burst_of_connections_is_answered_not_dropped(server):
    """More connections than workers: each extra one gets a quick 503, and the held ones are still served."""
    def answer(connection):
        data = b""
        with connection:
            while chunk := connection.recv(65536):
                data += chunk
        return int(data.split(b" ", 2)[1])

    ask = b"GET /config HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    holding = [socket.create_connection(server.server_address[:2], timeout=30) for _ in range(16)]
    deadline = time.monotonic() + 10  # wait until the server has given each a worker: all 16 are busy
    while server.slots._value > 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    extra = [socket.create_connection(server.server_address[:2], timeout=30) for _ in range(40)]
    for connection in extra:
        connection.sendall(ask)
    assert [answer(c) for c in extra] == [503] * 40
    for connection in holding:
        connection.sendall(ask)
    assert [answer(c) for c in holding] == [200] * 16


def test_frames_of_any_grid_and_the_steady_rule_per_client(server, converter):
    rng = np.random.default_rng(0)
    picture = rng.integers(0, 256, (4, 9, 3)).repeat(8, 0).repeat(8, 1).astype(np.float32)  # a colour a cell
    noisy = [jpeg(Image.fromarray(np.clip(picture + rng.normal(0, 24, picture.shape), 0, 255).astype(np.uint8)))
             for _ in range(2)]
    _, _, first = request(server, "/frame?rows=4&cols=9&client=a", noisy[0])
    _, _, second = request(server, "/frame?rows=4&cols=9&client=a", noisy[1])
    _, _, fresh = request(server, "/frame?rows=4&cols=9", noisy[1])  # no client: the plain pick
    assert np.array(first["grid"]).shape == (4, 9)
    patches = cut_patches(server.decode(noisy[1], 4, 9), (4, 9))
    expected = converter.steady(patches, np.array(fresh["grid"]), np.array(first["grid"]))
    assert np.array_equal(np.array(second["grid"]), expected)
    assert fresh["grid"] != first["grid"] and second["grid"] != fresh["grid"]  # noise flipped cells; steady kept some
    _, _, other = request(server, "/frame?rows=4&cols=9&client=b", noisy[1])
    assert other["grid"] == fresh["grid"]  # another client starts afresh


DECODE_PEAK = """
import sys
from pic2emoji.serve import decode
def status(key):  # in MB
    return int(next(line for line in open("/proc/self/status") if line.startswith(key)).split()[1]) / 1024
jpeg = open(sys.argv[1], "rb").read()
open("/proc/self/clear_refs", "w").write("5")  # the peak so far (importing numpy, Pillow, tinygrad) is forgotten
before = status("VmRSS")
pixels = decode(jpeg, 200, 200)
assert pixels.shape == (7200, 7200, 3)
print(status("VmHWM") - before)
"""


def test_a_huge_jpeg_is_reduced_as_it_is_decoded(tmp_path):
    """A 7200×7200 JPEG (36 px a cell at 200×200, under 1 MB) costs about what its grid at 36 px a cell
    must (155 MB), not a full decode, a copy and an upsampled copy on top (~620 MB)."""
    import subprocess
    import sys
    from PIL import ImageDraw
    image = Image.new("RGB", (7200, 7200), (40, 70, 220))
    ImageDraw.Draw(image).rectangle((0, 0, 7199, 3599), fill=(230, 40, 40))
    image.save(tmp_path / "huge.jpg", quality=90)
    del image
    out = subprocess.run([sys.executable, "-c", DECODE_PEAK, str(tmp_path / "huge.jpg")], capture_output=True, text=True,
                         timeout=120, env=CPU)
    assert out.returncode == 0, out.stderr
    grown = float(out.stdout)
    print(f"decoding a 7200×7200 JPEG for a 200×200 grid: peak RSS +{grown:.0f} MB")
    assert grown < 250, f"+{grown:.0f} MB"


def test_a_reduced_frame_keeps_its_cells_colours_and_one_that_cannot_be_gets_413():
    from pic2emoji.pixels import block_means
    from pic2emoji.routes import ClientError
    from pic2emoji.serve import decode
    frame = jpeg(Image.fromarray(np.random.default_rng(1).integers(0, 256, (ROWS, COLS, 3), np.uint8)).resize(
        (COLS * 36, ROWS * 36), Image.NEAREST))  # 36 px a cell, each cell one colour
    whole, reduced = decode(frame, ROWS, COLS), decode(frame, ROWS, COLS, limit=COLS * ROWS * 81)  # 9 px a cell
    assert whole.shape == reduced.shape == (ROWS * 36, COLS * 36, 3)
    assert np.abs(block_means(whole, 36) - block_means(reduced, 36)).max() < 6
    with pytest.raises(ClientError) as refused:
        decode(frame, ROWS, COLS, limit=100)  # beyond what scaling by 8 reaches
    assert refused.value.status == 413 and "more than the 0.0001 megapixels" in str(refused.value)


def test_frames_in_flight_share_a_budget_of_pixels():
    from pic2emoji.routes import ClientError
    from pic2emoji.serve import PixelBudget
    budget = PixelBudget(100)
    with budget.share(60, wait=0):
        with budget.share(40, wait=0):
            with pytest.raises(ClientError) as busy:
                with budget.share(1, wait=0):
                    pass
            assert busy.value.status == 503 and "busy" in str(busy.value)
        with budget.share(40, wait=0):  # given back: there again
            pass
    with budget.share(500, wait=0):  # one frame larger than the budget still goes, alone
        assert budget.free == 0
    assert budget.free == 100
