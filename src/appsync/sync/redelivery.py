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

**Batch events** can be lost the same way: seen in a CI run, a batch event the server stored the
moment PostgreSQL went down never got an index run (its runner could not read the functions the
event triggers, and does not try again), while the sync ended `completed` one batch short. So once
that newest sync's run has ended, `after` seconds ago, the sweep compares the operations its specs
made (the run's output, else the journal) with the rows the index holds for it. Short of them, it
asks the server for a run of each of the sync's batch events (their ids are in the spec summaries,
`events`), and sends one with no run at all again, as above (same `data`, so its signature still
holds; `data.redeliveryOf` names it). A batch that failed for good has a run, and its failure
notice tells the status; it is not sent again. A sync is looked at until its index is whole or every
batch had a run, so a quiet deployment costs one index count per user's newest sync.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from appsync.events import WireEvent, redelivered_event
from appsync.index.base import OperationIndex, SyncJournal
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

    async def has_runs(self, event_id: str) -> bool:
        """Whether the server scheduled any run for the event `event_id`."""
        ...

    async def stored_event(self, event_id: str) -> Mapping[str, Any] | None:
        """The event `event_id` as the server stored it, if it has it."""
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
    # The index whose rows tell whether a sync's batches all arrived (None: batches not looked at).
    index: OperationIndex | None = None
    # Events known not to need a redelivery (they ran, were skipped or were redelivered).
    _settled: set[str] = field(default_factory=set)
    # Syncs whose batches need no more looking at, and each sync's batch events known to have run.
    _batches_settled: set[str] = field(default_factory=set)
    _batches_ran: dict[str, set[str]] = field(default_factory=dict)

    async def sweep(self, now: datetime | None = None) -> list[str]:
        """One sweep; the ids of the events sent again."""
        now = now if now is not None else utc_now()
        events = await self.reader.recent_syncs(now - timedelta(seconds=self.window), SWEEP_PAGES)
        newest: dict[str, dict[str, Any]] = {}
        for event in events:  # newest first
            user = owner_of(event)
            if user is not None:
                newest.setdefault(user, event)
        recent = {str(event.get("internal_id")) for event in events}
        self._settled &= recent
        self._batches_settled &= recent
        self._batches_ran = {k: v for k, v in self._batches_ran.items() if k in recent}
        sent: list[str] = []
        for user, event in newest.items():
            why = await self._lost(user, event, now)
            if why is not None:
                original = redelivery_of(event) or str(event["internal_id"])
                if await self._send_again(event, original, why):
                    sent.append(str(event["internal_id"]))
            else:
                sent += await self._lost_batches(user, event, now)
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
        again = "first redelivery" if original == event_id else f"redelivering {original}"
        what = f"the sync event {event_id} but {why}: sent it again ({again})"
        if not await self._send_copy(event, original, what, self.metrics.sync_redelivered):
            return False
        self._settled.add(event_id)
        return True

    async def _send_copy(
        self,
        stored: Mapping[str, Any],
        original: str,
        what: str,
        count: Callable[..., None],
    ) -> bool:
        """Send `stored` again as a copy of `original`; log `what` happened and `count` it."""
        try:
            await self.send(redelivered_event(stored, original))
        except Exception as exc:  # noqa: BLE001 - the next sweep tries again
            logger.warning("could not send the event %s again: %s", original, exc)
            count(sent=False)
            return False
        logger.warning("the Inngest server stored %s", what)
        count(sent=True)
        return True

    async def _lost_batches(self, user: str, event: Mapping[str, Any], now: datetime) -> list[str]:
        """The batch events of the sync `event` that never ran, sent again (module doc)."""
        sync_id = str(event.get("internal_id"))
        if self.index is None or sync_id in self._batches_settled:
            return []
        run = await self.reader.run_of(sync_id)
        ended = parse_time(run.get("ended_at")) if run is not None else None
        if run is None or ended is None or (now - ended).total_seconds() < self.after:
            return []  # not ended yet: its batches may still be on their way
        run_id = str(run.get("run_id"))
        specs = await self._specs(event, run, run_id)
        expected = sum(_synced_operations(spec) for spec in specs)
        if (await self.index.stats(user, sync_id=run_id)).in_sync >= expected:
            self._batches_settled.add(sync_id)
            return []
        ran = self._batches_ran.setdefault(sync_id, set())
        sent: list[str] = []
        for batch_id in _batch_ids(specs):
            if batch_id in ran:
                continue
            try:
                if await self.reader.has_runs(batch_id):
                    ran.add(batch_id)
                    continue
                stored = await self.reader.stored_event(batch_id)
            except InngestUnavailableError as exc:
                logger.info("could not look at the batch event %s: %s", batch_id, exc.message)
                continue
            what = f"the batch event {batch_id} of sync {sync_id} but it never ran: sent it again"
            if stored is not None and await self._send_copy(
                stored, batch_id, what, self.metrics.batch_redelivered
            ):
                ran.add(batch_id)  # its copy runs in its place
                sent.append(batch_id)
        if ran.issuperset(_batch_ids(specs)):
            self._batches_settled.add(sync_id)
        return sent

    async def _specs(
        self, event: Mapping[str, Any], run: Mapping[str, Any], run_id: str
    ) -> list[Mapping[str, Any]]:
        """A run's spec summaries: its output's (every spec), else what the journal recorded."""
        output = run.get("output")
        specs = output.get("specs") if isinstance(output, Mapping) else None
        if isinstance(specs, list):
            return [spec for spec in specs if isinstance(spec, Mapping)]
        for entry in await self.journal.runs(journal_key(event)):
            if entry.run_id == run_id:
                return [entry.specs[index] for index in sorted(entry.specs)]
        return []

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


def journal_key(event: Mapping[str, Any]) -> str:
    """The id the sync function recorded a sync event's runs under: the event's own `id`."""
    given = event.get("id")
    return given if isinstance(given, str) and given else str(event.get("internal_id"))


def _synced_operations(spec: Mapping[str, Any]) -> int:
    operations = spec.get("operations")
    return operations if spec.get("ok") is True and isinstance(operations, int) else 0


def _batch_ids(specs: list[Mapping[str, Any]]) -> list[str]:
    """The ids the server gave the batch events of the synced specs (`events` of a summary)."""
    return [
        batch_id
        for spec in specs
        if spec.get("ok") is True and isinstance(spec.get("events"), list)
        for batch_id in spec["events"]
        if isinstance(batch_id, str) and batch_id
    ]
