"""`serve`: the live emoji camera, on this machine.

Browser mode (the default): the static site of web.py (the page, its worker, the net as ONNX,
onnxruntime-web), served with the headers that make the page cross-origin isolated, so that its wasm
may use threads. The net runs in the browser; nothing is posted here.

    GET  /, /config.json, /worker.js, /net.onnx, ...   the site's files

Server mode (`--net server`): the same page sends camera frames; the server answers each with its grid.

    GET  /, /config.json  the page; grid size and the emoji text of every class, as JSON
    POST /frame?rows=R&cols=C&client=ID
                      a JPEG of C·k × R·k px -> {"grid": [[class, ...], ...], "text": [row, ...]}; with a
                      client ID, each cell keeps that client's last emoji unless the new one is clearly
                      better (Converter.steady): a still camera does not flicker
    POST /mosaic.png  {"grid": [[class, ...], ...]} -> the mosaic in emoji tiles, as `infer -o x.png` draws it

Every client mistake gets a JSON 4xx, {"error": "what is wrong and what to send instead"}.

Why JPEG frames (canvas.toBlob) rather than raw RGBA (getImageData): measured for a 576×432 frame in
headless Chromium on 2 cores, 4.2 ms to encode in the page vs 6.4 ms to read the pixels, 38 KB vs
995 KB to send, 1.4 ms vs 0 ms to decode here: a tie on loopback, 26× less traffic anywhere else, and
the frame carries its own size. The mosaics are as faithful (cell-PSNR within 0.02 dB of raw pixels).
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import numpy as np
from PIL import Image

from .defaults import PATCH, TILE_PX
from .errors import Pic2EmojiError, ServeError
from .formats import PNG
from .photo import cut_patches
from .pixels import upsample_cells
from .web import CAMERA, PAGE, file_bytes, page_config, web_files

CLIENTS = 64          # clients whose last grid the server keeps for the steady rule (server mode)
MAX_BODY = 8 << 20    # bytes; a camera JPEG is ~40 KB, a 200×200 grid of indices for mosaic.png ~200 KB
TIMEOUT = 10          # seconds a client may stall mid-request before its connection is dropped
DEADLINE = 30         # seconds one request may take in all, however slowly it trickles in
WORKERS = 16          # connections served at once; one more is answered 503 straight away
BACKLOG = 128         # connections the kernel holds for us before they are accepted
PALETTE = "terminal"  # one-code-point emoji: the browser draws each as one glyph, one per grid cell
LOOPBACK = {"localhost", "127.0.0.1", "::1"}
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript",
         ".json": "application/json", ".wasm": "application/wasm", ".png": "image/png", ".onnx": "application/octet-stream"}
# Cross-origin isolation: the page may then use SharedArrayBuffer, which threaded wasm needs.
ISOLATED = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}
WILDCARD = {"0.0.0.0", "::", ""}


def cell_px(rows: int, cols: int) -> int:
    """Camera pixels per cell: 8 at 72 columns from a 640×480 camera. More would only be upscaled anyway."""
    return max(1, min(PATCH, CAMERA[0] // cols, CAMERA[1] // rows))


class ClientError(Exception):
    """A request the server refuses: answered as JSON {"error": message} with `status`."""
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


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
        self.allowed = converter.allowed(PALETTE)
        self.lock = threading.Lock()  # the JIT reuses its buffers: one frame in the net at a time
        self.previous = collections.OrderedDict()  # client -> its last grid, the CLIENTS most recent
        self.clients_lock = threading.Lock()
        self.cell_px = cell_px(rows, cols)
        if net == "browser":
            self.files = web_files(converter, rows, cols, PALETTE)
        else:
            config = {**page_config(converter, rows, cols, PALETTE, "server"), "cell_px": self.cell_px,
                      "frame_type": "image/jpeg"}
            self.files = {"index.html": PAGE / "index.html", "config.json": json.dumps(config, ensure_ascii=False).encode()}
        try:
            self.address_family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]  # IPv4 or 6
            super().__init__((host, port), Handler)
        except OSError as e:
            raise ServeError(f"cannot listen on {host}:{port} ({e.strerror or e}); pick another --port "
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
        start = time.perf_counter()
        patches = self.decode(jpeg, rows, cols)
        decoded = time.perf_counter()
        with self.lock:  # the page keeps two frames in flight: one may wait here for the other
            started = time.perf_counter()
            grid = self.converter.classifier(patches, self.allowed).reshape(rows, cols)
        finished = time.perf_counter()
        stages = {"decode": (decoded - start) * 1e3, "wait": (started - decoded) * 1e3, "net": (finished - started) * 1e3}
        if self.method == "refine":  # numpy only, outside the lock: 0.12-0.8 s at 54×72 on 2 cores (one to six tries)
            grid = self.converter.refiner()(patches, (rows, cols), grid, self.allowed)
            stages["refine"] = (time.perf_counter() - finished) * 1e3
        if client is not None:  # one grid after another per client, even with two of its frames in flight
            with self.clients_lock:
                previous = self.previous.get(client)
                if previous is not None and previous.shape == grid.shape:
                    grid = self.converter.steady(patches, grid, previous)
                self.previous[client] = grid
                self.previous.move_to_end(client)
                if len(self.previous) > CLIENTS:
                    self.previous.popitem(last=False)
        return grid, stages

    def decode(self, jpeg: bytes, rows: int, cols: int) -> np.ndarray:
        """JPEG -> (rows·cols, 36, 36, 3) patches, refusing anything but a cols·k × rows·k JPEG."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about odd files; the client gets our one line
            try:
                image = Image.open(io.BytesIO(jpeg), formats=["JPEG"])
            except Exception:
                raise ClientError(400, "the body is not a JPEG; send canvas.toBlob(.., 'image/jpeg')") from None
            width, height, k = *image.size, image.size[0] // cols  # from the header, before decoding
            if (width, height) != (cols * k, rows * k) or not 1 <= k <= PATCH:
                raise ClientError(400, f"frame is {width}×{height} px but the grid is {cols}×{rows} cells: send "
                                       f"cols·k × rows·k px with k from 1 to {PATCH}, e.g. "
                                       f"{cols * cell_px(rows, cols)}×{rows * cell_px(rows, cols)}")
            try:
                image = image.convert("RGB")
            except Exception as e:  # Pillow raises many kinds for a damaged file; all mean the same here
                raise ClientError(400, f"the JPEG is damaged ({str(e)[:80] or type(e).__name__})") from None
        # Nearest neighbour to 36 px per cell (pixels.nearest_pattern, as the browser's graph does): a few
        # ms, where LANCZOS (as `infer` uses) takes ~50; measured on four photos at 8 px per cell, the
        # mosaics' cell-PSNR is the same to 0.05 dB.
        return cut_patches(upsample_cells(np.asarray(image), (rows, cols)), (rows, cols))


