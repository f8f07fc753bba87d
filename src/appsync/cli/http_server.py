"""The HTTP server and its limits, in one place for `appsync serve`, `appsync dev` and the image.

uvicorn's httptools parser (what `uvicorn[standard]` runs) has no limit on the size of a request's
headers and no timeout for receiving them (`h11_max_incomplete_event_size` applies only to the h11
parser, and answers 400, not 431): one socket sending a 150 MB header grew the process to 400 MB,
and ~20,000 sockets each holding half a request took every file descriptor until `/health`
failed. `build_config` therefore runs uvicorn with `GuardedHttpToolsProtocol`, which adds:

- a size limit on the request line and headers (`APPSYNC_MAX_HEADER_BYTES`): 431 at once;
- a time limit for receiving them (`APPSYNC_HEADER_TIMEOUT`), counted from the connection's
  start (on a kept-alive connection, from the next request's first byte) and not reset by bytes
  that trickle in: 408 (or a silent close when nothing came);
- a connection limit (`APPSYNC_MAX_CONNECTIONS`, by default half the file descriptors the process
  may open, at most 4,096): a connection over it closes the connection that has waited longest
  for a request's headers (a slow client, or an idle keep-alive one), so that a request that
  arrives whole, such as a health check, is still served; when every connection is busy with a
  request, the new one gets 503.

Idle keep-alive connections close after 5 s (uvicorn's `timeout_keep_alive`), and the listen
backlog is 2,048. Request bodies are not limited here: see docs/security.md for what a reverse proxy
in front should add.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
import resource
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

if TYPE_CHECKING:
    from fastapi import FastAPI

    from appsync.settings.service import ServiceSettings

logger = logging.getLogger(__name__)

KEEP_ALIVE_SECONDS = 5
BACKLOG = 2048
MAX_DEFAULT_CONNECTIONS = 4096


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """What one connection may cost before the server drops it."""

    max_header_bytes: int
    header_timeout: float
    max_connections: int


def default_max_connections() -> int:
    """Half the file descriptors this process may open, at most `MAX_DEFAULT_CONNECTIONS`.

    Half, because a request may open a descriptor of its own (to a spec host or the Inngest
    server), and the process needs some for its pools and files.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_DEFAULT_CONNECTIONS
    return max(1, min(MAX_DEFAULT_CONNECTIONS, soft // 2))


def limits_from(settings: ServiceSettings) -> ServerLimits:
    """The limits the settings ask for (the connection limit derived when unset)."""
    return ServerLimits(
        max_header_bytes=settings.max_header_bytes,
        header_timeout=settings.header_timeout,
        max_connections=settings.max_connections or default_max_connections(),
    )


def build_config(
    app: FastAPI, settings: ServiceSettings, *, host: str, port: int
) -> uvicorn.Config:
    """The uvicorn configuration every way of serving the app uses."""
    limits = limits_from(settings)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        http=guarded_protocol(limits),
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        backlog=BACKLOG,
    )


def guarded_protocol(limits: ServerLimits) -> type[asyncio.Protocol]:
    """A protocol class enforcing `limits`, with its own registry of waiting connections."""

    class Guarded(GuardedHttpToolsProtocol):
        pass

    Guarded.limits = limits
    Guarded.waiting = {}
    return Guarded


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header size and time limits and a connection limit.

    This subclasses uvicorn internals (its callbacks `on_message_begin`, `on_headers_complete`,
    `on_response_complete`), which is why uvicorn and httptools are pinned and the behaviour is
    tested through `appsync serve` (tests/test_server_limits.py).
    """

    limits: ClassVar[ServerLimits]
    # Connections waiting for a request's headers, oldest first (a dict is an ordered set).
    waiting: ClassVar[dict[GuardedHttpToolsProtocol, None]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401 - uvicorn's signature
        super().__init__(*args, **kwargs)
        self._header_bytes = 0
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the header clock, and make room when over the connection limit."""
        super().connection_made(transport)
        self._await_headers()
        self._arm_header_timer()
        if len(self.connections) > self.limits.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection."""
        self._stop_waiting()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser, counting what arrives while a request's headers are awaited."""
        while data and not self.transport.is_closing():
            if self not in self.waiting:
                super().data_received(data)
                return
            self._arm_header_timer()
            room = self.limits.max_header_bytes - self._header_bytes
            if room <= 0:
                self._refuse(
                    http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                    f"the request line and headers exceed {self.limits.max_header_bytes} bytes "
                    "(APPSYNC_MAX_HEADER_BYTES)",
                )
                return
            piece, data = data[:room], data[room:]
            self._header_bytes += len(piece)
            super().data_received(piece)

    def on_message_begin(self) -> None:
        """A request starts: its headers are awaited (already counted since the first byte)."""
        super().on_message_begin()
        if self not in self.waiting:
            self._await_headers()

    def on_headers_complete(self) -> None:
        """The headers are in: stop the header clock."""
        self._stop_waiting()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        """Idle on keep-alive: the next request's headers are awaited (uvicorn times the idle)."""
        idle = not self.pipeline  # else uvicorn starts the next request, its headers complete
        super().on_response_complete()
        if idle and not self.transport.is_closing() and self not in self.waiting:
            self._await_headers()

    def _await_headers(self) -> None:
        self.waiting.pop(self, None)
        self.waiting[self] = None
        self._header_bytes = 0

    def _stop_waiting(self) -> None:
        self.waiting.pop(self, None)
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(
                self.limits.header_timeout, self._header_timed_out
            )

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self not in self.waiting or self.transport.is_closing():
            return
        if self._header_bytes == 0:
            self.transport.close()  # nothing was asked: nothing to answer
            return
        self._refuse(
            http.HTTPStatus.REQUEST_TIMEOUT,
            f"the request line and headers did not arrive within {self.limits.header_timeout:g} s "
            "(APPSYNC_HEADER_TIMEOUT)",
            log=logging.DEBUG,
        )

    def _make_room(self) -> None:
        oldest = next((c for c in self.waiting if c is not self), None)
        if oldest is None:
            self._refuse(
                http.HTTPStatus.SERVICE_UNAVAILABLE,
                f"over {self.limits.max_connections} connections, all busy "
                "(APPSYNC_MAX_CONNECTIONS)",
            )
            return
        logger.debug("over %d connections: closing one idle or slow", self.limits.max_connections)
        oldest._stop_waiting()  # noqa: SLF001 - same class
        oldest.transport.close()

    def _refuse(self, status: http.HTTPStatus, message: str, log: int = logging.WARNING) -> None:
        self._stop_waiting()
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        logger.log(log, "%s: %d %s", client, status, message)
        body = json.dumps({"error": status.name.lower(), "message": message}).encode()
        head = (
            f"HTTP/1.1 {status.value} {status.phrase}\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        )
        self.transport.write(head.encode("ascii") + body)
        self.transport.close()
