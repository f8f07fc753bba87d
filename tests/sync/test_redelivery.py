"""The redelivery sweep: which stored sync and batch events it sends again, and how (no I/O)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from appsync.events import VectorsBatchData, WireEvent, vectors_event
from appsync.index.base import IndexStats, SyncRun
from appsync.metrics import Metrics
from appsync.sync.redelivery import Redeliverer
from appsync.sync.signing import BatchSigner
from appsync.users import User
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
    """The server's events (newest first), their runs (ended, or not yet); what was sent to it.

    An ended run ended 40 s before NOW, with `outputs[event]` as its output's spec summaries;
    `batches` are stored batch events, by id, and `batches_ran` those that got a run.
    """

    events: list[dict[str, Any]]
    ran: set[str] = field(default_factory=set)
    running: set[str] = field(default_factory=set)
    run_reads: list[str] = field(default_factory=list)
    sent: list[WireEvent] = field(default_factory=list)
    refuse: bool = False
    outputs: dict[str, list[dict[str, Any]] | None] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    batches_ran: set[str] = field(default_factory=set)
    batch_reads: list[str] = field(default_factory=list)

    async def recent_syncs(self, received_after: datetime, max_pages: int) -> list[dict[str, Any]]:
        """The events received after `received_after`."""
        assert max_pages > 0
        return [e for e in self.events if datetime.fromisoformat(e["received_at"]) > received_after]

    async def run_of(self, sync_id: str) -> Mapping[str, Any] | None:
        """An ended run for the events in `ran`, one that has not ended for those in `running`."""
        self.run_reads.append(sync_id)
        if sync_id in self.ran:
            ended = (NOW - timedelta(seconds=40)).isoformat()
            specs = self.outputs.get(sync_id)
            output = {"specs": specs} if specs is not None else None
            return {"run_id": f"run-{sync_id}", "ended_at": ended, "output": output}
        if sync_id in self.running:
            return {"run_id": f"run-{sync_id}", "ended_at": None}
        return None

    async def has_runs(self, event_id: str) -> bool:
        """Whether the batch event got a run."""
        self.batch_reads.append(event_id)
        return event_id in self.batches_ran

    async def stored_event(self, event_id: str) -> Mapping[str, Any] | None:
        """A stored batch event."""
        return self.batches.get(event_id)

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


@dataclass
class Index:
    """The rows each (user, sync run) has in the index."""

    rows: dict[tuple[str, str], int] = field(default_factory=dict)
    reads: int = 0

    async def stats(self, user_id: str | None = None, sync_id: str | None = None) -> IndexStats:
        """Only `in_sync` is read by the sweep."""
        self.reads += 1
        in_sync = self.rows.get((str(user_id), str(sync_id)), 0)
        return IndexStats(operations=in_sync, users=1, sources=1, in_sync=in_sync)


def redeliverer(
    server: Server, journal: Journal | None = None, index: Index | None = None
) -> Redeliverer:
    """A sweep over `server` that sends after 30 s and looks 600 s back."""
    return Redeliverer(
        reader=server,
        journal=journal or Journal(),
        send=server.send,
        after=30,
        window=600,
        metrics=Metrics(),
        index=index,  # type: ignore[arg-type]  # only `stats` is used
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


SIGNER = BatchSigner(b"k" * 32)
METADATA = {"service": "Museum", "version": "1", "method": "get", "path": "/tickets"}


def stored_batch(internal_id: str, page: int) -> dict[str, Any]:
    """A signed museum batch event of ada's sync LOST, as the server's REST API shows it."""
    event = SIGNER.signed(
        vectors_event(
            event_id=f"appsync-run-{LOST}-spec0-page{page}",
            user=User(id="ada"),
            page=page,
            total=108,
            batch_size=100,
            vectors=[{"uid": f"op{page}", "text": "GET /tickets", "metadata": METADATA}],
            source={"url": "http://specs.test/museum.yaml", "service": "Museum", "version": "1"},
            sync={"id": f"run-{LOST}", "urls": ["http://specs.test/museum.yaml"]},
        )
    )
    return {"internal_id": internal_id, "received_at": NOW.isoformat(), **event.model_dump()}


def batch_server(**changes: Any) -> tuple[Server, Index]:
    """Ada's sync LOST ended 40 s ago: 108 operations in two batches, B1 indexed (100 rows)."""
    summary = {"url": "http://specs.test/museum.yaml", "ok": True, "operations": 108}
    server = Server(
        [stored(LOST, "ada", age=60)],
        ran={LOST},
        outputs={LOST: [{**summary, "batches": 2, "events": ["B1", "B2"]}]},
        batches={"B1": stored_batch("B1", 1), "B2": stored_batch("B2", 2)},
        batches_ran={"B1"},
    )
    server = replace(server, **changes)
    return server, Index({("ada", f"run-{LOST}"): 100})


