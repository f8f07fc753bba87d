"""The start's clock check against the Inngest server's `Date` header."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from appsync.cli.dev_server import free_port
from appsync.messaging.clock import clock_offset, warn_if_skewed


def server_with_clock(offset_s: float) -> tuple[ThreadingHTTPServer, str]:
    """A loopback server whose `Date` header runs `offset_s` seconds off this host's clock."""

    class Handler(BaseHTTPRequestHandler):
        def date_time_string(self, timestamp: float | None = None) -> str:  # noqa: ARG002
            return formatdate(time.time() + offset_s, usegmt=True)

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def behind() -> Iterator[str]:
    """A server whose clock is a minute behind this host's."""
    server, url = server_with_clock(-60)
    yield url
    server.shutdown()


@pytest.fixture
def in_step() -> Iterator[str]:
    """A server on this host's clock."""
    server, url = server_with_clock(0)
    yield url
    server.shutdown()


def test_a_server_a_minute_behind_is_named_in_a_warning(
    behind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """This host 60 s ahead: the offset says so, and the start warns what it costs."""
    with caplog.at_level(logging.WARNING, logger="appsync.messaging.clock"):
        offset = asyncio.run(warn_if_skewed(behind))

    assert offset is not None
    assert 58 <= offset <= 62
    (record,) = caplog.records
    # The Date header has whole seconds: the offset is 60.x s, said as 60 or 61.
    assert f"{offset:.0f} s ahead of the Inngest server's" in record.getMessage()
    assert f"every sync starts about {offset:.0f} s late" in record.getMessage()


def test_clocks_in_step_warn_nothing(in_step: str, caplog: pytest.LogCaptureFixture) -> None:
    """Within the bound (whole seconds in the header): no warning."""
    with caplog.at_level(logging.WARNING, logger="appsync.messaging.clock"):
        offset = asyncio.run(warn_if_skewed(in_step))

    assert offset is not None
    assert abs(offset) < 2
    assert [] == caplog.records


def test_an_unreachable_server_is_no_answer() -> None:
    """No server: the offset is unknown, and the start goes on."""
    assert asyncio.run(clock_offset(f"http://127.0.0.1:{free_port()}")) is None
