"""HTTP server limits (issue 13, item 5), tested on `appsync serve` as deployed, on loopback.

Each test starts its own `appsync serve` process (dev mode, pointed at a closed port: nothing here
talks to Inngest) and attacks it with raw sockets.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from appsync.cli.dev_server import free_port
from harness.waiting import wait_until

pytestmark = pytest.mark.slow  # starts `appsync serve` processes

APPSYNC = str(Path(sys.executable).parent / "appsync")
# Runs `appsync serve` with a lowered descriptor limit, as a small-scale model of a host whose
# descriptors an attacker can exhaust.
WITH_NOFILE = (
    "import os, resource, sys; n = int(sys.argv[1]); "
    "resource.setrlimit(resource.RLIMIT_NOFILE, (n, n)); os.execv(sys.argv[2], sys.argv[2:])"
)
HALF_REQUEST = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


@contextlib.contextmanager
def serve(tmp_path: Path, nofile: int | None = None, **env: str) -> Iterator[str]:
    """`appsync serve` on a free port with `env`; yields its URL once `/health` answers."""
    port = free_port()
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("INNGEST_", "APPSYNC_"))
    }
    environment |= {
        "INNGEST_DEV": "http://127.0.0.1:9",
        "APPSYNC_PORT": str(port),
        "APPSYNC_ENV_FILE": str(tmp_path / "absent.env"),
        **env,
    }
    command = [APPSYNC, "serve"]
    if nofile is not None:
        command = [sys.executable, "-c", WITH_NOFILE, str(nofile), *command]
    url = f"http://127.0.0.1:{port}"
    with (tmp_path / "app.log").open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own console script
            command, env=environment, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_until(
                lambda: healthy(url) or process.poll() is not None,
                timeout=30,
                what="appsync serve answered /health",
            )
            if process.poll() is not None:
                output = (tmp_path / "app.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"appsync serve did not start:\n{output}")
            yield url
        finally:
            process.terminate()
            process.wait(30)


def healthy(url: str, timeout: float = 2.0) -> bool:
    """Whether `GET /health` answers 200 within `timeout` seconds."""
    try:
        return 200 == httpx.get(f"{url}/health", timeout=timeout, trust_env=False).status_code
    except httpx.HTTPError:
        return False


def connect(url: str, timeout: float = 10.0) -> socket.socket:
    """A raw TCP connection to the server of `url`."""
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=timeout)


def read_status(sock: socket.socket) -> tuple[int, dict[str, str]]:
    """The status code and JSON body of the answer on `sock` (read until the server closes)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    parsed: dict[str, str] = json.loads(body)
    return status, parsed


def test_an_oversized_header_gets_431_before_the_headers_end(tmp_path: Path) -> None:
    """Headers past APPSYNC_MAX_HEADER_BYTES get 431 at once, without waiting for their end."""
    with serve(tmp_path) as url, connect(url) as sock:
        sock.sendall(HALF_REQUEST + b"a" * (40 * 1024))  # 40 KiB, never finished

        status, body = read_status(sock)

    assert 431 == status
    assert "request_header_fields_too_large" == body["error"]
    assert "exceed 32768 bytes (APPSYNC_MAX_HEADER_BYTES)" in body["message"]


def test_headers_within_the_limit_are_served(tmp_path: Path) -> None:
    """A request with 30 KiB of headers (a large cookie) is answered normally."""
    with serve(tmp_path) as url:
        response = httpx.get(
            f"{url}/health", headers={"Cookie": "c=" + "x" * (30 * 1024)}, trust_env=False
        )

    assert 200 == response.status_code


def test_headers_that_do_not_arrive_in_time_get_408(tmp_path: Path) -> None:
    """Half a request held past APPSYNC_HEADER_TIMEOUT gets 408 and the connection is closed."""
    with serve(tmp_path, APPSYNC_HEADER_TIMEOUT="1") as url, connect(url) as sock:
        sock.sendall(HALF_REQUEST)

        status, body = read_status(sock)

    assert 408 == status
    assert "did not arrive within 1 s (APPSYNC_HEADER_TIMEOUT)" in body["message"]


def test_a_slow_request_flood_leaves_health_answering(tmp_path: Path) -> None:
    """300 sockets holding half a request, against 256 descriptors: /health answers in 2 s."""
    flood: list[socket.socket] = []
    with serve(tmp_path, nofile=256) as url:
        try:
            for _ in range(300):
                sock = connect(url)
                sock.sendall(HALF_REQUEST)
                flood.append(sock)

            answers = [healthy(url, timeout=2.0) for _ in range(3)]
            closed = closed_by_server(flood, enough=300 - 128)
        finally:
            for sock in flood:
                sock.close()

    assert [True, True, True] == answers
    assert closed >= 300 - 128, "the server should have closed the oldest half-sent requests"


def closed_by_server(flood: list[socket.socket], enough: int, timeout: float = 5.0) -> int:
    """How many sockets of `flood` the server closed, waiting until `enough` or `timeout` s."""
    deadline = time.monotonic() + timeout
    pending = set(flood)
    closed = 0
    while pending and closed < enough and (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select(list(pending), [], [], left)
        if not readable:
            break
        for sock in readable:
            pending.discard(sock)
            try:
                closed += b"" == sock.recv(1)
            except ConnectionResetError:
                closed += 1
    return closed


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("APPSYNC_MAX_HEADER_BYTES", "10", "greater than or equal to 1024"),
        ("APPSYNC_HEADER_TIMEOUT", "0", "greater than 0"),
        ("APPSYNC_MAX_CONNECTIONS", "none", "valid integer"),
    ],
)
def test_invalid_server_limits_stop_the_start_naming_them(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    """A bad limit is a settings error naming the variable (exit code 2)."""
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("INNGEST_", "APPSYNC_"))
    }
    environment |= {"INNGEST_DEV": "1", variable: value}

    completed = subprocess.run(  # noqa: S603 - our own console script
        [APPSYNC, "serve"],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert 2 == completed.returncode
    assert variable in completed.stderr
    assert message in completed.stderr