def test_a_batch_event_that_never_ran_is_sent_again_once_and_keeps_its_signature() -> None:
    """The index is 8 rows short and B2 has no run: B2 is sent again, once, still signed."""
    server, index = batch_server()
    sweeper = redeliverer(server, index=index)

    first, second = sweep(sweeper), sweep(sweeper)

    assert (["B2"], []) == (first, second)
    (copy,) = server.sent
    assert ("appsync-redelivery-B2", "pinecone/vectors.upserted") == (copy.id, copy.name)
    assert "B2" == copy.data["redeliveryOf"]
    assert {"id": "ada"} == copy.user
    SIGNER.check("ada", VectorsBatchData.model_validate(copy.data))  # the consumer will take it
    assert ["B1", "B2"] == server.batch_reads  # settled after the first sweep
    assert 1 == total(
        [parse(sweeper.metrics.render().decode())],
        "appsync_batches_redelivered_total",
        outcome="sent",
    )


def test_a_whole_index_costs_one_count_and_no_batch_lookups() -> None:
    """Every operation is indexed: no batch is looked up, and the sync is not looked at again."""
    server, index = batch_server()
    index.rows[("ada", f"run-{LOST}")] = 108
    sweeper = redeliverer(server, index=index)

    sweep(sweeper)
    sweep(sweeper)

    assert ([], [], 1) == (server.sent, server.batch_reads, index.reads)


def test_batches_of_a_run_that_ended_moments_ago_are_not_looked_at() -> None:
    """Its last batches may still be on their way to their runs."""
    server, index = batch_server()
    sweeper = redeliverer(server, index=index)

    early = asyncio.run(sweeper.sweep(NOW - timedelta(seconds=20)))  # 20 s after the run ended
    looked_up = list(server.batch_reads)

    assert ([], [], ["B2"]) == (early, looked_up, sweep(sweeper))


def test_a_batch_that_ran_and_failed_is_not_sent_again() -> None:
    """It has a run: its failure notice tells the status; the sweep leaves it."""
    server, index = batch_server(batches_ran={"B1", "B2"})
    sweeper = redeliverer(server, index=index)

    sweep(sweeper)
    sweep(sweeper)

    assert ([], ["B1", "B2"]) == (server.sent, server.batch_reads)


def test_without_the_run_output_the_journal_names_the_batches() -> None:
    """The server lost the run's output: the spec summaries the sync function recorded count."""
    server, index = batch_server()
    summary = server.outputs.pop(LOST)
    journal = Journal()
    asyncio.run(journal.record_run(LOST, f"run-{LOST}", "ada", ended=True))
    asyncio.run(journal.record_spec(LOST, f"run-{LOST}", 0, (summary or [{}])[0]))

    assert ["B2"] == sweep(redeliverer(server, journal, index))


def test_a_refused_batch_copy_is_sent_on_the_next_sweep() -> None:
    """The server refused it: counted as `failed`, sent by the next sweep."""
    server, index = batch_server(refuse=True)
    sweeper = redeliverer(server, index=index)

    refused = sweep(sweeper)
    server.refuse = False

    assert ([], ["B2"]) == (refused, sweep(sweeper))
