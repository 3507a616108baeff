"""Browser helpers shared by the live camera's tests and benchmarks/serve_bench.py: a photo as Chromium's
fake camera, headless Chromium with a fresh profile, `pic2emoji serve` in a subprocess, its memory.

Needs Chromium at /usr/bin/chromium (Debian's `chromium`; PIC2EMOJI_CHROMIUM names another build) and
the playwright package (the test extra); no `playwright install`.
"""
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from pic2emoji.pixels import block_means, to_uint8

CHROMIUM = os.environ.get("PIC2EMOJI_CHROMIUM", "/usr/bin/chromium")  # a Debian-style build, not a snap


def write_y4m(image: Image.Image, path, size=(640, 480), frames: int = 1, noise: float = 0.0, pan: int = 0) -> Path:
    """Y4M video (4:2:0, BT.601 at video range, 16-235, as Chromium's fake camera reads it back: measured,
    0.3 levels off on average, where full-range values came back ~5 levels off) that the fake camera plays
    in a loop: the photo cropped to `size`, with Gaussian noise of `noise` levels in each frame, as a webcam's.
    With `pan`, each frame is the photo moved by that many pixels more to the left (a moving camera),
    so that every cell changes every frame."""
    wide = np.asarray(ImageOps.fit(image.convert("RGB"), (size[0] + pan * frames, size[1]), Image.LANCZOS), np.float32)
    rng = np.random.default_rng(0)
    half = lambda plane: block_means(plane[..., None], 2)[..., 0]
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{size[0]} H{size[1]} F30:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            rgb = wide[:, i * pan:i * pan + size[0]]
            r, g, b = (rgb + rng.normal(0, noise, rgb.shape) if noise else rgb).transpose(2, 0, 1)
            y = 16 + (0.299 * r + 0.587 * g + 0.114 * b) * 219 / 255
            cb = 128 + (-0.168736 * r - 0.331264 * g + 0.5 * b) * 224 / 255
            cr = 128 + (0.5 * r - 0.418688 * g - 0.081312 * b) * 224 / 255
            planes = (to_uint8(p).tobytes() for p in (y, half(cb), half(cr)))
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
    def __init__(self, *args, env=None, timeout: float = 300, cwd=None):
        self.command = [sys.executable, "-m", "pic2emoji", "serve", "--port", "0", *map(str, args)]
        self.env, self.timeout, self.cwd, self.log, self.url = env, timeout, cwd, [], None

    def __enter__(self):
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     env=self.env, cwd=self.cwd)
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