class Handler(BaseHTTPRequestHandler):
    server: EmojiCamServer
    protocol_version = "HTTP/1.1"  # keep-alive: the page sends all its frames over one connection
    disable_nagle_algorithm = True  # else each answer's body waits for the ACK of its headers: +40 ms
    timeout = TIMEOUT

    def handle_one_request(self):
        """One request within the server's deadline: a client trickling bytes is cut off at the end of it."""
        timer = threading.Timer(self.server.deadline, self.cut_off)
        timer.daemon = True
        timer.start()
        try:
            super().handle_one_request()
        finally:
            timer.cancel()

    def cut_off(self):
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def route(self):
        path, command = urlsplit(self.path).path, "GET" if self.command == "HEAD" else self.command
        files = self.server.files
        routes = {("GET", "/" + name): lambda name=name: self.send_file(name) for name in files}
        routes.update({("GET", "/"): lambda: self.send_file("index.html"), ("GET", "/config"): lambda: self.send_file("config.json")})
        if self.server.net == "server":
            routes.update({("POST", "/frame"): self.answer_frame, ("POST", "/mosaic.png"): self.answer_mosaic})
        try:
            self.check_host()
            if (command, path) in routes:
                return routes[command, path]()
            if methods := [method for method, p in routes if p == path]:
                raise ClientError(405, f"{path} takes {' or '.join(methods)}, not {self.command}")
            if path in ("/frame", "/mosaic.png"):
                raise ClientError(404, f"no {path} here: this server runs the net in the browser; start it with "
                                       "`pic2emoji serve --net server` to post frames")
            api = [f"{m} {p}" for m, p in routes if m == "POST"]
            raise ClientError(404, f"no {path} here; the page is at /" + (f", the API is {', '.join(api)}" if api else ""))
        except ClientError as e:
            self.send_json({"error": str(e)}, e.status)
        except (TimeoutError, ConnectionError):
            self.close_connection = True  # the client stalled or left: nobody to answer
        except Pic2EmojiError as e:  # the server's own files, e.g. a damaged emoji image: say which
            self.send_json({"error": str(e)}, 500)
        except Exception as e:  # a bug here, not the client's mistake: say so, without a traceback
            self.log_error("internal error on %s %s: %r", self.command, path, e)
            self.send_json({"error": f"internal error ({type(e).__name__}); see the server's log"}, 500)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = route

    def check_host(self):
        host = urlsplit(f"//{self.headers.get('Host', '')}").hostname
        if not self.server.names_this_server(host):
            raise ClientError(403, f"Host {self.headers.get('Host', '(none)')!r} is not this server; open {self.server.url}/")
        origin = self.headers.get("Origin")
        if origin is not None and not self.server.names_this_server(urlsplit(origin).hostname):
            raise ClientError(403, f"requests from pages of {origin!r} are refused; open {self.server.url}/")

    def read_body(self, content_type: str) -> bytes:
        if "Content-Type" not in self.headers or self.headers.get_content_type() != content_type:
            given = self.headers.get("Content-Type", "missing")
            raise ClientError(415, f"Content-Type is {given}; send {content_type}")
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            raise ClientError(411, "send a Content-Length header with the body's size (chunked bodies are not read)")
        if int(length) > MAX_BODY:
            raise ClientError(413, f"body of {length} bytes; at most {MAX_BODY} are read")
        if len(body := self.rfile.read(int(length))) < int(length):
            raise ConnectionError("body ended early")
        return body

    def send_file(self, name: str):
        body = file_bytes(self.server.files[name])
        headers = ISOLATED if self.server.net == "browser" else {}
        self.send(body, TYPES.get(Path(name).suffix, "application/octet-stream"), headers)

    def answer_frame(self):
        query = dict(parse_qsl(urlsplit(self.path).query))
        try:
            rows, cols = (int(query[name]) if name in query else None for name in ("rows", "cols"))
        except ValueError:
            raise ClientError(400, "rows and cols must be whole numbers, e.g. /frame?rows=54&cols=72") from None
        if (rows is None) != (cols is None) or rows is not None and not (1 <= rows <= 200 and 1 <= cols <= 200):
            raise ClientError(400, "give both rows and cols, each from 1 to 200, e.g. /frame?rows=54&cols=72")
        grid, ms = self.server.frame(self.read_body("image/jpeg"), rows, cols, query.get("client"))
        start, texts = time.perf_counter(), self.server.converter.texts
        body = json.dumps({"grid": grid.tolist(), "text": ["".join(texts[c] for c in row) for row in grid]},
                          ensure_ascii=False).encode()
        ms["encode"] = (time.perf_counter() - start) * 1e3
        self.send(body, "application/json", {"Server-Timing": ", ".join(f"{k};dur={v:.1f}" for k, v in ms.items())})

    def answer_mosaic(self):
        classes = len(self.server.converter.texts)
        try:
            rows = json.loads(self.read_body("application/json"))["grid"]
        except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: JSON nested thousands deep
            raise ClientError(400, 'send JSON {"grid": [[class index, ...], ...]}, as /frame returns it') from None
        try:
            grid = np.array(rows)
        except (ValueError, TypeError, RecursionError):
            raise ClientError(400, "the grid's rows must all have the same length") from None
        if grid.ndim != 2 or not (1 <= grid.shape[0] <= 200 and 1 <= grid.shape[1] <= 200) or grid.dtype.kind != "i" \
                or grid.min() < 0 or grid.max() >= classes:
            raise ClientError(400, f"grid must be 1 to 200 rows of 1 to 200 class indices each, from 0 to {classes - 1}")
        self.send(self.server.converter.renderer.encode(grid, PNG, TILE_PX), "image/png")

    def send_json(self, obj, status: int):
        self.send(json.dumps(obj, ensure_ascii=False).encode(), "application/json", status=status)

    def send(self, body: bytes, content_type: str, headers: dict | None = None, status: int = 200):
        self.send_response(status)
        for key, value in {"Content-Type": content_type, "Content-Length": str(len(body)),
                           "Cache-Control": "no-store", **(headers or {})}.items():
            self.send_header(key, value)
        if status >= 400:  # the request's body may be unread: start afresh on a new connection
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code, message=None, explain=None):
        """http.server's own refusals (malformed request line, unknown method): JSON like ours."""
        self.send_json({"error": message or self.responses.get(code, ("error",))[0]}, code)

    def log_request(self, code="-", size="-"):
        if isinstance(code, int) and code >= 400:  # successes are many and dull; refusals help debugging
            super().log_request(code, size)

    def log_error(self, format, *args):
        if not format.startswith("Request timed out"):  # an idle keep-alive connection closing
            super().log_error(format, *args)


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
