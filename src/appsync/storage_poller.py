"""Confirming that the Inngest server stored an event before the route reports success.

The event API answers 200 once it has queued an event, not once it has stored it: a self-hosted
server (`inngest dev --persist`, `inngest start` with its in-memory queue) loses what it had
queued but not written when it stops. So the route waits until the event is in the server's
event list. One poller per process reads the list for every waiting request at once, so the cost
is one small GET per interval, not one per event.

Cadence: the server makes queued events visible about every 250 ms when it is idle, at once under
load. The poller reads every 25 ms while the oldest waiter is younger than a second (when events
normally appear), then every 250 ms (a slow or restarting server is not hammered); it stops when
nobody waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib

import httpx

from appsync.config import signing_key_bytes
from appsync.event_list import PAGE, event_pages

MAX_PAGES = 20  # a backlog deeper than 1,000 events is waited out, not read through
FAST_INTERVAL = 0.025
SLOW_INTERVAL = 0.25
SETTLE = 1.0


def hashed_signing_key(signing_key: str) -> str:
    """The signing key in the hashed form Inngest's API accepts as a bearer token."""
    return hashlib.sha256(signing_key_bytes(signing_key)).hexdigest()


def api_headers(signing_key: str | None) -> dict[str, str]:
    """Headers for the server's REST API: the hashed signing key, when there is one."""
    return {"Authorization": f"Bearer {hashed_signing_key(signing_key)}"} if signing_key else {}


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
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending[event_id] = (loop.time(), future)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll())
        try:
            await future
        finally:
            self._pending.pop(event_id, None)

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
        loop = asyncio.get_running_loop()
        while self._pending:
            try:
                stored = await self._stored_since(min(self._pending), len(self._pending))
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                self.last_error = _describe(exc)
                stored = set()
                interval = SLOW_INTERVAL
            else:
                self.last_error = None
                oldest = min((started for started, _ in self._pending.values()), default=0.0)
                interval = FAST_INTERVAL if loop.time() - oldest < SETTLE else SLOW_INTERVAL
            for event_id in stored.intersection(self._pending):
                future = self._pending[event_id][1]
                if not future.done():
                    future.set_result(None)
            await asyncio.sleep(interval)

    async def _stored_since(self, oldest: str, waiting: int) -> set[str]:
        """Ids of stored events, newest first, back to (at least) `oldest` (ULIDs sort by time).

        Pages hold a few more events than are waited for: the server serialises every event of a
        page, and the waited-for events are usually the newest.
        """
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self._origin, timeout=2.0, trust_env=False, headers=self._headers
            )
        found: set[str] = set()
        pages = event_pages(
            self._http, self._name, limit=min(PAGE, waiting + 8), max_pages=MAX_PAGES
        )
        async for page in pages:
            found.update(event["internal_id"] for event in page)
            if page and page[-1]["internal_id"] <= oldest:
                break
        return found
