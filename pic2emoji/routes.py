"""The live camera's HTTP answers: which request gets what, and the checks each passes first.

Browser mode (the default) serves only the static site of web.py, with the headers that make the page
cross-origin isolated (its wasm may then use threads). The net runs in the browser; nothing is posted.

    GET  /, /config.json, /worker.js, /net.onnx, ...   the site's files

Server mode (`--net server`): the same page sends camera frames; the server answers each with its grid.

    GET  /, /config.json  the page; grid size and the emoji text of every class, as JSON
    POST /frame?rows=R&cols=C&client=ID
                      a JPEG of C·k × R·k px -> {"grid": [[class, ...], ...], "text": [row, ...]}; with a
                      client ID, each cell keeps that client's last emoji unless the new one is clearly
                      better (the steady rule): a still camera does not flicker
    POST /mosaic.png  {"grid": [[class, ...], ...]} -> the mosaic in emoji tiles, as `infer -o x.png` draws it

Every client mistake gets a JSON 4xx, {"error": "what is wrong and what to send instead"}.
"""
import contextlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import numpy as np

from .defaults import LIVE_COLS, LIVE_ROWS, MAX_LIVE_CELLS, TILE_PX
from .errors import Pic2EmojiError
from .formats import PNG
from .web import file_bytes

MAX_BODY = 8 << 20    # bytes; a camera JPEG is ~40 KB, a 200×200 grid of indices for mosaic.png ~200 KB
TIMEOUT = 10          # seconds a client may stall mid-request before its connection is dropped
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript",
         ".json": "application/json", ".wasm": "application/wasm", ".png": "image/png", ".onnx": "application/octet-stream",
         ".bin": "application/octet-stream"}
# Cross-origin isolation: the page may then use SharedArrayBuffer, which threaded wasm needs.
ISOLATED = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}
EXAMPLE = f"/frame?rows={LIVE_ROWS}&cols={LIVE_COLS}"


class ClientError(Exception):
    """A request the server refuses: answered as JSON {"error": message} with `status`."""
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def hostname(value: str, header: str, prefix: str = "") -> str | None:
    """The host a Host or Origin header names (None if none); a malformed one ("[::1") is the client's
    mistake, answered 400."""
    try:
        return urlsplit(prefix + value).hostname
    except ValueError:
        raise ClientError(400, f"malformed {header} header {value!r}; send a host name or address, "
                               "an IPv6 one in brackets ([::1])") from None


def in_range(size: int) -> bool:
    """Whether a grid's rows or columns are within what the live camera draws."""
    return 1 <= size <= MAX_LIVE_CELLS


class Handler(BaseHTTPRequestHandler):
    """One connection to serve.EmojiCamServer (self.server): its files, and in server mode its frames."""
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
        host = hostname(self.headers.get("Host", ""), "Host", "//")
        if not self.server.names_this_server(host):
            raise ClientError(403, f"Host {self.headers.get('Host', '(none)')!r} is not this server; open {self.server.url}/")
        origin = self.headers.get("Origin")
        if origin is not None and not self.server.names_this_server(hostname(origin, "Origin")):
            raise ClientError(403, f"requests from pages of {origin!r} are refused; open {self.server.url}/")

    def read_body(self, content_type: str) -> bytes:
        if "Content-Type" not in self.headers or self.headers.get_content_type() != content_type:
            given = self.headers.get("Content-Type", "missing")
            raise ClientError(415, f"Content-Type is {given}; send {content_type}")
        length = self.headers.get("Content-Length")
        if length is None:
            raise ClientError(411, "send a Content-Length header with the body's size (chunked bodies are not read)")
        if not (length.isascii() and length.isdigit()):  # "²" is a digit to isdigit(), not to int()
            raise ClientError(400, f"Content-Length {length!r} is not a size; send the body's size in bytes, as digits")
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
            raise ClientError(400, f"rows and cols must be whole numbers, e.g. {EXAMPLE}") from None
        if (rows is None) != (cols is None) or rows is not None and not (in_range(rows) and in_range(cols)):
            raise ClientError(400, f"give both rows and cols, each from 1 to {MAX_LIVE_CELLS}, e.g. {EXAMPLE}")
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
        if grid.ndim != 2 or not (in_range(grid.shape[0]) and in_range(grid.shape[1])) or grid.dtype.kind != "i" \
                or grid.min() < 0 or grid.max() >= classes:
            raise ClientError(400, f"grid must be 1 to {MAX_LIVE_CELLS} rows of 1 to {MAX_LIVE_CELLS} class indices "
                                   f"each, from 0 to {classes - 1}")
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
