"""The sync function's logic, run by the SDK's mocked executor against real specs on loopback.

These never replace the end-to-end tests (tests/test_e2e_*.py); they cover the branches that are
slow or awkward to reach through a real server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import inngest
import pytest
from inngest.experimental import mocked

from appsync.events import EVENT_VERSION, VectorsBatchData, WireEvent
from appsync.index.base import SyncJournal
from appsync.index.sqlite import SqliteIndex
from appsync.metrics import Metrics
from appsync.settings.app_settings import AppSettingsSource
from appsync.sync.fetching import HostPolicy, SpecFetcher
from appsync.sync.signing import BatchSigner
from functions import sync_openapi
from functions.sync_openapi import SyncOptions
from harness.mocked import RecordingClient
from harness.spec_server import SpecServer

USER = {"id": "user-1", "email": "ada@example.com", "name": "Ada"}


SIGNER = BatchSigner(b"k" * 32)


@dataclass(frozen=True)
class FunctionServices:
    """The services the sync function uses, without the rest of the app."""

    fetcher: SpecFetcher
    app_settings: AppSettingsSource
    journal: SyncJournal
    batch_signer: BatchSigner = SIGNER
    metrics: Metrics = field(default_factory=Metrics)
    batch_storage: None = None  # the mocked executor keeps what it is sent


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[SqliteIndex]:
    """A real store (its sync journal) in a file of the test's own."""
    store = asyncio.run(SqliteIndex.open(tmp_path / "index.sqlite3", dimensions=4))
    yield store
    asyncio.run(store.close())


def run(
    spec_server: SpecServer,
    journal: SyncJournal,
    tmp_path: Path,
    data: dict[str, Any],
    *,
    user: dict[str, Any] | None = None,
    version: str = EVENT_VERSION,
    retries: int = 2,
) -> tuple[Any, RecordingClient]:
    """Trigger the function once through the mocked executor; returns the result and client."""
    client = RecordingClient()
    services = FunctionServices(
        fetcher=SpecFetcher(max_bytes=32 * 1024 * 1024, timeout=5.0, max_redirects=3),
        app_settings=AppSettingsSource(tmp_path / ".env", [spec_server.url("specs/x.json")]),
        journal=journal,
    )
    function = sync_openapi.create(
        client,
        lambda: services,
        options=SyncOptions(retries=retries, retry_delay=timedelta(0)),
    )
    event = WireEvent(name="openapi/app.sync", data=data, user=user or {}, v=version)
    return mocked.trigger(function, event, client), client


def settings_data(*urls: str) -> dict[str, Any]:
    """`data` as the route sends it."""
    return {"appSettings": {"openapiUrls": list(urls)}, "user": USER}


def test_specs_become_batches_with_the_original_shape(
    spec_server: SpecServer, journal: SyncJournal, tmp_path: Path
) -> None:
    """Two specs: 3 + 8 operations, one batch each, with `_page`, `_total`, `_batchSize`."""
    urls = [
        spec_server.url("specs/oai_petstore_swagger2.json"),
        spec_server.url("specs/redocly_museum.yaml"),
    ]

    result, client = run(spec_server, journal, tmp_path, settings_data(*urls), user=USER)

    assert mocked.Status.COMPLETED == result.status, result.error
    assert {"specs": 2, "synced": 2, "failed": 0, "operations": 11, "batches": 2} == (
        result.output["totals"]
    ), result.output
    assert [f"appsync-test-spec{i}-page1" for i in (0, 1)] == [e.id for e in client.sent]
    # The ids the server answered, for the redelivery sweep to look the batches up by.
    assert [["id-0"], ["id-1"]] == [spec["events"] for spec in result.output["specs"]]
    first = client.sent[0]
    assert isinstance(first, WireEvent)
    assert ("pinecone/vectors.upserted", USER, "1") == (first.name, dict(first.user), first.v)
    assert {"_page": 1, "_total": 3, "_batchSize": 100} == {
        key: first.data[key] for key in ("_page", "_total", "_batchSize")
    }


