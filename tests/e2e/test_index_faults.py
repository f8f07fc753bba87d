"""The index consumer under load and faults, end to end on a real `inngest dev`.

One user's big sync leaves room for everyone else's (concurrency per user under a global cap),
and a store that refuses writes makes the sync's status say that indexing failed, for how many
operations, why and what to do; once the store takes writes again, the next sync embeds nothing
again. The module runs its own dev server and app (a JWT secret, so that users differ; retries
off, so that a refused batch fails at once), with the store behind `FailingWrites`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apsw
import httpx
import pytest

from appsync.cli.dev_server import free_port
from appsync.index.base import Store
from appsync.index.factory import open_index
from appsync.search.embedding import Embedder
from appsync.services import start_services
from harness.app_server import synced_app
from harness.inngest_api import InngestApi
from harness.inngest_server import InngestServer
from harness.settings import bearer, make_settings, write_spec_urls
from harness.spec_server import SpecServer
from harness.stores import FailingWrites
from harness.syncs import PETSTORE, batch_events
from harness.waiting import wait_until

pytestmark = pytest.mark.e2e

SECRET = "index-faults-e2e-secret-0123456789ab"
APP_ID = "appsync-index-faults-e2e"
MUSEUM = "specs/redocly_museum.yaml"
BIG = 2_000  # operations of the big sync: 20 batch events


def catalog_spec(operations: int) -> bytes:
    """An OpenAPI spec of `operations` distinct operations (no text shared with any other spec)."""
    paths = {
        f"/catalog/items{n}": {
            "get": {
                "operationId": f"getCatalogItem{n}",
                "summary": f"Fetch catalog entry number {n} of the warehouse ledger",
                "responses": {"200": {"description": "the entry"}},
            }
        }
        for n in range(operations)
    }
    spec = {"openapi": "3.0.3", "info": {"title": "Catalog", "version": "1"}, "paths": paths}
    return json.dumps(spec).encode()


@dataclass
class FaultApp:
    """The app, its dev server and spec server, and the store behind the app's index."""

    api: InngestApi
    specs: SpecServer
    env_file: Path
    http: httpx.Client
    store: FailingWrites

    def sync(self, user: str, urls: list[str]) -> str:
        """POST a sync of `urls` as `user`; its id."""
        write_spec_urls(self.env_file, urls)
        response = self.http.post("/api/route", json={"data": "data"}, headers=bearer(user, SECRET))
        assert 200 == response.status_code, response.text
        (sync_id,) = response.json()["ids"]
        return str(sync_id)

    def status(self, user: str, sync_id: str) -> dict[str, Any]:
        """The sync's status as `user` reads it."""
        response = self.http.get(f"/api/openapi/sync/{sync_id}", headers=bearer(user, SECRET))
        assert 200 == response.status_code, response.text
        body: dict[str, Any] = response.json()
        return body

    def operation_ids(self, user: str, q: str) -> list[str]:
        """What a search of `user` finds, best first."""
        response = self.http.get(
            "/api/operations/search", params={"q": q}, headers=bearer(user, SECRET)
        )
        assert 200 == response.status_code, response.text
        return [hit["operationId"] for hit in response.json()["results"]]


@pytest.fixture(scope="module")
def fault_app(
    inngest_binary: Path,
    spec_server: SpecServer,
    embedder: Embedder,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[FaultApp]:
    """A dev server and an app whose store refuses writes when a test says so."""
    workdir = tmp_path_factory.mktemp("index-faults-e2e")
    opened: list[FailingWrites] = []

    async def open_store(url: str, *, dimensions: int) -> Store:
        error = apsw.FullError("database or disk is full")
        opened.append(FailingWrites(await open_index(url, dimensions=dimensions), error, 0))
        return opened[-1]

    env_file = workdir / ".env"
    write_spec_urls(env_file, [spec_server.url(PETSTORE)])
    server = InngestServer(binary=inngest_binary, workdir=workdir / "inngest")
    with contextlib.ExitStack() as stack:
        stack.enter_context(server)
        api = InngestApi(server.url)
        stack.callback(api.close)
        settings = make_settings(
            app_id=APP_ID,
            inngest_dev=server.url,
            port=free_port(),
            env_file_path=env_file,
            jwt_secret=SECRET,
            retries=0,
            data_dir=workdir / "data",
        )
        services = functools.partial(start_services, embedder=embedder, open_store=open_store)
        _, http = stack.enter_context(synced_app(settings, api, services))
        yield FaultApp(api, spec_server, env_file, http, opened[-1])


def test_a_small_sync_is_searchable_while_another_users_big_one_indexes(
    fault_app: FaultApp,
) -> None:
    """Ben's 3 operations are found before ann's 2,000 are half indexed (20 batches queued)."""
    big = fault_app.specs.put("big-catalog.json", catalog_spec(BIG))
    ann = fault_app.sync("ann", [big])
    wait_until(
        lambda: fault_app.status("ann", ann)["indexed"],
        timeout=120,
        what="ann's first batch is indexed",
        interval=0.1,
    )

    fault_app.sync("ben", [fault_app.specs.url(PETSTORE)])
    wait_until(
        lambda: "listPets" in fault_app.operation_ids("ben", "list all pets"),
        timeout=120,
        what="ben's pets are searchable",
        interval=0.1,
    )
    indexed_meanwhile = fault_app.status("ann", ann)["indexed"]

    assert indexed_meanwhile < BIG // 2
    done = wait_until(
        lambda: (body := fault_app.status("ann", ann))["indexed"] == BIG and body,
        timeout=600,
        what="ann's big sync is indexed",
        interval=0.5,
    )
    assert "completed" == done["status"]


def test_a_store_refusing_writes_fails_the_sync_saying_why_and_a_resync_embeds_nothing(
    fault_app: FaultApp, caplog: pytest.LogCaptureFixture
) -> None:
    """Dora's batch is refused: status `failed`, 8 operations, the cause, what to do; then fixed."""
    fault_app.store.only_user, fault_app.store.failures = "dora", -1
    failed_id = fault_app.sync("dora", [fault_app.specs.url(MUSEUM)])

    failed = wait_until(
        lambda: (body := fault_app.status("dora", failed_id))["status"] == "failed" and body,
        timeout=120,
        what="dora's sync reports its failed indexing",
        interval=0.2,
    )
    fault_app.store.failures = 0
    fixed_id = fault_app.sync("dora", [fault_app.specs.url(MUSEUM)])
    run = fault_app.api.wait_for_run(fixed_id, timeout=120)
    index_runs = [
        fault_app.api.wait_for_run(event["internal_id"], timeout=120)
        for event in batch_events(fault_app.api, run)
    ]

    assert {"operations": 8, "batches": 1, "error": "FullError: database or disk is full"} == (
        failed["indexFailures"]
    )
    assert 0 == failed["indexed"]
    assert failed["message"].startswith("indexing failed: 8 of 8 operations are not searchable")
    assert "POST the sync again" in failed["message"]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("FullError: database or disk is full" in message for message in errors), errors
    assert [(0, 8, 8)] == [
        (r["output"]["embedded"], r["output"]["reused"], r["output"]["written"]) for r in index_runs
    ]
    assert ("completed", 8, None) == (
        (fixed := fault_app.status("dora", fixed_id))["status"],
        fixed["indexed"],
        fixed["indexFailures"],
    )
