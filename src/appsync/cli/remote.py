"""`appsync sync` and `appsync status`: the service's HTTP API from a terminal.

A sync is POSTed like any client does; `--wait` then reads `GET /api/openapi/sync/{id}` until the
sync ends, with a progress bar on a terminal and one line per change otherwise.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import IO, Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

ENDED = frozenset({"completed", "failed", "cancelled", "skipped", "stalled"})
POLL_INTERVAL = 0.5


class RemoteError(Exception):
    """The service refused or could not be reached; the message says why."""


def _client(url: str, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=30.0, trust_env=False)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.is_error or not isinstance(body, dict):
        detail = body.get("message") if isinstance(body, dict) else response.text[:300]
        raise RemoteError(f"{response.request.url} answered {response.status_code}: {detail}")
    return body


def start_sync(url: str, token: str | None) -> str:
    """POST a sync; the id the service answered with."""
    try:
        with _client(url, token) as http:
            body = _json(http.post("/api/openapi/sync"))
    except httpx.HTTPError as exc:
        raise RemoteError(f"cannot reach the service at {url}: {exc}") from None
    sync_id: str = body["ids"][0]
    return sync_id


def sync_status(url: str, token: str | None, sync_id: str) -> dict[str, Any]:
    """The sync's status document."""
    try:
        with _client(url, token) as http:
            return _json(http.get(f"/api/openapi/sync/{sync_id}"))
    except httpx.HTTPError as exc:
        raise RemoteError(f"cannot reach the service at {url}: {exc}") from None


def _done(status: dict[str, Any]) -> int:
    totals = status.get("totals", {})
    return int(totals.get("synced", 0)) + int(totals.get("failed", 0))


def wait_for(
    read: Callable[[], dict[str, Any]],
    out: IO[str],
    *,
    timeout: float,
    interval: float = POLL_INTERVAL,
) -> dict[str, Any]:
    """Read the status until the sync ends (or `timeout`); show progress on `out`."""
    console = Console(file=out)
    deadline = time.monotonic() + timeout
    status = read()
    if console.is_terminal:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("specs"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as bar:
            task = bar.add_task(status["status"], total=status["totals"].get("specs") or None)
            while status["status"] not in ENDED and time.monotonic() < deadline:
                time.sleep(interval)
                status = read()
                bar.update(task, completed=_done(status), description=status["status"])
    else:
        seen: tuple[str, int] | None = None
        while True:
            now = (status["status"], _done(status))
            if now != seen:
                out.write(f"{now[0]}: {now[1]}/{status['totals'].get('specs', '?')} specs\n")
                out.flush()
                seen = now
            if status["status"] in ENDED or time.monotonic() >= deadline:
                break
            time.sleep(interval)
            status = read()
    return status


def render(status: dict[str, Any]) -> str:
    """The status as indented JSON (what `appsync status` prints)."""
    return json.dumps(status, indent=2, ensure_ascii=False)
