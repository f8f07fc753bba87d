"""End to end on a real `inngest dev`: POST a sync → batch events → the index consumer → search.

The module runs its own dev server and app (with a JWT secret, so that users differ), apart from
the session's harness, whose syncs all run as the one local user.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from appsync.app import create_app
from appsync.cli.dev_server import free_port
from appsync.events import APP_SYNC_EVENT, VECTORS_UPSERTED_EVENT
from appsync.search.embedding import Embedder
from appsync.settings.service import ServiceSettings
from harness.app_server import AppServer, sync_app
from harness.inngest_api import InngestApi
from harness.inngest_server import InngestServer
from harness.postgres import fresh_database
from harness.settings import bearer as settings_bearer
from harness.settings import make_settings, shared_model, write_spec_urls
from harness.spec_server import SpecServer
from harness.stores import STORES
from harness.syncs import batch_events

pytestmark = pytest.mark.e2e

SECRET = "index-e2e-secret-0123456789abcdef"
APP_ID = "appsync-index-e2e"
SPECS = ["specs/stripe_spec3.json", "specs/xero_accounting.yaml", "specs/harbor_swagger.yaml"]
MUSEUM = "specs/redocly_museum.yaml"
PETSTORE = "specs/oai_petstore_swagger2.json"
STRIPE_REFUNDS = {"PostRefunds", "PostChargesChargeRefunds", "PostChargesChargeRefund"}


def bearer(user_id: str) -> dict[str, str]:
    """An Authorization header for `user_id`, valid for ten minutes."""
    return settings_bearer(user_id, SECRET)


@dataclass
class IndexedApp:
    """The app, its dev server, and the first sync of stripe + xero + harbor for alice."""

    app: AppServer
    api: InngestApi
    specs: SpecServer
    env_file: Path
    settings: ServiceSettings
    http: httpx.Client
    embedder: Embedder
    sync_run: dict[str, Any]
    batches: list[dict[str, Any]]
    index_runs: list[dict[str, Any]]

    def search(self, q: str, user: str = "alice", **params: Any) -> httpx.Response:
        """GET the search route as `user`."""
        return self.http.get(
            "/api/operations/search", params={"q": q, **params}, headers=bearer(user)
        )

    def operation_ids(self, q: str, user: str = "alice", k: int = 10) -> list[str]:
        """The operationIds a search finds, best first."""
        response = self.search(q, user, k=k)
        assert 200 == response.status_code, response.text
        return [hit["operationId"] for hit in response.json()["results"]]

    def sync(self, user: str, spec_paths: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """POST a sync of `spec_paths` as `user`; its run, and the index runs of its batches."""
        write_spec_urls(self.env_file, [self.specs.url(path) for path in spec_paths])
        response = self.http.post("/api/route", json={"data": "data"}, headers=bearer(user))
        assert 200 == response.status_code, response.text
        (event_id,) = response.json()["ids"]
        run = self.api.wait_for_run(event_id, timeout=120)
        assert "Completed" == run["status"], run
        batches = batch_events(self.api, run)
        return run, [self.api.wait_for_run(b["internal_id"], timeout=300) for b in batches]


def totals(runs: list[dict[str, Any]]) -> dict[str, int]:
    """The index runs' counts, added up."""
    keys = ("documents", "embedded", "reused", "unchanged", "written", "pruned", "removed")
    return {key: sum(run["output"][key] for run in runs) for key in keys} | {
        "stale": sum(bool(run["output"]["stale"]) for run in runs)
    }


