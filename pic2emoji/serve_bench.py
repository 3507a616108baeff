"""Benchmark of the live camera: the real page in headless Chromium, a photo as its fake camera, against
`pic2emoji serve` on a real model. Prints end-to-end frames per second (camera frame -> emoji on
screen), the server's milliseconds per frame split into decode / wait (for the other frame in the
net: the page keeps two in flight) / net / encode, and the server's memory.

    python -m pic2emoji.serve_bench                       # noto set, its model, 20 s
    python -m pic2emoji.serve_bench --set noto-small --model /tmp/ns.safetensors --seconds 10
    python -m pic2emoji.serve_bench --screenshot docs/serve-screenshot.png

Needs Chromium at /usr/bin/chromium (Debian package `chromium`) and `pip install playwright` (the test
extra); no `playwright install`. The helpers here (fake camera, server process, browser) serve the
tests too.
"""
import argparse
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

CHROMIUM = os.environ.get("PIC2EMOJI_CHROMIUM", "/usr/bin/chromium")  # a Debian-style build, not a snap
PHOTO = Path(__file__).resolve().parent.parent / "examples" / "photos" / "chelsea.png"


def write_y4m(image: Image.Image, path, size=(640, 480), frames: int = 1, noise: float = 0.0) -> Path:
    """Y4M video (4:2:0, full-range BT.601, as C420jpeg means) that Chromium's fake camera plays in a
    loop: the photo cropped to `size`, with Gaussian noise of `noise` levels in each frame, as a webcam's."""
    rgb = np.asarray(ImageOps.fit(image.convert("RGB"), size, Image.LANCZOS), np.float32)
    rng = np.random.default_rng(0)
    half = lambda plane: plane.reshape(size[1] // 2, 2, size[0] // 2, 2).mean((1, 3))
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{size[0]} H{size[1]} F30:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            r, g, b = (rgb + rng.normal(0, noise, rgb.shape) if noise else rgb).transpose(2, 0, 1)
            y = 0.299 * r + 0.587 * g + 0.114 * b
            cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
            cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
            planes = (np.clip(p + 0.5, 0, 255).astype(np.uint8).tobytes() for p in (y, half(cb), half(cr)))
            out.write(b"FRAME\n" + b"".join(planes))
    return Path(path)


def open_browser(playwright, user_dir, camera=None, allow_camera: bool = True, extra_args=()):
    """Headless Chromium with a fresh profile; `camera`: a Y4M file played as the webcam (None: no camera).
    allow_camera=False leaves the permission to the browser, which refuses it when headless."""
    args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", *extra_args]
    if camera:
        args += ["--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={Path(camera).resolve()}"]
    if allow_camera:
        args.append("--use-fake-ui-for-media-stream")
    return playwright.chromium.launch_persistent_context(str(user_dir), executable_path=CHROMIUM, headless=True,
                                                         args=args, viewport={"width": 1280, "height": 900})


def rss_mb(pid: int) -> dict:
    """Resident memory of a process now and at its peak, in MB (Linux)."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {"rss_mb": int(status["VmRSS"].split()[0]) / 1024, "peak_mb": int(status["VmHWM"].split()[0]) / 1024}


class ServerProcess:
    """`pic2emoji serve ARGS --port 0` in a subprocess; on entering, waits for its ready line and knows its URL."""
    def __init__(self, *args, env=None, timeout: float = 300):
        self.command = [sys.executable, "-m", "pic2emoji", "serve", "--port", "0", *map(str, args)]
        self.env, self.timeout, self.log, self.url = env, timeout, [], None

    def __enter__(self):
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     env=self.env)
        lines = queue.Queue()
        threading.Thread(target=self._read, args=(lines,), daemon=True).start()
        while self.url is None:
            try:
                line = lines.get(timeout=max(0.0, self.started + self.timeout - time.perf_counter()))
            except queue.Empty:
                line = None
            if line is None:
                self.__exit__()
                raise RuntimeError(f"{' '.join(self.command)} did not get ready:\n{''.join(self.log)}")
            if line.startswith("ready: "):
                self.url = line.split()[1]
        self.ready_s = time.perf_counter() - self.started
        return self

    def _read(self, lines):
        for line in self.proc.stderr:
            self.log.append(line)
            lines.put(line)
        lines.put(None)

    def stop(self, timeout: float = 10) -> int:
        """Ctrl-C, as a person would; the exit code."""
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout)

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            try:
                self.stop()
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_for_frames(page, frames: int, timeout_s: float):
    page.wait_for_function(f"() => window.emojicam && emojicam.frames >= {frames}", timeout=timeout_s * 1000)


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
