"""The redelivery sweep: which stored sync events it sends again, and how (no I/O)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from appsync.events import WireEvent
from appsync.index.base import SyncRun
from appsync.metrics import Metrics
from appsync.sync.redelivery import Redeliverer
from harness.metrics import parse, total

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
LOST = "01JKKKKKKKKKKKKKKKKKKKKKK1"
NEWER = "01JNNNNNNNNNNNNNNNNNNNNNN2"
RUNNING = "01JRRRRRRRRRRRRRRRRRRRRRR3"
SETTINGS = {"openapiUrls": ["http://specs.test/museum.yaml"]}


def stored(event_id: str, user: str, age: float, **data: Any) -> dict[str, Any]:
    """A sync event as the server's event list shows it, received `age` seconds before NOW."""
    return {
        "internal_id": event_id,
        "name": "openapi/app.sync",
        "received_at": (NOW - timedelta(seconds=age)).isoformat(),
        "data": {"appSettings": SETTINGS, "user": {"id": user}, **data},
    }


@dataclass
class Server:
    """The server's events (newest first), their runs (ended, or not yet); what was sent to it."""

    events: list[dict[str, Any]]
    ran: set[str] = field(default_factory=set)
    running: set[str] = field(default_factory=set)
    run_reads: list[str] = field(default_factory=list)
    sent: list[WireEvent] = field(default_factory=list)
    refuse: bool = False

    async def recent_syncs(self, received_after: datetime, max_pages: int) -> list[dict[str, Any]]:
        """The events received after `received_after`."""
        assert max_pages > 0
        return [e for e in self.events if datetime.fromisoformat(e["received_at"]) > received_after]

    async def run_of(self, sync_id: str) -> Mapping[str, Any] | None:
        """An ended run for the events in `ran`, one that has not ended for those in `running`."""
        self.run_reads.append(sync_id)
        if sync_id in self.ran:
            return {"run_id": f"run-{sync_id}", "ended_at": NOW.isoformat()}
        if sync_id in self.running:
            return {"run_id": f"run-{sync_id}", "ended_at": None}
        return None

    async def send(self, event: WireEvent) -> list[str]:
        """Keep `event`, or refuse it."""
        if self.refuse:
            raise RuntimeError("connection refused")
        self.sent.append(event)
        return ["01JSENT"]


@dataclass
class Journal:
    """The sync journal's runs, as the sync function would have recorded them."""

    recorded: list[SyncRun] = field(default_factory=list)

    async def record_run(self, sync_id: str, run_id: str, user_id: str, *, ended: bool) -> None:
        """Record a run starting now (the sweep only reads)."""
        now = NOW.timestamp()
        self.recorded.append(SyncRun(sync_id, run_id, user_id, now, now, ended=ended, specs={}))

    async def record_spec(
        self, sync_id: str, run_id: str, index: int, summary: Mapping[str, Any]
    ) -> None:
        """Record a spec of a run (the sweep only reads)."""
        self.recorded = [
            replace(run, specs={**run.specs, index: summary})
            if (run.sync_id, run.run_id) == (sync_id, run_id)
            else run
            for run in self.recorded
        ]

    async def runs(self, sync_id: str) -> list[SyncRun]:
        """The runs of one sync."""
        return [run for run in self.recorded if run.sync_id == sync_id]

    async def runs_of_user(self, user_id: str, *, since: float) -> list[SyncRun]:
        """The runs of one user since `since`."""
        return [r for r in self.recorded if r.user_id == user_id and r.started_at >= since]


def redeliverer(server: Server, journal: Journal | None = None) -> Redeliverer:
    """A sweep over `server` that sends after 30 s and looks 600 s back."""
    return Redeliverer(
        reader=server,
        journal=journal or Journal(),
        send=server.send,
        after=30,
        window=600,
        metrics=Metrics(),
    )


def sweep(sweeper: Redeliverer) -> list[str]:
    """One sweep at NOW."""
    return asyncio.run(sweeper.sweep(NOW))


