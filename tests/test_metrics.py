"""The app's Prometheus metrics: what each call counts, and one registry per app."""

from __future__ import annotations

import inngest
import pytest

from appsync.metrics import Metrics
from harness.metrics import parse, value


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The metrics as a scrape would read them."""
    return parse(metrics.render().decode())


def test_every_outcome_is_exported_at_zero_before_anything_happened() -> None:
    """A fresh app exports each counter's outcomes at 0, so a dashboard sees them from the start."""
    exported = samples(Metrics())

    for name, label, outcomes in [
        ("appsync_sync_requests_total", "outcome", ["accepted", "refused", "timeout"]),
        ("appsync_syncs_total", "outcome", ["completed", "partial", "failed", "rejected"]),
        ("appsync_spec_fetches_total", "outcome", ["ok", "retried", "failed", "invalid"]),
        ("appsync_index_batches_total", "outcome", ["indexed", "stale", "rejected", "error"]),
        ("appsync_index_documents_total", "result", ["embedded", "reused", "unchanged"]),
    ]:
        for outcome in outcomes:
            assert (name, frozenset({(label, outcome)})) in exported, (name, outcome)
    assert 0.0 == value(exported, "appsync_search_seconds_count")
    assert 0.0 == value(exported, "appsync_storage_lag_seconds")


def test_two_apps_count_apart() -> None:
    """Each app has a registry of its own: one app's syncs are not another's."""
    first, second = Metrics(), Metrics()

    first.sync_ended([{"ok": True}, {"ok": True}])

    assert 1.0 == value(samples(first), "appsync_syncs_total", outcome="completed")
    assert 0.0 == value(samples(second), "appsync_syncs_total", outcome="completed")


def test_a_sync_counts_by_how_many_of_its_specs_synced() -> None:
    """All specs synced: completed; some: partial; none: failed; a malformed event: rejected."""
    metrics = Metrics()

    metrics.sync_ended([{"ok": True}])
    metrics.sync_ended([{"ok": True}, {"ok": False}])
    metrics.sync_ended([{"ok": False}])
    metrics.sync_rejected()

    exported = samples(metrics)
    counts = [
        value(exported, "appsync_syncs_total", outcome=outcome)
        for outcome in ("completed", "partial", "failed", "rejected")
    ]
    assert [1.0, 1.0, 1.0, 1.0] == counts


def test_an_index_run_counts_its_batch_and_the_documents_its_summary_counts() -> None:
    """The function's summary is passed through; its embedded, reused and unchanged are added."""
    metrics = Metrics()
    summary = {"stale": False, "embedded": 3, "reused": 2, "unchanged": 95, "written": 5}

    with metrics.index_run() as indexed:
        passed = indexed(summary)
    with metrics.index_run() as indexed:
        indexed({"stale": True, "embedded": 0, "unchanged": 0})

    exported = samples(metrics)
    assert summary is passed
    assert 1.0 == value(exported, "appsync_index_batches_total", outcome="indexed")
    assert 1.0 == value(exported, "appsync_index_batches_total", outcome="stale")
    documents = [
        value(exported, "appsync_index_documents_total", result=result)
        for result in ("embedded", "reused", "unchanged")
    ]
    assert [3.0, 2.0, 95.0] == documents


def test_an_index_run_that_raises_is_rejected_or_an_error() -> None:
    """A NonRetriableError counts as rejected, any other exception as an error; both go on."""
    metrics = Metrics()

    with pytest.raises(inngest.NonRetriableError), metrics.index_run():
        raise inngest.NonRetriableError("malformed")
    with pytest.raises(RuntimeError), metrics.index_run():
        raise RuntimeError("the database is gone")

    exported = samples(metrics)
    assert 1.0 == value(exported, "appsync_index_batches_total", outcome="rejected")
    assert 1.0 == value(exported, "appsync_index_batches_total", outcome="error")


def test_the_storage_gauges_read_the_poller_at_each_scrape() -> None:
    """Waiting events and the oldest one's wait are read when scraped, not when set."""
    metrics = Metrics()
    waiting = [0]
    metrics.watch_storage(lambda: waiting[0], lambda: 1.5 * waiting[0])

    before = samples(metrics)
    waiting[0] = 2
    after = samples(metrics)

    assert (0.0, 0.0) == (
        value(before, "appsync_storage_waiting"),
        value(before, "appsync_storage_lag_seconds"),
    )
    assert (2.0, 3.0) == (
        value(after, "appsync_storage_waiting"),
        value(after, "appsync_storage_lag_seconds"),
    )
