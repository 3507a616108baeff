"""`serve`: the live emoji camera, on this machine: the server, its bounds, and in server mode its net.

Browser mode (the default) serves web.py's static site and the net runs in the page; server mode
(`--net server`) classifies the page's camera frames here, one JPEG at a time. routes.py says which
request gets what. Why JPEG frames rather than raw pixels, and what each stage costs: docs/BENCHMARKS.md.
"""
import collections
import contextlib
import io
import ipaddress
import json
import socket
import sys
import threading
import time
import warnings
from http.server import ThreadingHTTPServer

import numpy as np
from PIL import Image

from .defaults import MAX_LIVE_CELLS, PATCH
from .errors import ServeError, first_line
from .options import Options
from .photo import cut_patches
from .pixels import upsample_cells
from .routes import ClientError, Handler
from .web import CAMERA, PAGE, atlas, atlas_config, page_config, web_files

CLIENTS = 64          # clients whose last grid the server keeps for the steady rule (server mode)
DEADLINE = 30         # seconds one request may take in all, however slowly it trickles in
WORKERS = 16          # connections served at once; one more is answered 503 straight away
BACKLOG = 128         # connections the kernel holds for us before they are accepted
PALETTE = "terminal"  # one-code-point emoji: the browser draws each as one glyph, one per grid cell
# Pixels, bounded per frame and in flight: a frame is decoded at most at MAX_DECODED pixels (a 72×54 grid at
# 36 px a cell, 5 MP, whole; larger JPEGs are reduced as they are decoded), and the frames being worked on
# hold at most PIXELS_AT_ONCE between them (each its decoded pixels and its grid at 36 px a cell: two
# frames of the largest grid, 200×200); others wait their turn, up to the request's deadline.
MAX_DECODED = 8_000_000
PIXELS_AT_ONCE = 2 * (MAX_LIVE_CELLS ** 2 * PATCH ** 2 + MAX_DECODED)
LOOPBACK = {"localhost", "127.0.0.1", "::1"}
WILDCARD = {"0.0.0.0", "::", ""}


class PixelBudget:
    """The pixels that frames being worked on may hold at once, across threads: a frame takes its share
    before it is decoded and gives it back when its grid is made; one that cannot get it within `wait`
    seconds is answered 503. So six large frames at once take turns instead of taking gigabytes."""
    def __init__(self, total: int):
        self.total, self.free, self.changed = total, total, threading.Condition()

    @contextlib.contextmanager
    def share(self, pixels: int, wait: float):
        pixels = min(pixels, self.total)  # a frame alone always fits
        with self.changed:
            if not self.changed.wait_for(lambda: self.free >= pixels, wait):
                raise ClientError(503, f"busy: frames of {self.total / 1e6:.0f} megapixels in all are being "
                                       "converted; try again")
            self.free -= pixels
        try:
            yield
        finally:
            with self.changed:
                self.free += pixels
                self.changed.notify_all()