def test_every_batch_is_signed_for_its_user(
    spec_server: SpecServer, journal: SyncJournal, tmp_path: Path
) -> None:
    """Each batch carries a signature the index consumer accepts for the batch's user only."""
    url = spec_server.url("specs/redocly_museum.yaml")

    _, client = run(spec_server, journal, tmp_path, settings_data(url), user=USER)

    (batch,) = client.sent
    data = VectorsBatchData.model_validate(batch.data)
    SIGNER.check(USER["id"], data)
    with pytest.raises(inngest.NonRetriableError, match="does not match"):
        SIGNER.check("someone-else", data)


def test_each_spec_is_recorded_in_the_journal_as_it_finishes(
    spec_server: SpecServer, journal: SqliteIndex, tmp_path: Path
) -> None:
    """The journal holds the run, ended, with the same summary per spec as the run's output."""
    urls = [
        spec_server.url("specs/oai_petstore_swagger2.json"),
        spec_server.url("specs/redocly_museum.yaml"),
    ]

    result, _ = run(spec_server, journal, tmp_path, settings_data(*urls), user=USER)

    (recorded,) = asyncio.run(journal.runs_of_user(USER["id"], since=0))
    (entry,) = asyncio.run(journal.runs(recorded.sync_id))
    assert (True, USER["id"]) == (entry.ended, entry.user_id)
    assert result.output["specs"] == [entry.specs[index] for index in sorted(entry.specs)]


def test_a_large_spec_is_paged_in_batches_of_one_hundred(
    spec_server: SpecServer, journal: SyncJournal, tmp_path: Path
) -> None:
    """250 operations give pages 1, 2, 3 of 100, 100 and 50 documents."""
    paths = {f"/items/{n}": {"get": {"operationId": f"get{n}"}} for n in range(250)}
    url = spec_server.put(
        "many.json", json.dumps({"openapi": "3.0.0", "info": {}, "paths": paths}).encode()
    )

    result, client = run(spec_server, journal, tmp_path, settings_data(url))

    assert mocked.Status.COMPLETED == result.status, result.error
    pages = [(e.data["_page"], e.data["_total"], e.data["vectors"]) for e in client.sent]
    assert [(1, 250), (2, 250), (3, 250)] == [(page, total) for page, total, _ in pages]
    assert [100, 100, 50] == [len(vectors) for _, _, vectors in pages if isinstance(vectors, list)]


def test_the_original_consumers_data_urls_and_top_level_user_are_accepted(
    spec_server: SpecServer, journal: SyncJournal, tmp_path: Path
) -> None:
    """`data.urls` (the original consumer's shape) with only a top-level `user` syncs."""
    data = {"urls": [spec_server.url("specs/oai_petstore_swagger2.json")]}

    result, _ = run(spec_server, journal, tmp_path, data, user=USER)

    assert mocked.Status.COMPLETED == result.status, result.error
    assert "user-1" == result.output["user"]


@pytest.mark.parametrize(
    ("data", "user", "version", "message"),
    [
        (settings_data("http://x/a.json"), USER, "2", "unsupported event version v='2'"),
        (
            {"appSettings": {"openapiUrls": "x"}},
            USER,
            "1",
            "data.appSettings.openapiUrls: Input should be a valid list",
        ),
        (
            {"urls": [7]},
            USER,
            "1",
            "malformed openapi/app.sync event: data.urls[0]: Input should be a valid string",
        ),
        ({"nothing": True}, USER, "1", "data needs appSettings.openapiUrls"),
        ({"urls": ["http://x/a.json"]}, {}, "1", "no user found"),
    ],
    ids=["unknown-version", "urls-not-a-list", "url-not-a-string", "no-urls", "no-user"],
)
def test_a_malformed_event_fails_at_once_without_retries(
    spec_server: SpecServer,
    journal: SyncJournal,
    tmp_path: Path,
    data: dict[str, Any],
    user: dict[str, Any],
    version: str,
    message: str,
) -> None:
    """Bad events raise NonRetriableError with a clear message before any step runs."""
    result, client = run(spec_server, journal, tmp_path, data, user=user, version=version)

    assert mocked.Status.FAILED == result.status
    assert isinstance(result.error, inngest.NonRetriableError)
    assert message in str(result.error)
    assert [] == client.sent