@pytest.fixture(scope="module", params=STORES)
def indexed(
    request: pytest.FixtureRequest,
    inngest_binary: Path,
    spec_server: SpecServer,
    embedder: Embedder,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[IndexedApp]:
    """A dev server and app of their own; alice's sync of stripe + xero + harbor, indexed.

    Once per store: the app's SQLite file, and a new database on the session's PostgreSQL.
    """
    workdir = tmp_path_factory.mktemp("index-e2e")
    server = InngestServer(binary=inngest_binary, workdir=workdir / "inngest")
    with contextlib.ExitStack() as stack:
        index_url = None
        if request.param == "postgres":
            index_url = stack.enter_context(fresh_database(request.getfixturevalue("postgres_url")))
        stack.enter_context(server)
        api = InngestApi(server.url)
        env_file = workdir / ".env"
        write_spec_urls(env_file, [spec_server.url(SPECS[0])])
        port = free_port()
        settings = make_settings(
            app_id=APP_ID,
            inngest_dev=server.url,
            port=port,
            env_file_path=env_file,
            jwt_secret=SECRET,
            retries=2,
            retry_delay=0.2,
            data_dir=workdir / "data",
            index_url=index_url,
        )
        with AppServer(
            lambda: create_app(settings, services=shared_model(embedder)), port=port
        ) as app:
            sync_app(app.url, api, APP_ID)
            with httpx.Client(base_url=app.url, timeout=60.0, trust_env=False) as http:
                indexed = IndexedApp(
                    app, api, spec_server, env_file, settings, http, embedder, {}, [], []
                )
                indexed.sync_run, indexed.index_runs = indexed.sync("alice", SPECS)
                indexed.batches = batch_events(api, indexed.sync_run)
                yield indexed
        api.close()


def test_every_synced_document_is_indexed_once(indexed: IndexedApp) -> None:
    """Each batch's run completes, embeds its documents once, and the index holds each uid once."""
    uids = {v["uid"] for batch in indexed.batches for v in batch["data"]["vectors"]}
    stats = totals(indexed.index_runs)

    assert {"Completed"} == {run["status"] for run in indexed.index_runs}
    assert 417 + 235 + 203 == len(uids) == stats["documents"] == stats["embedded"]
    assert (len(uids), 0, 0) == (stats["written"], stats["pruned"], stats["stale"])


def test_create_a_refund_finds_stripes_refund_operations_first(indexed: IndexedApp) -> None:
    """The top three for "create a refund" are Stripe refund operations, one that creates first."""
    response = indexed.search("create a refund", k=3)

    assert 200 == response.status_code, response.text
    results = response.json()["results"]
    assert results[0]["operationId"] in STRIPE_REFUNDS
    assert all("Refund" in hit["operationId"] for hit in results), results
    assert {"Stripe API"} == {hit["service"] for hit in results}
    assert {
        "uid",
        "score",
        "service",
        "version",
        "method",
        "path",
        "operationId",
        "summary",
        "tags",
        "deprecated",
    } == set(results[0])


def test_search_survives_a_restart_of_the_app(indexed: IndexedApp) -> None:
    """A new app on the same data directory answers the same search the same way."""
    before = indexed.operation_ids("create a refund")

    with TestClient(
        create_app(indexed.settings, services=shared_model(indexed.embedder))
    ) as client:
        response = client.get(
            "/api/operations/search", params={"q": "create a refund"}, headers=bearer("alice")
        )

    assert 200 == response.status_code, response.text
    assert before == [hit["operationId"] for hit in response.json()["results"]]


def test_another_user_sees_none_of_it(indexed: IndexedApp) -> None:
    """Bob's search finds nothing of alice's operations."""
    assert [] == indexed.operation_ids("create a refund", user="bob")


def test_search_needs_the_same_credentials_as_the_post(indexed: IndexedApp) -> None:
    """Without a token the search is a 401 with the POST route's JSON body."""
    response = indexed.http.get("/api/operations/search", params={"q": "refund"})

    assert 401 == response.status_code
    assert "unauthorized" == response.json()["error"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": ""}, "q must not be empty"),
        ({"q": "x" * 513}, "at most 512"),
        ({"q": "refund", "k": "0"}, "k must be within 1..100"),
        ({"q": "refund", "k": "ten"}, "k must be an integer"),
    ],
)
def test_a_bad_query_is_a_422_saying_why(
    indexed: IndexedApp, params: dict[str, str], message: str
) -> None:
    """Empty or too long q, or k out of range: 422 with a message naming the parameter."""
    response = indexed.http.get("/api/operations/search", params=params, headers=bearer("alice"))

    assert 422 == response.status_code
    assert "invalid_query" == response.json()["error"]
    assert message in response.json()["message"]


def test_filters_narrow_the_results(indexed: IndexedApp) -> None:
    """service, method and tag filters keep only matching operations."""
    by_service = indexed.search("delete", service="Harbor API", k=20).json()["results"]
    by_method = indexed.search("refund", method="get", k=20).json()["results"]

    assert by_service
    assert {"Harbor API"} == {hit["service"] for hit in by_service}
    assert by_method
    assert {"get"} == {hit["method"] for hit in by_method}


def test_a_ui_replay_of_the_sync_embeds_nothing_new(indexed: IndexedApp) -> None:
    """Replaying the sync (name + data only, to /e/dev_key) indexes every batch, embedding none."""
    stored = indexed.api.event(indexed.sync_run["event_id"])

    (replay_id,) = indexed.api.send({"name": stored["name"], "data": stored["data"]}, "dev_key")
    run = indexed.api.wait_for_run(replay_id, timeout=120)
    runs = [
        indexed.api.wait_for_run(b["internal_id"], timeout=300)
        for b in batch_events(indexed.api, run)
    ]

    assert "Completed" == run["status"], run
    stats = totals(runs)
    assert (0, 0, 855) == (stats["embedded"], stats["written"], stats["unchanged"])
    assert (0, 0) == (stats["pruned"], stats["stale"])