def cell_px(rows: int, cols: int) -> int:
    """Camera pixels per cell: 8 at 72 columns from a 640×480 camera. More would only be upscaled anyway."""
    return max(1, min(PATCH, CAMERA[0] // cols, CAMERA[1] // rows))


class EmojiCamServer(ThreadingHTTPServer):
    """The live camera's page and, in server mode, its net: one Converter, one frame at a time.

    Bound to host:port (port 0: any free one) when made; serve_forever() serves. Bounded however it is
    used: BACKLOG waiting connections, WORKERS served at once (others get 503), DEADLINE per request,
    and only requests naming this server in Host (and Origin): a DNS-rebinding page, whose Host is its
    own domain, is refused.
    """
    daemon_threads = True  # Ctrl-C does not wait for idle keep-alive connections
    request_queue_size = BACKLOG
    deadline = DEADLINE
    max_decoded = MAX_DECODED

    def __init__(self, converter, host: str, port: int, rows: int, cols: int, allow_hosts=(), method: str = "net",
                 net: str = "browser"):
        self.converter, self.rows, self.cols, self.host, self.method, self.net = converter, rows, cols, host, method, net
        # The names a request may give this server: loopback ones, its address, those a proxy or a LAN
        # gives it; on every address also this machine's own names (looked up once, not per request).
        self.names = LOOPBACK | {host.lower()} | {h.lower() for h in allow_hosts}
        if host in WILDCARD:
            name = socket.gethostname().lower()
            self.names |= {name, f"{name}.local", socket.getfqdn().lower()}
        self.slots = threading.BoundedSemaphore(WORKERS)
        self.budget = PixelBudget(PIXELS_AT_ONCE)
        self.options = Options(method=method, palette=PALETTE)
        self.previous = collections.OrderedDict()  # client -> its last grid, the CLIENTS most recent
        self.clients_lock = threading.Lock()
        self.cell_px = cell_px(rows, cols)
        if net == "browser":
            self.files = web_files(converter, rows, cols, PALETTE)
        else:
            allowed = converter.allowed(PALETTE)
            config = {**page_config(converter, rows, cols, PALETTE, "server"), "cell_px": self.cell_px,
                      "frame_type": "image/jpeg", "atlas": atlas_config(converter, allowed)}
            self.files = {"index.html": PAGE / "index.html", "config.json": json.dumps(config, ensure_ascii=False).encode(),
                          "atlas.png": atlas(converter, allowed)}
        try:
            self.address_family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]  # IPv4 or 6
            super().__init__((host, port), Handler)
        except OSError as e:
            raise ServeError(f"cannot listen on {host}:{port} ({e.strerror or first_line(e)}); pick another --port "
                             "(0 takes any free one) or --host") from None

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):  # all workers busy: say so at once, do not queue without end
            body = json.dumps({"error": f"busy: {WORKERS} connections are being served; try again"}).encode()
            with contextlib.suppress(OSError):
                request.settimeout(1)
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                                b"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def names_this_server(self, host: str | None) -> bool:
        """Whether a Host or Origin host names this server: a loopback name, the address it listens on,
        or, listening on every address, any IP address or this machine's own name."""
        if not host:
            return False
        host = host.lower().strip("[]")
        if host in self.names:
            return True
        if self.host in WILDCARD:
            with contextlib.suppress(ValueError):
                ipaddress.ip_address(host)
                return True
        return False

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):  # a client that left is no news
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        """The address to open here: on every address (0.0.0.0) that is the loopback one, which browsers
        treat as secure (the camera works), unlike http://0.0.0.0."""
        host, port = self.server_address[:2]
        if self.host in WILDCARD:
            host = "::1" if ":" in host else "127.0.0.1"
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def frame(self, jpeg: bytes, rows: int | None = None, cols: int | None = None, client: str | None = None):
        """A camera frame -> its (rows, cols) grid of class indices, and milliseconds per stage. With a
        client, cells keep that client's last emoji unless the new pick is clearly better."""
        rows, cols = rows or self.rows, cols or self.cols
        grid_pixels = rows * cols * PATCH ** 2  # the frame at 36 px a cell, as the net sees it
        with self.budget.share(grid_pixels + min(grid_pixels, self.max_decoded), self.deadline):
            start = time.perf_counter()
            pixels = self.decode(jpeg, rows, cols)
            stages = {"decode": (time.perf_counter() - start) * 1e3}
            # The page keeps two frames in flight: one may wait for the other at the net (Converter.lock);
            # refine is numpy only and runs outside it (its cost: docs/BENCHMARKS.md).
            grid = self.converter.cells(pixels, self.options, stages=stages).grid
            if client is not None:  # one grid after another per client, even with two of its frames in flight
                with self.clients_lock:
                    previous = self.previous.get(client)
                    if previous is not None and previous.shape == grid.shape:
                        grid = self.converter.steady(cut_patches(pixels, (rows, cols)), grid, previous)
                    self.previous[client] = grid
                    self.previous.move_to_end(client)
                    if len(self.previous) > CLIENTS:
                        self.previous.popitem(last=False)
        return grid, stages

    def decode(self, jpeg: bytes, rows: int, cols: int) -> np.ndarray:
        """The module's decode, within this server's bound on the pixels a frame is decoded at."""
        return decode(jpeg, rows, cols, self.max_decoded)


