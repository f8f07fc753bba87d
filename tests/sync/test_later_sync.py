"""`SyncStatusReader.later_sync`: which sync of the user cancelled this one (the event list)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from appsync.sync.status import SyncStatusReader

ARRIVED = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def stored(event_id: str, user: str, offset: float) -> dict[str, Any]:
    """A sync event of `user` that arrived `offset` seconds after ARRIVED."""
    return {
        "internal_id": event_id,
        "name": "openapi/app.sync",
        "received_at": (ARRIVED + timedelta(seconds=offset)).isoformat(),
        "data": {"user": {"id": user}},
    }


def later_sync(events: list[dict[str, Any]]) -> tuple[str | None, list[str]]:
    """What `later_sync` names for the event `01CANCELLED` among `events`; the `received_after`s."""
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        since = datetime.fromisoformat(request.url.params["received_after"])
        asked.append(since.isoformat())
        found = [e for e in events if datetime.fromisoformat(e["received_at"]) > since]
        return httpx.Response(200, json={"data": found})

    reader = SyncStatusReader(
        "http://inngest.test",
        {},
        5.0,
        app_id="appsync",
        function_slug="appsync-sync",
        transport=httpx.MockTransport(answer),
    )

    async def read() -> str | None:
        try:
            return await reader.later_sync(stored("01CANCELLED", "ada", 0), "ada")
        finally:
            await reader.aclose()

    return asyncio.run(read()), asked


def test_the_users_next_sync_after_it_is_named() -> None:
    """Of the user's syncs after it, the first; other users' events never count."""
    events = [
        stored("01THIRD", "ada", 9),
        stored("01OTHERUSER", "bob", 1),
        stored("01NEXT", "ada", 4),
        stored("01CANCELLED", "ada", 0),
    ]

    assert "01NEXT" == later_sync(events)[0]


def test_one_that_arrived_a_moment_before_but_ran_after_it_is_named() -> None:
    """Two POSTs ms apart may be scheduled in the other order: the one just before cancelled it."""
    events = [
        stored("01CANCELLED", "ada", 0),
        stored("01JUSTBEFORE", "ada", -0.002),
        stored("01LONGBEFORE", "ada", -30),
    ]

    found, asked = later_sync(events)

    assert "01JUSTBEFORE" == found
    assert [(ARRIVED - timedelta(seconds=2)).isoformat()] == asked


def test_no_other_sync_of_the_user_names_none() -> None:
    """Cancelled from the UI or the API: no sync of the user to name."""
    events = [stored("01CANCELLED", "ada", 0), stored("01LONGBEFORE", "ada", -30)]

    assert later_sync(events)[0] is None
