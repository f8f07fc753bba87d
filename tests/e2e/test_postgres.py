"""End to end on PostgreSQL: a real `inngest dev`, app replicas as processes, one real database.

The replicas run as deployed (`appsync serve`, each its own process and port) with
`APPSYNC_INDEX_URL` naming one database of a PostgreSQL started by scripts/postgres.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from appsync.events import VECTORS_UPSERTED_EVENT
from harness.app_server import app_subprocess, sync_app
from harness.inngest_api import InngestApi
from harness.inngest_server import InngestServer
from harness.postgres import PostgresServer, fresh_database
from harness.spec_server import SpecServer
from harness.syncs import spec_uids
from harness.waiting import wait_until

pytestmark = pytest.mark.e2e


def all_completed(runs: list[dict[str, Any]], count: int) -> bool:
    """Whether there are `count` runs and every one has completed."""
    return len(runs) == count and all(run["status"] == "Completed" for run in runs)


MUSEUM = "redocly_museum.yaml"  # 8 operations, one batch
PETSTORE = "oai_petstore_swagger2.json"  # 3 operations, one batch
HARBOR = "harbor_swagger.yaml"  # 203 operations, three batches
STRIPE = "stripe_spec3.json"  # 417 operations, five batches

Row = tuple[str, str, str]


@pytest.fixture
def inngest(inngest_binary: Path, tmp_path: Path) -> Iterator[InngestServer]:
    """A dev server of the test's own: apps synced by earlier tests (stopped since) stay there."""
    server = InngestServer(binary=inngest_binary, workdir=tmp_path / "inngest")
    with server:
        yield server


@pytest.fixture
def api(inngest: InngestServer) -> Iterator[InngestApi]:
    """Reads the test's dev server."""
    reader = InngestApi(inngest.url)
    yield reader
    reader.close()


@pytest.fixture(scope="module")
def database_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A PostgreSQL of this module's own (one test stops and restarts it)."""
    server = PostgresServer(tmp_path_factory.mktemp("postgres-e2e") / "data")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def database(database_server: PostgresServer) -> Iterator[str]:
    """A new, empty database for one test."""
    with fresh_database(database_server.start()) as url:
        yield url


@contextmanager
def replica(
    inngest: InngestServer,
    api: InngestApi,
    *,
    specs: list[str],
    database: str,
    workdir: Path,
    app_id: str,
    synced: bool,
) -> Iterator[str]:
    """One `appsync serve` process on `database`; synced with the dev server when `synced`."""
    environment = {
        "APPSYNC_INDEX_URL": database,
        "APPSYNC_APP_ID": app_id,
        "APPSYNC_DATA_DIR": str(workdir / "data"),
    }
    with app_subprocess(inngest.url, specs, workdir, extra_env=environment) as url:
        if synced:
            sync_app(url, api, app_id)
        yield url


def stored(database: str) -> list[Row]:
    """(user, uid, generation) of every stored operation, by user and uid (none before tables)."""
    with psycopg.connect(database) as connection:
        exists = connection.execute("SELECT to_regclass('appsync_operations')").fetchone()
        if exists is None or exists[0] is None:
            return []
        rows = connection.execute(
            "SELECT user_id, uid, generation FROM appsync_operations ORDER BY user_id, uid"
        ).fetchall()
    return [(str(user), str(uid), str(generation)) for user, uid, generation in rows]


def search(app_url: str, q: str) -> list[dict[str, Any]]:
    """GET /api/operations/search as the local dev user; at most 100 hits."""
    response = httpx.get(
        f"{app_url}/api/operations/search", params={"q": q, "k": "100"}, trust_env=False
    )
    assert 200 == response.status_code, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def post_sync(app_url: str) -> str:
    """POST /api/route as the original's curl does; the sync's event id."""
    response = httpx.post(
        f"{app_url}/api/route", json={"data": "data"}, trust_env=False, timeout=30
    )
    assert 200 == response.status_code, response.text
    (event_id,) = response.json()["ids"]
    return str(event_id)


def batch_events(api: InngestApi, event_ids: set[str]) -> list[dict[str, Any]]:
    """The batch events of the syncs the given `openapi/app.sync` events started.

    A batch's `data.sync.id` is the id of the sync run that sent it (every replica's app runs one).
    """
    run_ids = {run["run_id"] for event_id in event_ids for run in api.runs(event_id)}
    return [
        event
        for event in api.all_events(VECTORS_UPSERTED_EVENT)
        if str(event["data"]["sync"]["id"]) in run_ids
    ]


def index_runs(api: InngestApi, event_ids: set[str]) -> list[dict[str, Any]]:
    """Every run of every batch event of the given syncs."""
    runs: list[dict[str, Any]] = []
    for event in batch_events(api, event_ids):
        runs += api.runs(event["internal_id"])
    return runs


def sync_ids(api: InngestApi, event_ids: set[str]) -> set[str]:
    """The sync ids (`data.sync.id`) of the batches of the given syncs."""
    return {str(event["data"]["sync"]["id"]) for event in batch_events(api, event_ids)}