def decode(jpeg: bytes, rows: int, cols: int, limit: int = MAX_DECODED) -> np.ndarray:
    """JPEG -> uint8 (rows·36, cols·36, 3) pixels, refusing anything but a cols·k × rows·k JPEG. One of
    more than `limit` pixels is reduced as it is decoded (JPEG's DCT scaling by 2, 4 or 8: the decoder
    never holds it whole), then to whole pixels a cell; one that cannot be is refused with 413."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about odd files; the client gets our one line
        try:
            image = Image.open(io.BytesIO(jpeg), formats=["JPEG"])
        except Exception:
            raise ClientError(400, "the body is not a JPEG; send canvas.toBlob(.., 'image/jpeg')") from None
        width, height, k = *image.size, image.size[0] // cols  # from the header, before decoding
        example = f"{cols * cell_px(rows, cols)}×{rows * cell_px(rows, cols)}"
        if (width, height) != (cols * k, rows * k) or not 1 <= k <= PATCH:
            raise ClientError(400, f"frame is {width}×{height} px but the grid is {cols}×{rows} cells: send "
                                   f"cols·k × rows·k px with k from 1 to {PATCH}, e.g. {example}")
        if width * height > limit:
            scale = next((s for s in (2, 4, 8) if width * height <= limit * s * s), 8)
            image.draft("RGB", (width // scale, height // scale))  # no effect where the JPEG has several tiles
            if image.size[0] * image.size[1] > limit:
                raise ClientError(413, f"frame of {width}×{height} px: more than the {limit / 1e6:g} megapixels a "
                                       f"frame is decoded at, and it cannot be reduced as it is; send e.g. {example}")
        try:
            image.load()
            image = image if image.mode == "RGB" else image.convert("RGB")
        except Exception as e:  # Pillow raises many kinds for a damaged file; all mean the same here
            raise ClientError(400, f"the JPEG is damaged ({first_line(e, 80)})") from None
    if image.size != (width, height):  # reduced: to whole pixels a cell, a box filter over a small image
        k = max(1, min(image.size[0] // cols, image.size[1] // rows))
        if image.size != (cols * k, rows * k):
            image = image.resize((cols * k, rows * k), Image.BOX)
    # Nearest neighbour to 36 px per cell (pixels.nearest_pattern, as the browser's graph does): far
    # cheaper than LANCZOS (as `infer` uses), and the mosaics as faithful (docs/BENCHMARKS.md).
    return upsample_cells(np.asarray(image), (rows, cols))


def run(converter, host: str, port: int, rows: int, cols: int, echo=print, allow_hosts=(), method: str = "net",
        net: str = "browser") -> None:
    """Serve the live camera page until Ctrl-C. In server mode the net is compiled for this grid before
    "ready"; in browser mode the site is made (the net as ONNX) before it."""
    if net == "browser" and method != "net":
        raise ServeError(f"--method {method} runs in Python, not in the browser; add --net server to use it")
    if host not in LOOPBACK:
        echo(f"warning: serving on {host or 'every address'}; browsers allow the camera only on localhost or "
             "over HTTPS, so other machines will see the page but not get a camera")
    model = converter.model
    start = time.perf_counter()
    tuned = ", tuned" if converter.classifier.tuned else "; pic2emoji tune makes it faster"
    echo(f"model {model.path} ({model.arch}{', run in the browser' if net == 'browser' else tuned})")
    server = EmojiCamServer(converter, host, port, rows, cols, allow_hosts, method, net)
    try:
        if net == "browser":
            echo(f"made the page and the net as ONNX for a {rows}×{cols} grid in {time.perf_counter() - start:.1f} s")
        else:
            blank = io.BytesIO()
            Image.new("RGB", (cols * server.cell_px, rows * server.cell_px), model.background).save(blank, format="JPEG")
            server.frame(blank.getvalue(), client="warm-up")  # compile now, not on the first visitor's frame
            server.previous.clear()
            echo(f"compiled the net for a {rows}×{cols} grid in {time.perf_counter() - start:.1f} s")
        echo(f"ready: {server.url}  (open it in a browser; Ctrl-C stops)")
        if host in WILDCARD:
            echo(f"other machines: http://{socket.gethostname()}:{server.server_address[1]}/ (the page; "
                 "their browsers give it no camera over plain http)")
        server.serve_forever()
    except KeyboardInterrupt:
        echo("stopped")
    finally:
        server.server_close()
