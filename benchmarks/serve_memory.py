"""Memory of `serve --net server` against large frames (issue 30, item 2): what decoding one 7200×7200
JPEG (36 px a cell at 200×200 cells, under 1 MB) adds to a process at its peak, and the server's peak
and held memory while six such frames are posted at once.

    python benchmarks/serve_memory.py [--set noto] [--clients 6]

Run from a checkout (it uses the browser helpers' ServerProcess in tests/browser.py; no browser).
"""
import argparse
import io
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from browser import ServerProcess, rss_mb  # noqa: E402

SIDE, CELLS = 7200, 200
DECODE_PEAK = """
import sys
from pic2emoji.serve import decode
def status(key):  # in MB
    return int(next(line for line in open("/proc/self/status") if line.startswith(key)).split()[1]) / 1024
jpeg = open(sys.argv[1], "rb").read()
open("/proc/self/clear_refs", "w").write("5")  # forget the peak of the imports
before = status("VmRSS")
pixels = decode(jpeg, int(sys.argv[2]), int(sys.argv[2]))
print(status("VmHWM") - before)
"""


def huge_jpeg() -> bytes:
    image = Image.new("RGB", (SIDE, SIDE), (40, 70, 220))
    ImageDraw.Draw(image).rectangle((0, 0, SIDE - 1, SIDE // 2 - 1), fill=(230, 40, 40))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def post(url: str, body: bytes, answers: list) -> None:
    request = urllib.request.Request(f"{url.rstrip('/')}/frame?rows={CELLS}&cols={CELLS}", body,
                                     {"Content-Type": "image/jpeg"})
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            answers.append(response.status)
    except urllib.error.HTTPError as e:
        answers.append(e.code)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="noto")
    parser.add_argument("--clients", type=int, default=6, help="frames posted at once (default: 6)")
    args = parser.parse_args()
    jpeg = huge_jpeg()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "huge.jpg"
        path.write_bytes(jpeg)
        decoded = subprocess.run([sys.executable, "-c", DECODE_PEAK, str(path), str(CELLS)], capture_output=True,
                                 text=True, check=True)
    print(f"one {SIDE}×{SIDE} JPEG ({len(jpeg) / 1e6:.2f} MB) decoded for a {CELLS}×{CELLS} grid: "
          f"peak +{float(decoded.stdout):.0f} MB")
    with ServerProcess(args.set, "--net", "server") as server:
        idle = rss_mb(server.proc.pid)
        answers, started = [], time.perf_counter()
        threads = [threading.Thread(target=post, args=(server.url, jpeg, answers)) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        after = rss_mb(server.proc.pid)
    print(f"serve --net server, {args.clients} such frames at once: answers {sorted(answers)} in "
          f"{time.perf_counter() - started:.0f} s; RSS idle {idle['rss_mb']:.0f} MB, peak {after['peak_mb']:.0f} MB, "
          f"held after {after['rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