def test_a_stored_event_that_never_ran_is_sent_again_once() -> None:
    """No run 60 s after it arrived: sent again with its user and settings, under a fixed id."""
    server = Server([stored(LOST, "ada", age=60)])
    sweeper = redeliverer(server)

    first, second = sweep(sweeper), sweep(sweeper)

    assert ([LOST], []) == (first, second)
    (event,) = server.sent
    assert f"appsync-redelivery-{LOST}" == event.id
    assert "openapi/app.sync" == event.name
    assert {"id": "ada"} == event.user
    assert {"appSettings": SETTINGS, "user": {"id": "ada"}, "redeliveryOf": LOST} == event.data
    assert 1 == total(
        [parse(sweeper.metrics.render().decode())],
        "appsync_syncs_redelivered_total",
        outcome="sent",
    )


def test_a_young_event_or_one_that_ran_is_left_alone() -> None:
    """Younger than the delay: not even checked; with a run: checked once, then never again."""
    server = Server([stored(NEWER, "bob", age=5), stored(RUNNING, "ada", age=60)], ran={RUNNING})
    sweeper = redeliverer(server)

    sweep(sweeper)
    sweep(sweeper)

    assert ([], [RUNNING]) == (server.sent, server.run_reads)


def test_only_the_newest_event_of_a_user_counts() -> None:
    """A lost event overtaken by a newer one of the same user is not sent: the newer one won."""
    server = Server([stored(NEWER, "ada", age=40), stored(LOST, "ada", age=90)], ran={NEWER})

    assert [] == sweep(redeliverer(server))
    assert [] == server.sent


def test_an_event_skipped_while_another_sync_of_its_user_ran_is_not_sent() -> None:
    """The server's one-sync-per-user rule skipped it on purpose: its status says `skipped`."""
    arrived = (NOW - timedelta(seconds=60)).timestamp()
    journal = Journal(
        [SyncRun(RUNNING, "run-1", "ada", arrived - 10, arrived + 20, ended=True, specs={})]
    )
    server = Server([stored(LOST, "ada", age=60)])

    assert [] == sweep(redeliverer(server, journal))


def test_a_lost_redelivery_is_sent_again_naming_the_first_event() -> None:
    """A redelivery that never ran either: sent again, with the same id and original."""
    server = Server([stored(NEWER, "ada", age=45, redeliveryOf=LOST), stored(LOST, "ada", 90)])

    sweep(redeliverer(server))

    (event,) = server.sent
    assert (f"appsync-redelivery-{LOST}", LOST) == (event.id, event.data["redeliveryOf"])


def test_a_failed_send_is_counted_and_tried_again_on_the_next_sweep() -> None:
    """The server refused the copy: `failed` is counted, and the next sweep sends it."""
    server = Server([stored(LOST, "ada", age=60)], refuse=True)
    sweeper = redeliverer(server)

    refused = sweep(sweeper)
    server.refuse = False
    sent = sweep(sweeper)

    samples = [parse(sweeper.metrics.render().decode())]
    assert ([], [LOST]) == (refused, sent)
    assert 1 == total(samples, "appsync_syncs_redelivered_total", outcome="failed")


def test_a_run_that_never_started_is_sent_again_once() -> None:
    """A run the server initialised and lost (not ended, never recorded by the sync function)."""
    server = Server([stored(LOST, "ada", age=60)], running={LOST})
    sweeper = redeliverer(server)

    first, second = sweep(sweeper), sweep(sweeper)

    assert ([LOST], [], [LOST]) == (first, second, server.run_reads)
    (event,) = server.sent
    assert (f"appsync-redelivery-{LOST}", LOST) == (event.id, event.data["redeliveryOf"])


def test_a_run_the_sync_function_recorded_is_left_alone_however_long_it_runs() -> None:
    """Recorded in the journal on its first call: it started, and is only slow."""
    journal = Journal()
    asyncio.run(journal.record_run(RUNNING, f"run-{RUNNING}", "ada", ended=False))
    server = Server([stored(RUNNING, "ada", age=500)], running={RUNNING})
    sweeper = redeliverer(server, journal)

    sweep(sweeper)
    sweep(sweeper)

    assert ([], [RUNNING]) == (server.sent, server.run_reads)


def test_a_copy_whose_run_never_started_is_not_sent_again() -> None:
    """Its id has run once on the server, which would not run it again."""
    server = Server([stored(NEWER, "ada", age=45, redeliveryOf=LOST)], running={NEWER})

    assert [] == sweep(redeliverer(server))
    assert [] == server.sent
