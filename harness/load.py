"""A light, bounded load generator: keep-alive HTTP/1.1 requests over raw asyncio streams.

It costs little CPU per request, so that on a 2-core machine it measures the service rather than
itself. Every run is bounded by a request count and a deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

_BODY = b'{"data": "data"}'


@dataclass
class Answer:
    """One response: status, body and latency (status 0: the connection failed)."""

    status: int
    body: bytes
    seconds: float


class RawPoster:
    """One keep-alive connection that POSTs a fixed request (or GETs) and reads status and body."""

    def __init__(self, url: str, path: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.request = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(_BODY)}\r\n\r\n"
        ).encode() + _BODY
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self) -> tuple[int, bytes]:
        """Send the request; return the status and body (reconnects once if idle-closed)."""
        return await self._exchange(self.request)

    async def get(self, target: str) -> tuple[int, bytes]:
        """`GET target` (a path with its query, already encoded) on the same connection."""
        return await self._exchange(f"GET {target} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())

    async def post_to(self, target: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """`POST target` with `body` and `headers` on the same connection."""
        lines = [f"POST {target} HTTP/1.1", f"Host: {self.host}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return await self._exchange(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    async def _exchange(self, request: bytes) -> tuple[int, bytes]:
        for _ in range(2):
            if self.reader is None or self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            self.writer.write(request)
            status_line = await self.reader.readline()
            if status_line:
                break
            self.close()  # the server closed an idle keep-alive connection
        else:
            raise ConnectionError("the service closed the connection without answering")
        length = 0
        while (line := await self.reader.readline()) not in {b"\r\n", b""}:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    def close(self) -> None:
        """Close the connection (the next post opens a new one)."""
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass
class LoadRun:
    """`total` POSTs to `url + path` with `concurrency` in flight, within `deadline` seconds."""

    url: str
    total: int
    concurrency: int = 32
    path: str = "/api/route"
    deadline: float = 300.0
    answers: list[Answer] = field(default_factory=list)

    async def run(self, on_answer: Callable[[int], None] | None = None) -> list[Answer]:
        """Send every request; returns the answers in completion order."""
        remaining = self.total
        stop_at = time.monotonic() + self.deadline

        async def worker() -> None:
            nonlocal remaining
            poster = RawPoster(self.url, self.path)
            try:
                while remaining > 0 and time.monotonic() < stop_at:
                    remaining -= 1
                    started = time.perf_counter()
                    try:
                        status, body = await poster.post()
                    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                        poster.close()
                        status, body = 0, repr(exc).encode()
                    self.answers.append(Answer(status, body, time.perf_counter() - started))
                    if on_answer is not None:
                        on_answer(len(self.answers))
            finally:
                poster.close()

        await asyncio.gather(*(worker() for _ in range(self.concurrency)))
        return self.answers