def test_a_transient_failure_is_retried_then_succeeds(
    spec_server: SpecServer, journal: SyncJournal, tmp_path: Path
) -> None:
    """HTTP 500 once, then the spec: the step is retried and the sync completes."""
    url = spec_server.url("flaky/unit-once/1/specs/oai_petstore_swagger2.json")

    result, _ = run(spec_server, journal, tmp_path, settings_data(url))

    assert mocked.Status.COMPLETED == result.status, result.error
    assert result.output["specs"][0]["ok"]


def test_a_persistent_transient_failure_is_reported_after_the_last_attempt(
    spec_server: SpecServer, journal: SyncJournal, tmp_path: Path
) -> None:
    """HTTP 500 on every attempt: the spec is reported as failed, the run still completes."""
    failing = spec_server.url("flaky/unit-always/99/specs/oai_petstore_swagger2.json")
    good = spec_server.url("specs/redocly_museum.yaml")

    result, client = run(spec_server, journal, tmp_path, settings_data(failing, good), retries=2)

    assert mocked.Status.COMPLETED == result.status, result.error
    failed, synced = result.output["specs"]
    assert (False, True) == (failed["ok"], synced["ok"])
    assert "HTTP 500" in failed["error"]
    assert "(after 3 attempts)" in failed["error"]
    assert 3 == spec_server.hits["/flaky/unit-always/99/specs/oai_petstore_swagger2.json"]
    assert 1 == len(client.sent)


def test_a_url_on_a_host_that_is_not_allowed_is_reported_not_fetched(
    spec_server: SpecServer, journal: SyncJournal, tmp_path: Path
) -> None:
    """A URL written into an event for another host is refused with the reason."""
    port = spec_server.base_url.rsplit(":", 1)[1]
    url = f"http://localhost:{port}/specs/oai_petstore_swagger2.json"
    hits_before = spec_server.hits["/specs/oai_petstore_swagger2.json"]

    result, _ = run(spec_server, journal, tmp_path, settings_data(url))

    assert mocked.Status.COMPLETED == result.status, result.error
    assert f"host localhost:{port} is not allowed" in result.output["specs"][0]["error"]
    assert hits_before == spec_server.hits["/specs/oai_petstore_swagger2.json"]


class ExplodingFetcher(SpecFetcher):
    """A real fetcher, except that one URL raises `error` (what no fetcher should raise)."""

    def __init__(self, url: str, error: BaseException) -> None:
        super().__init__(max_bytes=32 * 1024 * 1024, timeout=5.0, max_redirects=3)
        self.url = url
        self.error = error

    async def fetch(self, url: str, policy: HostPolicy) -> bytes:
        """Raise for the chosen URL, fetch the others."""
        if url == self.url:
            raise self.error
        return await super().fetch(url, policy)


@pytest.mark.parametrize(
    "error",
    [MemoryError(), RecursionError("maximum recursion depth exceeded"), KeyError("paths")],
    ids=["memory", "recursion", "key"],
)
def test_an_unexpected_error_of_one_spec_is_that_specs_error(
    spec_server: SpecServer, journal: SyncJournal, tmp_path: Path, error: BaseException
) -> None:
    """Any exception loading one spec is retried, then is that spec's error; the others sync."""
    good = spec_server.url("specs/oai_petstore_swagger2.json")
    bad = spec_server.url("specs/redocly_museum.yaml")
    client = RecordingClient()
    services = FunctionServices(
        fetcher=ExplodingFetcher(bad, error),
        app_settings=AppSettingsSource(tmp_path / ".env", [good]),
        journal=journal,
    )
    function = sync_openapi.create(
        client, lambda: services, options=SyncOptions(retries=2, retry_delay=timedelta(0))
    )
    event = WireEvent(name="openapi/app.sync", data=settings_data(bad, good), user=USER, v="1")

    result = mocked.trigger(function, event, client)

    assert mocked.Status.COMPLETED == result.status, result.error
    assert isinstance(result.output, dict)
    failed, synced = result.output["specs"]
    assert (False, True) == (failed["ok"], synced["ok"])
    detail = f": {error}" if str(error) else ""
    expected = f"unexpected {type(error).__name__} while syncing {bad}{detail} (after 3 attempts)"
    assert expected == failed["error"]
    assert "Traceback" not in failed["error"]
    assert 1 == len(client.sent)
