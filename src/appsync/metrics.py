"""What an operator watches: the app's Prometheus metrics, served at `GET /metrics`.

One `Metrics` per app, built with its other services in the lifespan, each on a registry of its
own rather than prometheus-client's global one: a process may hold several apps (the tests do),
and each counts only its own work. Every replica is one process (`appsync serve` runs a single
uvicorn worker; it scales by replicas, each scraped on its own port), so the values are that
process's own and prometheus-client's multi-process mode (`PROMETHEUS_MULTIPROC_DIR`) is neither
needed nor used. Counters start at zero for every outcome, so a scrape shows each one.

Instrumentation elsewhere is one call on this object:

- `appsync_sync_requests_total{outcome}`: POSTs of a sync: `accepted` (200), `refused` (502: the
  server refused or was unreachable), `timeout` (504);
- `appsync_syncs_total{outcome}`: sync runs that ended: `completed` (every spec synced), `partial`,
  `failed` (no spec synced), `rejected` (a malformed event, not retried);
- `appsync_spec_fetches_total{outcome}`: each attempt at a spec: `ok`, `retried` (a transient
  failure Inngest retries), `failed` (permanent, or the last attempt), `invalid` (fetched, not a
  spec);
- `appsync_index_batches_total{outcome}`: index runs: `indexed`, `stale` (an older sync's batch,
  ignored), `rejected` (malformed or badly signed, not retried), `error` (retried);
- `appsync_index_documents_total{result}`: the documents of indexed batches as the index function
  counts them: `embedded`, `reused` (a stored vector of the same text, not embedded again),
  `unchanged` (already stored as they are);
- `appsync_syncs_redelivered_total{outcome}`: sync events the Inngest server stored but never
  ran, sent again by the redelivery sweep (`appsync.sync.redelivery`): `sent`, `failed` (tried
  again on the next sweep); `appsync_batches_redelivered_total{outcome}`: the same for batch
  events of a sync that never got an index run;
- `appsync_search_seconds`: search latency (embedding the query and the store's query);
- `appsync_storage_confirm_seconds`: from the Inngest server's acknowledgement of a POST's event to
  the storage poller seeing it stored; `appsync_storage_waiting` and `appsync_storage_lag_seconds`:
  the events waiting for that now, and how long the oldest has waited (the poller's lag).

Under faults Inngest runs a call again (a step whose answer was lost), so a count is of calls that
ended, which may exceed the syncs or batches asked for: docs/production.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Literal

import inngest
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.process_collector import ProcessCollector

CONTENT_TYPE = CONTENT_TYPE_LATEST
SyncRequestOutcome = Literal["accepted", "refused", "timeout"]
FetchOutcome = Literal["ok", "retried", "failed", "invalid"]
DOCUMENT_RESULTS = ("embedded", "reused", "unchanged")
_REQUEST_OUTCOMES = {200: "accepted", 502: "refused", 504: "timeout"}
_SEARCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_CONFIRM_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)


class Metrics:
    """The app's counters, histograms and gauges, on a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # CPU, memory, open files of this process
        self._requests = self._counter(
            "appsync_sync_requests",
            "POSTs of a sync, by what the route answered.",
            "outcome",
            ("accepted", "refused", "timeout"),
        )
        self._syncs = self._counter(
            "appsync_syncs",
            "Sync runs that ended, by outcome.",
            "outcome",
            ("completed", "partial", "failed", "rejected"),
        )
        self._fetches = self._counter(
            "appsync_spec_fetches",
            "Attempts at fetching and parsing a spec, by outcome.",
            "outcome",
            ("ok", "retried", "failed", "invalid"),
        )
        self._batches = self._counter(
            "appsync_index_batches",
            "Index runs of batch events, by outcome.",
            "outcome",
            ("indexed", "stale", "rejected", "error"),
        )
        self._documents = self._counter(
            "appsync_index_documents",
            "Documents of indexed batches, by what became of them.",
            "result",
            DOCUMENT_RESULTS,
        )
        self._redelivered = self._counter(
            "appsync_syncs_redelivered",
            "Sync events stored but never run, sent again, by outcome.",
            "outcome",
            ("sent", "failed"),
        )
        self._batches_redelivered = self._counter(
            "appsync_batches_redelivered",
            "Batch events stored but never run, sent again, by outcome.",
            "outcome",
            ("sent", "failed"),
        )
        self._search = Histogram(
            "appsync_search_seconds",
            "Search latency: the query's embedding and the store's query.",
            buckets=_SEARCH_BUCKETS,
            registry=self.registry,
        )
        self._confirm = Histogram(
            "appsync_storage_confirm_seconds",
            "From the Inngest server's acknowledgement of an event to its listing as stored.",
            buckets=_CONFIRM_BUCKETS,
            registry=self.registry,
        )
        self._waiting = Gauge(
            "appsync_storage_waiting",
            "Events waiting for the storage poller to see them stored.",
            registry=self.registry,
        )
        self._lag = Gauge(
            "appsync_storage_lag_seconds",
            "How long the oldest event waiting for the storage poller has waited (0: none).",
            registry=self.registry,
        )

    def _counter(self, name: str, documentation: str, label: str, values: Sequence[str]) -> Counter:
        counter = Counter(name, documentation, [label], registry=self.registry)
        for value in values:
            counter.labels(value)  # every outcome is exported from the start, at 0
        return counter

    def render(self) -> bytes:
        """Every metric in the Prometheus text format (`CONTENT_TYPE`)."""
        return generate_latest(self.registry)

    def sync_requested(self, status: int) -> None:
        """A POST of a sync was answered with `status` (200, 502 or 504)."""
        self._requests.labels(_REQUEST_OUTCOMES.get(status, "refused")).inc()

    def sync_redelivered(self, *, sent: bool) -> None:
        """The redelivery sweep sent a lost sync event again (`sent`), or failed to."""
        self._redelivered.labels("sent" if sent else "failed").inc()

    def batch_redelivered(self, *, sent: bool) -> None:
        """The redelivery sweep sent a lost batch event again (`sent`), or failed to."""
        self._batches_redelivered.labels("sent" if sent else "failed").inc()

    def sync_rejected(self) -> None:
        """A sync run ended at once: its event is malformed (not retried)."""
        self._syncs.labels("rejected").inc()

    def sync_ended(self, specs: Sequence[Mapping[str, Any]]) -> None:
        """A sync run ended with these spec summaries (`ok` true for a synced spec)."""
        synced = sum(1 for spec in specs if spec.get("ok"))
        outcome = "completed" if synced == len(specs) else "failed" if synced == 0 else "partial"
        self._syncs.labels(outcome).inc()

    def spec_fetched(self, outcome: FetchOutcome) -> None:
        """One attempt at a spec ended with `outcome`."""
        self._fetches.labels(outcome).inc()

    @contextmanager
    def index_run(self) -> Iterator[Callable[[dict[str, Any]], dict[str, Any]]]:
        """Around one index run: counts it rejected or failed, or what the summary given says.

        The block passes the index function's summary (its counts) through what it is given.
        """

        def indexed(summary: dict[str, Any]) -> dict[str, Any]:
            self._batches.labels("stale" if summary.get("stale") else "indexed").inc()
            for result in DOCUMENT_RESULTS:
                count = summary.get(result, 0)
                if isinstance(count, int) and count > 0:
                    self._documents.labels(result).inc(count)
            return summary

        try:
            yield indexed
        except inngest.NonRetriableError:
            self._batches.labels("rejected").inc()
            raise
        except Exception:
            self._batches.labels("error").inc()
            raise

    def searching(self) -> AbstractContextManager[object]:
        """Times the search in the block."""
        return self._search.time()

    def storage_confirmed(self, seconds: float) -> None:
        """The poller saw an acknowledged event stored `seconds` after the acknowledgement."""
        self._confirm.observe(seconds)

    def watch_storage(self, waiting: Callable[[], float], lag: Callable[[], float]) -> None:
        """Read the poller's waiting events and lag at every scrape."""
        self._waiting.set_function(waiting)
        self._lag.set_function(lag)