def test_a_duplicated_batch_changes_nothing(indexed: IndexedApp) -> None:
    """The same batch delivered again under new event ids embeds and writes nothing."""
    batch = indexed.batches[0]

    ids = indexed.api.send(
        [{"name": batch["name"], "data": batch["data"], "user": batch["user"]}] * 2, "dev_key"
    )
    runs = [indexed.api.wait_for_run(event_id, timeout=120) for event_id in ids]

    assert ["Completed", "Completed"] == [run["status"] for run in runs]
    assert [0, 0] == [run["output"]["embedded"] for run in runs]
    assert [0, 0] == [run["output"]["written"] for run in runs]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.pop("vectors"), "data.vectors: Field required"),
        (lambda d: d.update(vectors=[{"uid": 7}]), "data.vectors[0].uid"),
        (lambda d: d.pop("user"), "no user found"),
    ],
)
def test_a_bad_batch_fails_at_once_naming_the_field(
    indexed: IndexedApp, change: Any, field: str
) -> None:
    """Missing vectors, wrong types or no user: the run fails without retries, naming the field."""
    data = dict(indexed.batches[0]["data"])
    change(data)

    (event_id,) = indexed.api.send({"name": VECTORS_UPSERTED_EVENT, "data": data}, "dev_key")
    run = indexed.api.wait_for_run(event_id, timeout=60)

    assert "Failed" == run["status"], run
    assert field in str(run["output"])


def forged_batches(real: dict[str, Any], victim: str) -> list[dict[str, Any]]:
    """Batch events for `victim` that the sync function did not make (the hardening probe's)."""
    own = {
        "uid": "OpenApi_Evil_1_takeover",
        "text": "buy museum tickets here",
        "metadata": {"service": "Evil", "version": "1", "method": "post", "path": "/tickets"},
    }
    takeover = {
        "_page": 1,
        "_total": 1,
        "_batchSize": 100,
        "vectors": [own],
        "user": {"id": victim},
        "source": {"url": "http://evil.test/spec.json", "service": "Evil", "version": "1"},
        "sync": {"id": "999999999999999-zzz", "urls": ["http://evil.test/spec.json"]},
    }
    signed_elsewhere = takeover | {"signature": "v1=" + "ab" * 32}
    stolen = real["data"] | {"user": {"id": victim}}
    return [
        {"name": VECTORS_UPSERTED_EVENT, "data": data, "user": {"id": victim}}
        for data in (takeover, signed_elsewhere, stolen)
    ]


def test_a_forged_batch_changes_nothing_and_the_victims_next_sync_indexes(
    indexed: IndexedApp,
) -> None:
    """Unsigned, wrongly signed or another user's batches fail at once; erin's index is intact."""
    indexed.sync("erin", ["specs/redocly_museum.yaml"])
    before = indexed.operation_ids("buy museum tickets", user="erin", k=100)

    ids = indexed.api.send(forged_batches(indexed.batches[0], "erin"), "dev_key")
    forged = [indexed.api.wait_for_run(event_id, timeout=60) for event_id in ids]
    after = indexed.operation_ids("buy museum tickets", user="erin", k=100)
    _, runs = indexed.sync(
        "erin", ["specs/redocly_museum.yaml", "specs/oai_petstore_swagger2.json"]
    )

    assert ["Failed"] * 3 == [run["status"] for run in forged]
    assert all("refused" in str(run["output"]) for run in forged), forged
    assert before == after
    assert "OpenApi_Evil_1_takeover" not in str(indexed.search("tickets", "erin").json())
    assert (0, 3) == (totals(runs)["stale"], totals(runs)["written"])
    assert "listPets" in indexed.operation_ids("list all pets", user="erin")


def test_a_shrunk_spec_loses_its_dropped_operations_and_old_batches_stay_out(
    indexed: IndexedApp,
) -> None:
    """Re-syncing a spec that dropped operations removes them; a late old batch revives none."""
    museum = (indexed.specs.specs_dir / "redocly_museum.yaml").read_text()
    full = indexed.specs.put("museum-shrinks.yaml", museum.encode())
    path = full.removeprefix(indexed.specs.base_url + "/")
    first_run, first = indexed.sync("carol", [path])
    old_batch = batch_events(indexed.api, first_run)[0]
    shrunk = museum.replace("  /museum-hours:\n    get:", "  /museum-hours:\n    x-gone:", 1)
    assert shrunk != museum
    indexed.specs.put("museum-shrinks.yaml", shrunk.encode())

    _, second = indexed.sync("carol", [path])
    (late_id,) = indexed.api.send(
        {"name": VECTORS_UPSERTED_EVENT, "data": old_batch["data"], "user": {"id": "carol"}},
        "dev_key",
    )
    late = indexed.api.wait_for_run(late_id, timeout=60)

    assert (8, 7) == (totals(first)["written"], totals(second)["unchanged"])
    assert 1 == totals(second)["pruned"]
    assert late["output"]["stale"]
    assert "getMuseumHours" not in indexed.operation_ids("museum opening hours", user="carol")


