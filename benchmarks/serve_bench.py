"""Benchmark of the live camera: the real page in headless Chromium, a photo as its fake camera, against
`pic2emoji serve` on a real model. Prints end-to-end frames per second (camera frame -> emoji on
screen), the server's milliseconds per frame split into decode / wait (for the other frame in the
net: the page keeps two in flight) / net / encode, and the server's memory.

    python benchmarks/serve_bench.py                       # noto set, its model, 20 s
    python benchmarks/serve_bench.py --set noto-small --model /tmp/ns.safetensors --seconds 10
    python benchmarks/serve_bench.py --screenshot docs/serve-screenshot.png

Run from a checkout (it uses examples/ and the browser helpers in tests/browser.py). Needs Chromium at
/usr/bin/chromium (Debian package `chromium`) and `pip install playwright` (the test extra).
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from browser import CHROMIUM, ServerProcess, open_browser, rss_mb, wait_for_frames, write_y4m  # noqa: E402

PHOTO = Path(__file__).resolve().parent.parent / "examples" / "photos" / "chelsea.png"


def bench(emoji_set, model, seconds, rows, cols, photo, noise=4.0, screenshot=None, device=None) -> dict:
    from playwright.sync_api import sync_playwright
    options = ["--rows", rows, "--cols", cols, *(["--model", model] if model else []),
               *(["--device", device] if device else [])]
    read = "() => ({...emojicam, server: {...emojicam.server}, page: {...emojicam.page}, now: performance.now()})"
    with tempfile.TemporaryDirectory() as temp, ServerProcess(emoji_set, *options) as server:
        camera = write_y4m(Image.open(photo), Path(temp) / "camera.y4m", frames=15, noise=noise)
        memory = {"ready": rss_mb(server.proc.pid)["rss_mb"]}
        with sync_playwright() as playwright:
            browser = open_browser(playwright, Path(temp) / "profile", camera)
            page = browser.new_page()
            page.goto(server.url)
            wait_for_frames(page, 3, 120)  # the first frames pay for the browser's and the allocator's warm-up
            memory["warm"] = rss_mb(server.proc.pid)["rss_mb"]
            start = page.evaluate(read)
            page.wait_for_timeout(seconds * 1000)
            end = page.evaluate(read)
            if screenshot:
                Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot))
            browser.close()
        memory["end"], memory["peak"] = rss_mb(server.proc.pid).values()
    frames = end["frames"] - start["frames"]
    per_frame = lambda part: {k: (end[part][k] - start[part][k]) / max(frames, 1) for k in start[part]}
    server_ms, page_ms = per_frame("server"), per_frame("page")
    return {"grid": f"{rows}x{cols}", "frames": frames, "fps": frames / ((end["now"] - start["now"]) / 1000),
            "latency_ms": (end["latencyMs"] - start["latencyMs"]) / max(frames, 1), "server_ms": server_ms,
            "page_ms": page_ms, "http_ms": page_ms["request"] - sum(server_ms.values()),
            "server_ready_s": server.ready_s, "server_rss_mb": memory}


def main():
    parser = argparse.ArgumentParser(description="Frames per second of the live camera (`pic2emoji serve`) end to end, "
                                                 "in headless Chromium with a photo as the camera.")
    parser.add_argument("--set", default="noto", help="emoji set (default: noto)")
    parser.add_argument("--model", default=None, help="model file (default: the set's model)")
    parser.add_argument("--seconds", type=float, default=20, help="how long to measure (default: 20)")
    parser.add_argument("--rows", type=int, default=54, help="grid rows (default: 54)")
    parser.add_argument("--cols", type=int, default=72, help="grid columns (default: 72)")
    parser.add_argument("--photo", default=str(PHOTO), help="photo shown to the fake camera (default: the cat)")
    parser.add_argument("--noise", type=float, default=4.0,
                        help="camera noise, in levels of 255 (default: 4, a webcam's; 0: a still picture)")
    parser.add_argument("--screenshot", default=None, help="also save a screenshot of the page here")
    parser.add_argument("--device", default=None, help="the server's tinygrad device (default: tinygrad's choice)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    a = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"serve_bench: needs {CHROMIUM}; install it with `apt-get install chromium`")
    result = bench(a.set, a.model, a.seconds, a.rows, a.cols, a.photo, a.noise, a.screenshot, a.device)
    if a.json:
        print(json.dumps(result, indent=2))
        return
    ms = result["server_ms"]
    print(f"grid {result['grid']}: {result['fps']:.2f} frames/s end to end over {result['frames']} frames, "
          f"{result['latency_ms']:.0f} ms from camera frame to emoji on screen")
    page = result["page_ms"]
    print(f"server per frame: decode {ms['decode']:.1f} ms, net {ms['net']:.1f} ms, encode {ms['encode']:.1f} ms")
    print(f"page per frame: capture + JPEG {page['capture']:.1f} ms, HTTP and JSON outside the server "
          f"{result['http_ms']:.1f} ms, updating the grid {page['show']:.1f} ms")
    memory = result["server_rss_mb"]
    print(f"server: ready after {result['server_ready_s']:.1f} s; RSS {memory['ready']:.0f} MB when ready, "
          f"{memory['warm']:.0f} MB after 3 frames, {memory['end']:.0f} MB at the end (peak {memory['peak']:.0f} MB)")


if __name__ == "__main__":
    main()
