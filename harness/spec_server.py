"""A loopback HTTP server for spec documents, with scripted faults.

Routes (all GET):
- `/specs/<file>`: a file from the shared corpus; `/doc/<name>`: a document put with `put()`.
- `/flaky/<key>/<n>/<target>`: HTTP 500 for the first `n` requests of `key`, then `<target>`.
- `/slow/<seconds>/<target>`: waits, then `<target>`; `/drop/<target>`: closes the connection
  without an answer; `/truncated/<target>`: declares the full length, sends half, closes.
- `/redirect?to=<url>`: 302 to `url`; `/status/<code>`: an empty answer with that status.
- `/big/<bytes>`: a JSON body of that many bytes, with no Content-Length (chunked).
- `/gzip/<n>/<target>`: `<target>` gzipped `n` times, with `Content-Encoding: gzip, gzip, ...`.
- `/encoded/<value>/<target>`: `<target>` as it is, with `Content-Encoding: <value>`.
- `/bomb/<layers>/<mib>`: `<mib>` MiB of spaces gzipped `<layers>` times (1 GiB in 2.5 KB with 2).
- `/gate/<key>/<target>`: counts the request, waits until `open_gate(key)`, then `<target>`.
`<target>` is `specs/<file>` or `doc/<name>`.
"""

from __future__ import annotations

import functools
import gzip
import struct
import sys
import threading
import time
import zlib
from collections import Counter
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import parse_qs, unquote, urlsplit

from appsync.cli.dev_server import Startable
from harness.paths import SPECS_DIR

MAX_SLOW_SECONDS = 30.0
MAX_BIG_BYTES = 256 * 1024 * 1024
MAX_BOMB_MIB = 4096
MAX_GATE_SECONDS = 60.0
_MIB = 1024 * 1024


@functools.cache
def gzip_bomb(mib: int, layers: int) -> bytes:
    """`mib` MiB of spaces, gzipped `layers` times; built without compressing `mib` MiB.

    A deflate stream reset by a full flush compresses the same input to the same bytes, so one
    compressed MiB is repeated; the gzip header and trailer (CRC-32, size) are written around it.
    """
    spaces = b" " * _MIB
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = deflate.compress(spaces) + deflate.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(spaces, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    trailer = struct.pack("<II", crc, (mib * _MIB) & 0xFFFFFFFF)
    body = header + block * mib + deflate.flush() + trailer
    for _ in range(layers - 1):
        body = gzip.compress(body, compresslevel=9)
    return body


class SpecServer(Startable):
    """Serves specs on 127.0.0.1 from a thread; counts requests per path."""

    def __init__(self, specs_dir: Path = SPECS_DIR) -> None:
        self.specs_dir = specs_dir
        self.documents: dict[str, bytes] = {}
        self.hits: Counter[str] = Counter()
        self._failures: Counter[str] = Counter()
        self._gates: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._httpd = _HTTPServer(self)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def url(self, path: str) -> str:
        """An absolute URL for `path` on this server."""
        return f"{self.base_url}/{path.lstrip('/')}"

    def put(self, name: str, body: bytes) -> str:
        """Serve `body` at `/doc/<name>`; returns its URL."""
        self.documents[name] = body
        return self.url(f"doc/{name}")

    def count(self, path: str) -> None:
        """Count one request of `path`."""
        with self._lock:
            self.hits[path] += 1

    def should_fail(self, key: str, times: int) -> bool:
        """Whether request number k of `key` is among the first `times` (then counts it)."""
        with self._lock:
            self._failures[key] += 1
            return self._failures[key] <= times

    def gate(self, key: str) -> threading.Event:
        """The gate `/gate/<key>/...` waits on (created closed)."""
        with self._lock:
            return self._gates.setdefault(key, threading.Event())

    def open_gate(self, key: str) -> None:
        """Let every request waiting at `key`, and every later one, through."""
        self.gate(key).set()

    def body_of(self, target: str) -> bytes | None:
        """The bytes behind `specs/<file>` or `doc/<name>`, if any."""
        kind, _, name = target.partition("/")
        if kind == "doc":
            return self.documents.get(name)
        if kind == "specs" and "/" not in name and not name.startswith("."):
            path = self.specs_dir / name
            return path.read_bytes() if path.is_file() else None
        return None

    def start(self) -> Self:
        """Start serving."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, spec: SpecServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.spec = spec

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that went away (a killed app replica) is no error of the server's."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        """Keep test output quiet."""

    def do_GET(self) -> None:
        """Route one request."""
        spec = self.server.spec
        parts = urlsplit(self.path)
        spec.count(parts.path)
        head, *rest = parts.path.strip("/").split("/")
        if head in {"specs", "doc"}:
            self._serve("/".join([head, *rest]))
        elif head == "flaky":
            key, times, *target = rest
            if spec.should_fail(key, int(times)):
                self._send(HTTPStatus.INTERNAL_SERVER_ERROR, b"flaky")
            else:
                self._serve("/".join(target))
        elif head == "slow":
            time.sleep(min(float(rest[0]), MAX_SLOW_SECONDS))
            self._serve("/".join(rest[1:]))
        elif head == "drop":
            self._drop()
        elif head == "truncated":
            self._truncated(spec.body_of("/".join(rest)) or b"{}")
        elif head == "redirect":
            self._redirect(parse_qs(parts.query)["to"][0])
        elif head == "status":
            self._send(HTTPStatus(int(rest[0])), b"")
        elif head == "big":
            self._big(min(int(rest[0]), MAX_BIG_BYTES))
        else:
            self._hostile(head, rest)

    def _hostile(self, head: str, rest: list[str]) -> None:
        """Encoded bodies, bombs and gates."""
        if head == "gzip":
            self._encoded(", ".join(["gzip"] * int(rest[0])), "/".join(rest[1:]), int(rest[0]))
        elif head == "encoded":
            self._encoded(unquote(rest[0]), "/".join(rest[1:]), 0)
        elif head == "bomb":
            layers, mib = int(rest[0]), min(int(rest[1]), MAX_BOMB_MIB)
            body = gzip_bomb(mib, layers)
            self._send(HTTPStatus.OK, body, "application/json", ", ".join(["gzip"] * layers))
        elif head == "gate":
            self.server.spec.gate(rest[0]).wait(MAX_GATE_SECONDS)
            self._serve("/".join(rest[1:]))
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found")

    def _serve(self, target: str) -> None:
        body = self.server.spec.body_of(target)
        if body is None:
            self._send(HTTPStatus.NOT_FOUND, b"not found")
            return
        kind = "application/json" if target.endswith(".json") else "application/yaml"
        self._send(HTTPStatus.OK, body, kind)

    def _encoded(self, encoding: str, target: str, gzips: int) -> None:
        body = self.server.spec.body_of(target)
        if body is None:
            self._send(HTTPStatus.NOT_FOUND, b"not found")
            return
        for _ in range(gzips):
            body = gzip.compress(body)
        self._send(HTTPStatus.OK, body, "application/json", encoding)

    def _send(
        self, status: HTTPStatus, body: bytes, kind: str = "text/plain", encoding: str = ""
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _drop(self) -> None:
        self.close_connection = True
        self.connection.close()

    def _truncated(self, body: bytes) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        self._drop()

    def _redirect(self, location: str) -> None:
        self.send_response(HTTPStatus.FOUND)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _big(self, size: int) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b" " * 65536
        sent = 0
        try:
            while sent < size:
                piece = chunk[: min(len(chunk), size - sent)]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                sent += len(piece)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