def test_a_url_dropped_from_the_settings_goes_with_the_next_sync(indexed: IndexedApp) -> None:
    """Dave syncs two specs, then only one: the other's operations leave his index."""
    indexed.sync("dave", ["specs/redocly_museum.yaml", "specs/oai_petstore_swagger2.json"])
    assert "listPets" in indexed.operation_ids("list all pets", user="dave")

    _, runs = indexed.sync("dave", ["specs/redocly_museum.yaml"])

    assert 3 == totals(runs)["removed"]
    assert "listPets" not in indexed.operation_ids("list all pets", user="dave")


def test_a_later_sync_stamped_by_a_clock_a_minute_behind_still_wins(indexed: IndexedApp) -> None:
    """Syncs are ordered by the server's run ids, not by the sending replica's `ts`."""
    indexed.sync("frank", [MUSEUM, PETSTORE])
    user = {"id": "frank"}
    skewed = {
        "name": APP_SYNC_EVENT,
        "v": "1",
        "ts": int(time.time() * 1000) - 60_000,  # a replica whose clock runs a minute behind
        "user": user,
        "data": {"appSettings": {"openapiUrls": [indexed.specs.url(PETSTORE)]}, "user": user},
    }

    (event_id,) = indexed.api.send(skewed, "dev_key")
    run = indexed.api.wait_for_run(event_id, timeout=120)
    batches = batch_events(indexed.api, run)
    runs = [indexed.api.wait_for_run(batch["internal_id"], timeout=120) for batch in batches]
    found = indexed.search("buy museum tickets", "frank", k=20).json()["results"]

    assert "Completed" == run["status"], run
    assert (0, 8) == (totals(runs)["stale"], totals(runs)["removed"])
    assert [] == [hit["uid"] for hit in found if hit["service"] == "Redocly Museum API"]
    assert "listPets" in indexed.operation_ids("list all pets", user="frank")


def test_app_sync_events_name_their_sync(indexed: IndexedApp) -> None:
    """Every batch carries the sync's id (its run's, which the server made) and all its URLs."""
    syncs = {(b["data"]["sync"]["id"], tuple(b["data"]["sync"]["urls"])) for b in indexed.batches}
    stored = indexed.api.event(indexed.sync_run["event_id"])

    assert 1 == len(syncs)
    ((sync_id, urls),) = syncs
    assert indexed.sync_run["run_id"] == sync_id
    assert tuple(indexed.specs.url(path) for path in SPECS) == urls
    assert APP_SYNC_EVENT == stored["name"]


def test_the_cli_searches_the_local_index(indexed: IndexedApp) -> None:
    """`appsync search` reads the same index (file or database) and prints the API's JSON lines."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("APPSYNC_", "INNGEST_"))},
        "APPSYNC_DATA_DIR": str(indexed.settings.data_dir),
    } | ({"APPSYNC_INDEX_URL": url} if (url := indexed.settings.index_url) else {})
    result = subprocess.run(
        [sys.executable, "-m", "appsync", "search", "create a refund", "--user", "alice", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )

    assert 0 == result.returncode, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert indexed.operation_ids("create a refund") == [line["operationId"] for line in lines]


def test_a_second_user_of_the_same_specs_embeds_nothing(indexed: IndexedApp) -> None:
    """Bea syncs alice's three specs: every vector comes from the cache; she finds the same."""
    _, runs = indexed.sync("bea", SPECS)

    stats = totals(runs)
    assert (0, 855, 855, 855) == (
        stats["embedded"],
        stats["reused"],
        stats["written"],
        stats["documents"],
    )
    for q in ("create a refund", "list all invoices", "delete a project", "museum opening hours"):
        assert indexed.operation_ids(q) == indexed.operation_ids(q, user="bea"), q


def test_a_changed_copy_of_a_spec_embeds_only_its_changed_texts(indexed: IndexedApp) -> None:
    """Cyd syncs stripe with two descriptions changed, and xero: only those two are embedded."""
    spec = json.loads((indexed.specs.specs_dir / "stripe_spec3.json").read_text())
    spec["paths"]["/v1/refunds"]["post"]["description"] = "<p>Give a charge's money back.</p>"
    spec["paths"]["/v1/customers"]["get"]["description"] = "<p>Every customer you have.</p>"
    url = indexed.specs.put("stripe-changed.json", json.dumps(spec).encode())

    _, runs = indexed.sync("cyd", [url.removeprefix(indexed.specs.base_url + "/"), SPECS[1]])

    stats = totals(runs)
    assert (2, 417 + 235 - 2) == (stats["embedded"], stats["reused"])
    assert "PostRefunds" in indexed.operation_ids("give a charge's money back", user="cyd")
