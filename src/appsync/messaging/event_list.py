"""The Inngest server's list of stored events (`GET /v1/events`), read page by page.

Newest first, at most 50 a page, by default only the last hour's (`received_after` widens it).
One reader for the storage poller and the test harness. Every GET of the server's REST API carries
`cache_buster()`, which keeps the server's response cache out of the way.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx

PAGE = 50  # the largest page the server returns
EPOCH = "2000-01-01T00:00:00Z"
# Random per process: a bare counter repeats in every process (each replica, the test harness)
# and would hit the answer another process's same-numbered GET left in the server's cache.
_PROCESS = secrets.token_hex(6)
_count = itertools.count()


def cache_buster() -> str:
    """A query value no GET of this or any other process used before.

    The server caches some GETs by URL (an event 5 s, its runs 15 s, a run 3 s), the freshly
    stored "no run yet" among them.
    """
    return f"{_PROCESS}-{next(_count)}"


async def event_pages(
    http: httpx.AsyncClient,
    name: str,
    *,
    limit: int = PAGE,
    received_after: str | None = None,
    max_pages: int,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Pages of stored events named `name`, newest first, until a short page or `max_pages`.

    `http` has the server's base URL (and its auth header for `inngest start`).
    """
    cursor: str | None = None
    for _ in range(max_pages):
        # A changing parameter keeps the server's response cache (and any proxy's) out of the way.
        params: dict[str, str | int] = {"name": name, "limit": limit, "_": cache_buster()}
        if received_after is not None:
            params["received_after"] = received_after
        if cursor is not None:
            params["cursor"] = cursor
        response = await http.get("/v1/events", params=params)
        response.raise_for_status()
        page: list[dict[str, Any]] = response.json()["data"] or []
        yield page
        if len(page) < limit:
            return
        cursor = page[-1]["internal_id"]
