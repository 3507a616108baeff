"""The live camera's HTTP answers, against a server in this process: the page and its config, frames,
mosaics, and a JSON 4xx naming the problem for every request refused. Loopback addresses only."""
import http.client
import io
import json
import socket
import time

import numpy as np
import pytest
from PIL import Image

from pic2emoji.routes import Handler

from test_serve import COLS, ROWS, halves, jpeg, raw, request, server  # noqa: F401  (server: the fixture)


def test_page_and_config(server, converter):
    status, headers, page = request(server, "/")
    assert status == 200 and headers.get_content_type() == "text/html" and b"getUserMedia" in page
    status, _, config = request(server, "/config")
    assert status == 200
    assert (config["rows"], config["cols"], config["emoji"]) == (ROWS, COLS, converter.texts)
    assert config["frame_type"] == "image/jpeg" and 1 <= config["cell_px"] <= 36


def test_frame_gives_a_grid_of_the_right_shape(server, converter):
    status, headers, answer = request(server, "/frame", jpeg(halves(COLS * 8, ROWS * 8)))
    assert status == 200
    grid = np.array(answer["grid"])
    assert grid.shape == (ROWS, COLS) and grid.min() >= 0 and grid.max() < len(converter.texts)
    assert answer["text"] == ["".join(converter.texts[c] for c in row) for row in grid]
    assert all(len(row) == COLS for row in answer["text"])  # one code point per emoji: the terminal palette
    assert {part.split(";")[0].strip() for part in headers["Server-Timing"].split(",")} == {"decode", "wait", "net", "encode"}


def post_raw(server, path, headers, body=b"") -> tuple[int, dict]:
    """A request urllib would not send: any headers, any body."""
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
    connection.putrequest("POST", path, skip_accept_encoding=True)
    for key, value in headers.items():
        connection.putheader(key, value)
    connection.endheaders(body)
    response = connection.getresponse()
    answer = (response.status, response.getheader("Content-Type"), json.loads(response.read()))
    connection.close()
    return answer


