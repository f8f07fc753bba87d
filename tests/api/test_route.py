"""The POST routes when the Inngest server is down, silent, or the app settings are broken."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from appsync.app import create_app
from appsync.cli.dev_server import free_port
from harness.metrics import parse, value
from harness.settings import make_settings, write_spec_urls


@dataclass
class SilentServer:
    """A server that never answers, and the connections it has accepted."""

    url: str
    held: list[socket.socket]


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    """A loopback server that accepts connections and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def hold() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    yield SilentServer(f"http://127.0.0.1:{listener.getsockname()[1]}", held)
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


def client_for(inngest_url: str, env_file: Path, send_timeout: float = 5.0) -> TestClient:
    """A test client of the app pointed at `inngest_url` in dev mode."""
    write_spec_urls(env_file, ["http://127.0.0.1:9/openapi.json"])
    settings = make_settings(
        inngest_dev=inngest_url, env_file_path=env_file, send_timeout=send_timeout
    )
    return TestClient(create_app(settings))


def test_inngest_server_down_answers_502_within_the_bound(tmp_path: Path) -> None:
    """Connection refused: a 502 with a JSON message naming the server, never success."""
    down = f"http://127.0.0.1:{free_port()}"
    with client_for(down, tmp_path / ".env") as client:
        response = client.post("/api/route", json={"data": "data"})

    assert 502 == response.status_code  # refused, not timed out (that would be a 504)
    body = response.json()
    assert "event_not_sent" == body["error"]
    assert down in body["message"]
    assert "success" not in body


def test_inngest_server_silent_answers_504_at_the_bound(
    silent_server: SilentServer, tmp_path: Path
) -> None:
    """No answer: a 504 after APPSYNC_SEND_TIMEOUT, saying so, never success, never a retry."""
    with client_for(silent_server.url, tmp_path / ".env", send_timeout=1.0) as client:
        before = len(silent_server.held)  # the start's clock check connected once already
        started = time.monotonic()
        response = client.post("/api/openapi/sync")
        elapsed = time.monotonic() - started

    assert 504 == response.status_code
    body = response.json()
    assert "APPSYNC_SEND_TIMEOUT" in body["message"]
    assert "success" not in body
    assert elapsed >= 1.0  # it waited the whole timeout for an answer
    assert 1 == len(silent_server.held) - before  # one attempt, cut at the bound: no retry


def test_broken_app_settings_at_post_time_answer_500_naming_the_variable(
    tmp_path: Path,
) -> None:
    """An .env edited into nonsense after the start gives a 500 naming APPSYNC_OPENAPI_URLS."""
    env_file = tmp_path / ".env"
    with client_for(f"http://127.0.0.1:{free_port()}", env_file) as client:
        env_file.write_text("APPSYNC_OPENAPI_URLS=not-json-at-all\n")
        response = client.post("/api/route")

    assert 500 == response.status_code
    assert "invalid_app_settings" == response.json()["error"]
    assert "APPSYNC_OPENAPI_URLS" in response.json()["message"]


def test_both_paths_are_documented_in_the_openapi_schema(tmp_path: Path) -> None:
    """/api/openapi/sync and the original's /api/route are POST operations with a description."""
    with client_for(f"http://127.0.0.1:{free_port()}", tmp_path / ".env") as client:
        schema = client.get("/openapi.json").json()

    for path in ("/api/openapi/sync", "/api/route"):
        operation = schema["paths"][path]["post"]
        assert operation["description"] or operation["summary"]
        assert {"200", "401", "502", "504"} <= set(operation["responses"])


def test_health_answers_ok(tmp_path: Path) -> None:
    """GET /health is what container healthchecks call."""
    with client_for(f"http://127.0.0.1:{free_port()}", tmp_path / ".env") as client:
        assert {"status": "ok"} == client.get("/health").json()


def test_metrics_count_what_the_route_answered(tmp_path: Path) -> None:
    """GET /metrics is Prometheus text; a POST refused by a down server counts as refused."""
    with client_for(f"http://127.0.0.1:{free_port()}", tmp_path / ".env") as client:
        before = parse(client.get("/metrics").text)
        refused = client.post("/api/route", json={"data": "data"})
        response = client.get("/metrics")

    after = parse(response.text)
    assert 502 == refused.status_code
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert 0.0 == value(before, "appsync_sync_requests_total", outcome="refused")
    assert 1.0 == value(after, "appsync_sync_requests_total", outcome="refused")
    assert 0.0 == value(after, "appsync_sync_requests_total", outcome="accepted")
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]
