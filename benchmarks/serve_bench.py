"""Benchmark of the live camera: the real page in headless Chromium, a photo as its fake camera, against
`pic2emoji serve` on a real model, with the net in the page (browser mode, the default) or in the
server. Prints end-to-end frames per second (camera frame -> emoji on screen), the share of cells that
changed emoji a frame (flicker, on a still camera) and that went through the net, milliseconds per
stage (the workers' in browser mode; the server's decode / wait / net / encode in server mode), and
the server's memory.

    python benchmarks/serve_bench.py                          # browser mode, still noisy camera, 20 s
    python benchmarks/serve_bench.py --motion pan              # a moving camera: every cell changes
    python benchmarks/serve_bench.py --net server              # frames posted to the server
    python benchmarks/serve_bench.py --query "workers=1&threads=2"   # the page's settings
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
from video_bench import base_tree  # noqa: E402

PHOTO = Path(__file__).resolve().parent.parent / "examples" / "photos" / "chelsea.png"


def bench(emoji_set, model, seconds, rows, cols, photo, noise=4.0, screenshot=None, device=None, net="browser",
          motion="still", query="", checkout=None) -> dict:
    from playwright.sync_api import sync_playwright
    options = ["--rows", rows, "--cols", cols, "--net", net, *(["--model", model] if model else []),
               *(["--device", device] if device else [])]
    read = ("() => ({...emojicam, server: {...emojicam.server}, page: {...emojicam.page}, workers: {...emojicam.workers},"
            " classes: null, grid: null, isolated: crossOriginIsolated, now: performance.now()})")
    with tempfile.TemporaryDirectory() as temp, ServerProcess(emoji_set, *options, cwd=checkout) as server:
        pan = {"still": 0, "pan": 4}[motion]  # 4 px a frame at 30 frames/s: a slow turn of the camera
        camera = write_y4m(Image.open(photo), Path(temp) / "camera.y4m", frames=30 if pan else 15, noise=noise, pan=pan)
        memory = {"ready": rss_mb(server.proc.pid)["rss_mb"]}
        with sync_playwright() as playwright:
            browser = open_browser(playwright, Path(temp) / "profile", camera)
            page = browser.new_page()
            page.goto(f"{server.url}/?{query}")
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
    server_ms, page_ms, cells = per_frame("server"), per_frame("page"), max(end["cells"] - start["cells"], 1)
    return {"grid": f"{rows}x{cols}", "net": net, "motion": motion, "backend": end["backend"],
            "isolated": end["isolated"], "frames": frames, "fps": frames / ((end["now"] - start["now"]) / 1000),
            "changed_share": (end["changed"] - start["changed"]) / cells,
            "settled": end.get("settled", 0) - start.get("settled", 0), "settle_ms": end.get("settleMs", 0),
            "net_share": (end["netCells"] - start["netCells"]) / cells,
            "latency_ms": (end["latencyMs"] - start["latencyMs"]) / max(frames, 1), "server_ms": server_ms,
            "workers_ms": per_frame("workers"), "page_ms": page_ms,
            "http_ms": page_ms["request"] - sum(server_ms.values()),
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
    parser.add_argument("--net", choices=("browser", "server"), default="browser", help="where the net runs (default: browser)")
    parser.add_argument("--motion", choices=("still", "pan"), default="still",
                        help="still: the photo with noise; pan: the photo moving 4 px a frame (default: still)")
    parser.add_argument("--query", default="", help="the page's URL settings, e.g. workers=1&threads=2")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--baseline", default=None, metavar="REV",
                        help="also run the page and server of this git revision (a worktree in the temp folder, "
                             "made once), alternating with "
                             "this checkout's, and print the ratio of frames/s")
    parser.add_argument("--runs", type=int, default=1, help="runs of each, alternating (default: 1)")
    a = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"serve_bench: needs {CHROMIUM}; install it with `apt-get install chromium`")
    run = lambda checkout=None: bench(a.set, a.model, a.seconds, a.rows, a.cols, a.photo, a.noise, a.screenshot,
                                      a.device, a.net, a.motion, a.query, checkout)
    if a.baseline:
        old = base_tree(Path(tempfile.gettempdir()) / f"pic2emoji-{a.baseline}", a.baseline)
        fps = {"before": [], "now": []}
        for _ in range(a.runs):
            for name, checkout in (("before", old), ("now", None)):
                result = run(checkout)
                fps[name].append(result["fps"])
                print(f"{name} ({a.baseline if checkout else 'this checkout'}): {result['fps']:.2f} frames/s, "
                      f"{result['net_share']:.1%} of cells through the net", flush=True)
        best = {name: max(values) for name, values in fps.items()}
        print(f"frames/s, best of {a.runs}: before {best['before']:.2f}, now {best['now']:.2f}: "
              f"now / before = {best['now'] / best['before']:.2f}")
        return
    result = run()
    if a.json:
        print(json.dumps(result, indent=2))
        return
    ms, page = result["server_ms"], result["page_ms"]
    print(f"grid {result['grid']}, net in the {result['net']} ({result['backend']}), {result['motion']} camera: "
          f"{result['fps']:.2f} frames/s end to end over {result['frames']} frames, "
          f"{result['latency_ms']:.0f} ms from camera frame to emoji on screen")
    print(f"cells a frame: {result['changed_share']:.2%} changed emoji, {result['net_share']:.1%} went through the net; "
          f"the grid settled {result['settled']} time{'s' * (result['settled'] != 1)}"
          + (f" (the last in {result['settle_ms']:.0f} ms)" if result["settled"] else ""))
    if result["net"] == "server":
        print(f"server per frame: decode {ms['decode']:.1f} ms, net {ms['net']:.1f} ms, encode {ms['encode']:.1f} ms")
        print(f"page per frame: capture + JPEG {page['capture']:.1f} ms, HTTP and JSON outside the server "
              f"{result['http_ms']:.1f} ms, updating the grid {page['show']:.1f} ms")
    else:
        workers = result["workers_ms"]
        print(f"page per frame: capture {page['capture']:.1f} ms, workers {page['request']:.1f} ms (cutting cells "
              f"{workers['cells']:.1f}, net {workers['net']:.1f}, following {workers.get('follow', 0):.1f}, "
              f"colour touch-up {workers.get('touch', 0):.1f}), "
              f"updating the grid {page['show']:.1f} ms")
    memory = result["server_rss_mb"]
    print(f"server: ready after {result['server_ready_s']:.1f} s; RSS {memory['ready']:.0f} MB when ready, "
          f"{memory['warm']:.0f} MB after 3 frames, {memory['end']:.0f} MB at the end (peak {memory['peak']:.0f} MB)")


if __name__ == "__main__":
    main()
