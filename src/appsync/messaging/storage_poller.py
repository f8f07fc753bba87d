"""Confirming that the Inngest server stored an event before the route reports success.

The event API answers 200 once it has queued an event, not once it has stored it: a self-hosted
server (`inngest dev --persist`, `inngest start` with its in-memory queue) loses what it had
queued but not written when it stops. So the route waits until the event is in the server's
event list. One poller per process reads the list for every waiting request at once, so the cost
is one small GET per interval, not one per event.

Cadence: the server makes queued events visible about every 250 ms when it is idle, at once under
load. The poller reads every 25 ms while the oldest waiter is younger than a second (when events
normally appear), then every 250 ms (a slow or restarting server is not hammered); it stops when
nobody waits. Between 25 and 250 ms it waits at least twice as long as its last read took: a
server slow to answer (a long event table, a busy machine) is asked less often.

Cost: the dev server and `inngest start` on SQLite keep events in a table without an index, so
every read scans it and sorts what its filter lets through. Without `received_after` that is every
event of the last hour (measured: a page of 50 costs the server 15 ms of CPU with 3,000 stored
events, 44 ms with 10,000); with it, only the last seconds' events are sorted (8 ms with 10,000).
So while the oldest waiter is young the poller asks only for events received since its event was
sent, less CLOCK_MARGIN. The sent time is the event id's: the SDK seeds the server's ULID with the
sender's clock. Should that clock run ahead of the server's by more than the margin, the filtered
reads miss the event, and the unfiltered reads after SETTLE find it: a second late, never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime

import httpx

from appsync.messaging.credentials import api_headers
from appsync.messaging.event_list import PAGE, event_pages

MAX_PAGES = 20  # a backlog deeper than 1,000 events is waited out, not read through
FAST_INTERVAL = 0.025
SLOW_INTERVAL = 0.25
SETTLE = 1.0
READ_SHARE = 2.0  # the wait after a read, in multiples of the time the read took (at least)
CLOCK_MARGIN = 2.0  # seconds the sender's clock (in the event id) may run ahead of the server's
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ULID_TIME_CHARS = 10


def ulid_time(ulid: str) -> float:
    """The Unix time (s) in a ULID's first 10 characters; `ValueError` if it is not a ULID's."""
    if len(ulid) < _ULID_TIME_CHARS:
        raise ValueError(f"{ulid!r} is not a ULID")
    millis = 0
    for char in ulid[:_ULID_TIME_CHARS].upper():
        digit = _CROCKFORD.find(char)
        if digit < 0:
            raise ValueError(f"{ulid!r} is not a ULID")
        millis = millis * 32 + digit
    return millis / 1000


def _describe(exc: Exception) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        hint = " (check INNGEST_SIGNING_KEY)" if status in {401, 403} else ""
        return f"GET /v1/events answered {status} {exc.response.reason_phrase}{hint}"
    if isinstance(exc, httpx.HTTPError):
        return f"GET /v1/events failed: {type(exc).__name__}: {exc}"
    return f"GET /v1/events gave an unreadable answer ({type(exc).__name__}: {exc})"


class StoragePoller:
    """Waits, for many requests at once, until the server lists their events as stored."""

    def __init__(self, api_origin: str, event_name: str, signing_key: str | None = None) -> None:
        self._origin = api_origin.rstrip("/")
        self._name = event_name
        self._headers = api_headers(signing_key)
        self._pending: dict[str, tuple[float, asyncio.Future[None]]] = {}
        self._poller: asyncio.Task[None] | None = None
        self._http: httpx.AsyncClient | None = None
        self.last_error: str | None = None

    async def wait(self, event_id: str) -> None:
        """Return once the event is stored; the caller bounds the wait (it may never be)."""
        future = asyncio.get_running_loop().create_future()
        self._pending[event_id] = (time.monotonic(), future)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll())
        try:
            await future
        finally:
            self._pending.pop(event_id, None)

    def waiting(self) -> int:
        """How many events are waited for now."""
        return len(self._pending)

    def lag(self) -> float:
        """Seconds the oldest waited-for event has waited (0 when none): the poller's lag."""
        started = [since for since, _ in list(self._pending.values())]
        return time.monotonic() - min(started) if started else 0.0

    async def aclose(self) -> None:
        """Stop polling and close the HTTP client."""
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _poll(self) -> None:
        while self._pending:
            settling = self.lag() < SETTLE
            started = time.monotonic()
            try:
                stored = await self.stored_since(
                    min(self._pending), len(self._pending), recent_only=settling
                )
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                self.last_error = _describe(exc)
                stored = set()
                interval = SLOW_INTERVAL
            else:
                self.last_error = None
                interval = FAST_INTERVAL if settling else SLOW_INTERVAL
            interval = min(SLOW_INTERVAL, max(interval, READ_SHARE * (time.monotonic() - started)))
            for event_id in stored.intersection(self._pending):
                future = self._pending[event_id][1]
                if not future.done():
                    future.set_result(None)
            await asyncio.sleep(interval)

    async def stored_since(self, oldest: str, waiting: int, *, recent_only: bool) -> set[str]:
        """Ids of stored events, newest first, back to (at least) `oldest` (ULIDs sort by time).

        Pages hold a few more events than are waited for: the server serialises every event of a
        page, and the waited-for events are usually the newest. `recent_only`: only events the
        server received since `oldest` was sent, less CLOCK_MARGIN.
        """
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self._origin, timeout=2.0, trust_env=False, headers=self._headers
            )
        found: set[str] = set()
        received_after = None
        if recent_only:
            with contextlib.suppress(ValueError):  # an id that is no ULID: read unfiltered
                since = ulid_time(oldest) - CLOCK_MARGIN
                received_after = datetime.fromtimestamp(since, UTC).isoformat()
        pages = event_pages(
            self._http,
            self._name,
            limit=min(PAGE, waiting + 8),
            received_after=received_after,
            max_pages=MAX_PAGES,
        )
        async for page in pages:
            found.update(event["internal_id"] for event in page)
            if page and page[-1]["internal_id"] <= oldest:
                break
        return found
