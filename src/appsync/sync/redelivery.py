"""Sync events the Inngest server stored but never ran, sent again.

The self-hosted server stores an event (its event list shows it, and the route answers success
once it does) a moment before it schedules the runs the event triggers. A server that stops in
between keeps the event and never runs it: Redis killed mid-sync (the server cannot schedule
without it, and its supervisor stops it), or a SIGKILL. The route's answer was true, the sync
would be lost: the sweep here sends it again.

Every `interval` seconds each replica reads the `openapi/app.sync` events of the last `window`
seconds (a few pages, newest first) and takes, for each user, the newest one: an older one was
overtaken by it (a newer sync of a user cancels the older: the index converges to the newest
settings). That event is sent again when

- it arrived more than `after` seconds ago (the server schedules within milliseconds of storing);
- it has no run of our sync function (`GET /v1/events/<id>/runs`), and no other sync of that
  user was running when it arrived (the sync journal): else the server skipped it on purpose, by
  the one-sync-per-user rule, and its status says `skipped`;
- or it has a run that has not ended and never reached the app: the sync function records every
  run in the journal on its first call, within milliseconds when the server is well. A server
  killed (or left by Redis) just after it initialised a run can come back with the run's queue item
  and without its state: it fails that item for good ("run not found in state store") and the run
  never starts. Only an original is sent again this way: a copy of it is an event id the server has
  already run once, and would not run again.

The copy has the same user and settings, `data.redeliveryOf` naming the original (a redelivery
of a redelivery names the first), and the event id `appsync-redelivery-<original>`: the server
runs an event id once per function, so replicas sweeping at once make one run. The original's
status follows its redelivery (`appsync.sync.status`). A sweep that cannot reach the server
logs it and tries again on the next one; the window bounds how long a lost sync is looked for
(`APPSYNC_STALL_AFTER`: after that its status says `stalled` and asks for a new POST).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from appsync.events import WireEvent, redelivered_event
from appsync.index.base import SyncJournal
from appsync.metrics import Metrics
from appsync.sync.status import (
    InngestUnavailableError,
    owner_of,
    parse_time,
    redelivery_of,
    running_sync,
    utc_now,
)

logger = logging.getLogger(__name__)

# Pages of sync events (50 each) read per sweep: a busier window is read up to its newest 500.
SWEEP_PAGES = 10

Send = Callable[[WireEvent], Awaitable[object]]


class SyncEvents(Protocol):
    """The server's sync events and runs (`appsync.sync.status.SyncStatusReader`)."""

    async def recent_syncs(self, received_after: datetime, max_pages: int) -> list[dict[str, Any]]:
        """The sync events received after `received_after`, newest first."""
        ...

    async def run_of(self, sync_id: str) -> Mapping[str, Any] | None:
        """The newest run of our sync function for the event `sync_id`, if any."""
        ...


@dataclass
class Redeliverer:
    """Finds the sync events that never ran or never started and sends them again (module doc)."""

    reader: SyncEvents
    journal: SyncJournal
    send: Send
    after: float
    window: float
    metrics: Metrics = field(default_factory=Metrics)
    # Events known not to need a redelivery (they ran, were skipped or were redelivered).
    _settled: set[str] = field(default_factory=set)

    async def sweep(self, now: datetime | None = None) -> list[str]:
        """One sweep; the ids of the events sent again."""
        now = now if now is not None else utc_now()
        events = await self.reader.recent_syncs(now - timedelta(seconds=self.window), SWEEP_PAGES)
        newest: dict[str, dict[str, Any]] = {}
        for event in events:  # newest first
            user = owner_of(event)
            if user is not None:
                newest.setdefault(user, event)
        self._settled &= {str(event.get("internal_id")) for event in events}
        sent: list[str] = []
        for user, event in newest.items():
            why = await self._lost(user, event, now)
            if why is not None:
                original = redelivery_of(event) or str(event["internal_id"])
                if await self._send_again(event, original, why):
                    sent.append(str(event["internal_id"]))
        return sent

    async def _lost(self, user: str, event: Mapping[str, Any], now: datetime) -> str | None:
        """Why the server will never run this event (then it is sent again), or None."""
        event_id = event.get("internal_id")
        received = parse_time(event.get("received_at"))
        if not isinstance(event_id, str) or received is None or event_id in self._settled:
            return None
        if (now - received).total_seconds() < self.after:
            return None
        run = await self.reader.run_of(event_id)
        if run is not None:
            ended_or_copy = run.get("ended_at") or redelivery_of(event) is not None
            if ended_or_copy or await self._reached(event_id, run):
                self._settled.add(event_id)
                return None
            return f"its run {run.get('run_id')} never started"
        since = received.timestamp()
        others = await self.journal.runs_of_user(user, since=since - self.window)
        if running_sync(event_id, since, others) is not None:
            self._settled.add(event_id)  # skipped by the server's one-sync-per-user rule
            return None
        return "it never ran"

    async def _reached(self, event_id: str, run: Mapping[str, Any]) -> bool:
        """Whether the sync function was ever called for `run` (it records that first)."""
        return any(entry.run_id == run.get("run_id") for entry in await self.journal.runs(event_id))

    async def _send_again(self, event: Mapping[str, Any], original: str, why: str) -> bool:
        event_id = str(event["internal_id"])
        try:
            await self.send(redelivered_event(event, original))
        except Exception as exc:  # noqa: BLE001 - the next sweep tries again
            logger.warning("could not send the sync %s again: %s", original, exc)
            self.metrics.sync_redelivered(sent=False)
            return False
        logger.warning(
            "the Inngest server stored the sync event %s but %s: sent it again (%s)",
            event_id,
            why,
            f"redelivering {original}" if original != event_id else "first redelivery",
        )
        self._settled.add(event_id)
        self.metrics.sync_redelivered(sent=True)
        return True

    async def run(self, interval: float) -> None:
        """Sweep every `interval` seconds until cancelled; a failed sweep is logged, not fatal."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
            except InngestUnavailableError as exc:
                logger.info("redelivery sweep skipped: %s", exc.message)
            except Exception:
                logger.exception("redelivery sweep failed")