NOISE = Image.fromarray(np.random.default_rng(0).integers(0, 256, (ROWS * 8, COLS * 8, 3), np.uint8))
BAD_REQUESTS = {  # name: (method, path, body, content type, status, words the error must contain)
    "GET a POST path": ("GET", "/frame", None, None, 405, "takes POST"),
    "DELETE the page": ("DELETE", "/", None, None, 405, "takes GET"),
    "unknown path": ("GET", "/admin", None, None, 404, "POST /frame"),
    "PNG instead of JPEG": ("POST", "/frame", b"\x89PNG\r\n", "image/png", 415, "send image/jpeg"),
    "garbage body": ("POST", "/frame", b"not a picture at all", "image/jpeg", 400, "not a JPEG"),
    "truncated JPEG": ("POST", "/frame", jpeg(NOISE)[:len(jpeg(NOISE)) // 2], "image/jpeg", 400, "damaged"),
    "wrong size": ("POST", "/frame", jpeg(halves(640, 480)), "image/jpeg", 400, "640×480 px but the grid is 8×6"),
    "wrong aspect": ("POST", "/frame", jpeg(halves(COLS * 8, ROWS * 9)), "image/jpeg", 400, "e.g. "),
    "cells too large": ("POST", "/frame", jpeg(halves(COLS * 40, ROWS * 40)), "image/jpeg", 400, "k from 1 to 36"),
    "mosaic of no JSON": ("POST", "/mosaic.png", b"[1, 2", "application/json", 400, '{"grid"'),
    "mosaic of ragged rows": ("POST", "/mosaic.png", b'{"grid": [[0, 1], [0]]}', "application/json", 400, "same length"),
    "mosaic too wide": ("POST", "/mosaic.png", json.dumps({"grid": [[0] * 201]}).encode(), "application/json", 400,
                        "1 to 200 class indices"),
    "frame of half a size": ("POST", "/frame?rows=6", jpeg(halves(COLS * 8, ROWS * 8)), "image/jpeg", 400, "both rows and cols"),
    "frame of a huge grid": ("POST", "/frame?rows=6&cols=999", jpeg(halves(COLS * 8, ROWS * 8)), "image/jpeg", 400, "1 to 200"),
    "mosaic of bad class": ("POST", "/mosaic.png", json.dumps({"grid": [[99] * COLS] * ROWS}).encode(),
                            "application/json", 400, "class indices each, from 0 to"),
}


@pytest.mark.parametrize("name", BAD_REQUESTS)
def test_bad_requests_get_a_json_4xx_that_names_the_problem(server, name):
    method, path, body, content_type, status, words = BAD_REQUESTS[name]
    got, headers, answer = request(server, path, body, content_type, method)
    assert got == status and headers.get_content_type() == "application/json"
    assert words in answer["error"], answer


def test_body_size_type_and_length_are_checked_before_reading(server):
    assert post_raw(server, "/frame", {"Content-Type": "image/jpeg", "Content-Length": str(100 << 20)})[:2] == \
        (413, "application/json")
    assert post_raw(server, "/frame", {"Content-Type": "image/jpeg"})[0] == 411
    assert post_raw(server, "/frame", {"Content-Length": "0"})[2] == \
        {"error": "Content-Type is missing; send image/jpeg"}


def test_mosaic_png_is_drawn_from_a_grid(server):
    _, _, answer = request(server, "/frame", jpeg(halves(COLS * 8, ROWS * 8)))
    grid = json.dumps({"grid": answer["grid"]}).encode()
    status, headers, png = request(server, "/mosaic.png", grid, "application/json")
    assert status == 200 and headers.get_content_type() == "image/png"
    assert Image.open(io.BytesIO(png)).size == (COLS * 32, ROWS * 32)


def test_a_stalled_client_is_dropped_and_does_not_hold_up_others(server, monkeypatch):
    monkeypatch.setattr(Handler, "timeout", 0.5)
    stalled = socket.create_connection(server.server_address[:2])
    stalled.sendall(b"POST /frame HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\nContent-Length: 5000\r\n\r\n"
                    b"only a bit")
    assert request(server, "/frame", jpeg(halves(COLS * 8, ROWS * 8)))[0] == 200  # answered meanwhile
    stalled.settimeout(10)  # a stall the server did not cut would raise here
    assert stalled.recv(100) == b""  # closed by the server after its timeout, without an answer
    stalled.close()


@pytest.mark.parametrize("headers, allowed", [
    ("Host: 127.0.0.1", True), ("Host: localhost:8000", True), ("Host: [::1]:8000", True),
    ("Host: attacker.example", False), ("Host: attacker.example:8000", False), ("", False),
    ("Host: 127.0.0.1\r\nOrigin: http://localhost:8000", True),
    ("Host: 127.0.0.1\r\nOrigin: http://attacker.example", False), ("Host: 127.0.0.1\r\nOrigin: null", False),
])
def test_only_requests_naming_this_server_are_answered(server, headers, allowed):
    answer = raw(server, f"GET /config HTTP/1.1\r\n{headers}\r\nConnection: close\r\n\r\n".encode())
    status = int(answer.split(b" ", 2)[1])
    assert status == (200 if allowed else 403), answer[:300]
    if not allowed:
        assert b"is not this server" in answer or b"are refused" in answer


def test_a_body_trickling_in_is_cut_off_at_the_deadline(server, monkeypatch):
    monkeypatch.setattr(server, "deadline", 1.5)
    with socket.create_connection(server.server_address[:2], timeout=10) as connection:
        connection.sendall(b"POST /frame HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n"
                           b"Content-Length: 100\r\n\r\n")
        closed = None
        for _ in range(20):  # one byte every 0.3 s: each well inside the 10 s idle timeout
            try:
                connection.sendall(b"x")
                time.sleep(0.3)
                connection.setblocking(False)
                if connection.recv(100) == b"":
                    closed = True
                    break
            except BlockingIOError:
                pass
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            finally:
                connection.setblocking(True)
        assert closed, "a client dripping a body was never cut off"


@pytest.mark.parametrize("headers, words", [
    ("Host: [::1", b"malformed Host header"),
    ("Host: 127.0.0.1\r\nOrigin: http://[::1", b"malformed Origin header"),
    ("Host: 127.0.0.1\r\nContent-Type: image/jpeg\r\nContent-Length: \xb2", b"is not a size"),  # "²", as latin-1: isdigit()
])
def test_malformed_headers_are_the_clients_mistake_not_a_server_bug(server, monkeypatch, headers, words):
    logged = []
    monkeypatch.setattr(Handler, "log_error", lambda self, format, *args: logged.append(format % args))
    answer = raw(server, "POST /frame HTTP/1.1\r\n".encode() + headers.encode("latin-1") +
                 b"\r\nConnection: close\r\n\r\n")
    assert int(answer.split(b" ", 2)[1]) == 400 and words in answer, answer[:300]
    assert not [line for line in logged if "internal error" in line], logged
