"""The Inngest server's list of stored events (`GET /v1/events`), read page by page.

Newest first, at most 50 a page, by default only the last hour's (`received_after` widens it).
One reader for the storage poller and the test harness.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx

PAGE = 50  # the largest page the server returns
EPOCH = "2000-01-01T00:00:00Z"
_bust = itertools.count()


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
        params: dict[str, str | int] = {"name": name, "limit": limit, "_": next(_bust)}
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
