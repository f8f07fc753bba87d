"""Syncs as end-to-end tests drive them: POST and wait, and the batch events a run sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from appsync.events import VECTORS_UPSERTED_EVENT
from appsync.sync.batches import load_documents
from harness.app_server import Harness
from harness.inngest_api import InngestApi
from harness.paths import SPECS_DIR
from harness.settings import write_spec_urls

PETSTORE = "specs/oai_petstore_swagger2.json"
PETSTORE_UIDS = [
    "OpenApi_Swagger Petstore_1.0.0_listPets",
    "OpenApi_Swagger Petstore_1.0.0_createPets",
    "OpenApi_Swagger Petstore_1.0.0_showPetById",
]


def batch_events(api: InngestApi, run: dict[str, Any]) -> list[dict[str, Any]]:
    """The `pinecone/vectors.upserted` events a sync run sent (their ids carry the run id).

    The run has ended, so all its sends are done; once the server has stored a sentinel sent
    after them, every batch event (and any duplicate) is in the list.
    """
    prefix = f"appsync-{run['run_id']}-"
    api.flush()
    return [e for e in api.all_events(VECTORS_UPSERTED_EVENT) if e["id"].startswith(prefix)]


def uids(batches: list[dict[str, Any]]) -> list[str]:
    """Every document uid in the batches, in spec and page order."""

    def order(event: dict[str, Any]) -> tuple[int, int]:
        spec, page = event["id"].rsplit("-", 2)[-2:]
        return int(spec.removeprefix("spec")), int(page.removeprefix("page"))

    return [
        vector["uid"] for event in sorted(batches, key=order) for vector in event["data"]["vectors"]
    ]


def trigger(harness: Harness, urls: list[str]) -> tuple[str, dict[str, Any]]:
    """Configure `urls`, POST, and wait for the run; returns the event id and the run."""
    harness.set_spec_urls(urls)
    response = harness.post()
    assert response.status_code == 200, response.text
    (event_id,) = response.json()["ids"]
    return event_id, harness.api.wait_for_run(event_id)


def sync_and_index(
    http: httpx.Client,
    api: InngestApi,
    env_file: Path,
    urls: list[str],
    headers: dict[str, str],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """POST a sync of `urls` with `headers` (a user's credentials); its run and its index runs.

    Waits until the sync run and the index run of every batch it sent have ended.
    """
    write_spec_urls(env_file, urls)
    response = http.post("/api/openapi/sync", headers=headers)
    assert response.status_code == 200, response.text
    (event_id,) = response.json()["ids"]
    run = api.wait_for_run(event_id, timeout=120)
    assert run["status"] == "Completed", run
    return run, [api.wait_for_run(b["internal_id"], timeout=300) for b in batch_events(api, run)]


def spec_uids(*names: str) -> list[str]:
    """The uids of every document the named specs of the shared corpus make, sorted."""
    found: list[str] = []
    for name in names:
        loaded = load_documents((SPECS_DIR / name).read_bytes())
        found += [str(document["uid"]) for document in loaded.documents]
    return sorted(found)