def test_a_sync_posted_to_one_replica_is_searchable_from_the_other(
    inngest: InngestServer, api: InngestApi, spec_server: SpecServer, database: str, tmp_path: Path
) -> None:
    """Replica A takes the POST and runs the functions; replica B finds every operation."""
    specs = [spec_server.url(f"specs/{MUSEUM}")]
    with ExitStack() as stack:
        a, b = (
            stack.enter_context(
                replica(
                    inngest,
                    api,
                    specs=specs,
                    database=database,
                    workdir=tmp_path / name,
                    app_id="appsync-pg-one",
                    synced=name == "a",
                )
            )
            for name in ("a", "b")
        )
        assert [] == search(b, "museum tickets")
        post_sync(a)

        hits = wait_until(
            lambda: found if len(found := search(b, "museum tickets")) == 8 else None,
            timeout=60,
            what="replica B finds the eight museum operations",
        )
        best = search(b, "buy an entry pass")[0]

    assert spec_uids(MUSEUM) == sorted(hit["uid"] for hit in hits)
    assert "buyMuseumTickets" == best["operationId"]


def test_concurrent_syncs_through_two_replicas_leave_one_copy_of_each_operation(
    inngest: InngestServer, api: InngestApi, spec_server: SpecServer, database: str, tmp_path: Path
) -> None:
    """Two POSTs at once, one per replica, both indexing every batch: the newest rows, once."""
    specs = [spec_server.url(f"specs/{MUSEUM}"), spec_server.url(f"specs/{PETSTORE}")]
    with ExitStack() as stack:
        replicas = [
            stack.enter_context(
                replica(
                    inngest,
                    api,
                    specs=specs,
                    database=database,
                    workdir=tmp_path / name,
                    app_id=f"appsync-pg-{name}",
                    synced=True,
                )
            )
            for name in ("a", "b")
        ]
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            event_ids = set(pool.map(post_sync, replicas))
        # Each sync event runs the sync function of both apps; one sync per user at a time, so
        # in each app the later event cancels the earlier run (which may have sent a batch).
        wait_until(
            lambda: syncs_ended(api, event_ids, apps=2),
            timeout=180,
            what="each app completed a sync and ended the other",
        )
        api.flush()  # every batch event the syncs sent is stored now
        batches = len(batch_events(api, event_ids))
        runs = wait_until(
            lambda: (
                found if all_completed(found := index_runs(api, event_ids), 2 * batches) else None
            ),
            timeout=180,
            what="every batch indexed by both apps",
        )
        rows = stored(database)

    syncs = sync_ids(api, event_ids)
    assert spec_uids(MUSEUM, PETSTORE) == [uid for _, uid, _ in rows]  # each exactly once
    assert {user for user, _, _ in rows} == {"local-dev"}
    assert {generation for _, _, generation in rows} <= syncs
    assert 2 * batches == len(runs)


def syncs_ended(api: InngestApi, event_ids: set[str], apps: int) -> bool:
    """Whether every listed run of the sync events has ended, with one completed per app.

    A run the server skipped is not listed at all; a completed one has its output.
    """
    runs = [run for event_id in event_ids for run in api.runs(event_id)]
    ended = [
        run
        for run in runs
        if run.get("ended_at") and ("output" in run or run["status"] != "Completed")
    ]
    completed = [run for run in ended if run["status"] == "Completed"]
    return len(completed) >= apps and len(ended) == len(runs)


def test_a_database_killed_mid_indexing_loses_and_duplicates_nothing(
    inngest: InngestServer,
    api: InngestApi,
    spec_server: SpecServer,
    database_server: PostgresServer,
    database: str,
    tmp_path: Path,
) -> None:
    """The database crashes after the first batch; the runs retry, complete when it is back."""
    specs = [spec_server.url(f"specs/{HARBOR}"), spec_server.url(f"specs/{STRIPE}")]
    expected = spec_uids(HARBOR, STRIPE)
    workdir = tmp_path / "a"
    with replica(
        inngest,
        api,
        specs=specs,
        database=database,
        workdir=workdir,
        app_id="appsync-pg-fault",
        synced=True,
    ) as url:
        event_id = post_sync(url)
        written_before = wait_until(
            lambda: stored(database), timeout=60, what="the first batch is written"
        )
        database_server.stop(immediate=True)
        try:
            wait_until(
                lambda: (
                    "error connecting in 'appsync-index'"
                    in (workdir / "app.log").read_text(errors="replace")
                ),
                timeout=60,
                what="the index finds the database gone",
            )
        finally:
            database_server.start()
        runs = wait_until(
            lambda: found if all_completed(found := index_runs(api, {event_id}), 8) else None,
            timeout=300,
            what="eight completed index runs (three batches of harbor, five of stripe)",
        )
        rows = stored(database)

    assert 0 < len(written_before) < len(expected)
    assert expected == [uid for _, uid, _ in rows]
    assert sync_ids(api, {event_id}) == {generation for _, _, generation in rows}
    assert 8 == len(runs)
