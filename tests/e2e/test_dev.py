"""End to end on a real `inngest dev`: POST → `openapi/app.sync` → run → batch events."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from appsync.events import APP_SYNC_EVENT
from appsync.services import Registry
from harness.app_server import Harness
from harness.syncs import PETSTORE, PETSTORE_UIDS, batch_events, trigger, uids

pytestmark = pytest.mark.e2e


def same_output(run: dict[str, Any]) -> dict[str, Any]:
    """A sync run's output without what differs per send: the ids the server gave its batches."""
    output: dict[str, Any] = run["output"]
    specs = [
        {key: value for key, value in spec.items() if key != "events"}
        | {"events": len(spec.get("events", []))}
        for spec in output["specs"]
    ]
    return {**output, "specs": specs}


def test_original_curl_example_syncs_end_to_end(harness: Harness) -> None:
    """The original's curl example gets 200 and an id; the stored event and its run are whole."""
    url = harness.specs.url(PETSTORE)
    harness.set_spec_urls([url])
    before_ms = time.time() * 1000

    response = harness.post("/api/route", json={"data": "data"})

    assert response.status_code == 200
    body = response.json()
    assert body["success"] == "true"
    (event_id,) = body["ids"]

    stored = harness.api.event(event_id)
    user = harness.settings.local_user.to_event()
    assert stored["name"] == APP_SYNC_EVENT
    assert stored["v"] == "1"
    assert before_ms - 1000 <= stored["ts"] <= time.time() * 1000 + 1000
    assert stored["user"] == user
    assert stored["data"]["appSettings"] == {"openapiUrls": [url]}

    run = harness.api.wait_for_run(event_id)
    assert run["status"] == "Completed", run
    assert run["output"]["user"] == user["id"]
    assert run["output"]["totals"] == {
        "specs": 1,
        "synced": 1,
        "failed": 0,
        "operations": 3,
        "batches": 1,
    }
    batches = batch_events(harness.api, run)
    assert len(batches) == 1
    (batch,) = batches
    assert batch["v"] == "1"
    assert batch["user"] == user
    assert {k: batch["data"][k] for k in ("_page", "_total", "_batchSize")} == {
        "_page": 1,
        "_total": 3,
        "_batchSize": 100,
    }
    assert uids(batches) == PETSTORE_UIDS


def test_replay_from_the_dev_ui_completes_with_the_same_output(harness: Harness) -> None:
    """A UI replay (only name and data, POSTed to /e/dev_key) runs for the same user and output."""
    first_id, first_run = trigger(harness, [harness.specs.url(PETSTORE)])
    stored = harness.api.event(first_id)

    (replay_id,) = harness.api.send({"name": stored["name"], "data": stored["data"]}, key="dev_key")

    replayed = harness.api.wait_for_run(replay_id)
    assert replay_id != first_id
    assert replayed["status"] == "Completed", replayed
    assert same_output(replayed) == same_output(first_run)
    batches = batch_events(harness.api, replayed)
    assert uids(batches) == PETSTORE_UIDS
    assert [stored["user"]] * len(batches) == [batch["user"] for batch in batches]


def test_rerun_of_a_run_gives_the_same_documents(harness: Harness) -> None:
    """The dev UI's "Rerun" (GraphQL `rerun`) completes and sends the same uids again."""
    _, first_run = trigger(harness, [harness.specs.url(PETSTORE)])

    rerun_id = harness.api.rerun(first_run["run_id"])

    rerun = harness.api.wait_for_run_id(rerun_id)
    assert rerun["status"] == "Completed", rerun
    assert same_output(rerun) == same_output(first_run)
    assert uids(batch_events(harness.api, rerun)) == PETSTORE_UIDS


def test_a_changed_env_file_is_used_by_the_next_post(harness: Harness) -> None:
    """Editing the app settings' .env changes the next event without a restart."""
    first, second = harness.specs.url(PETSTORE), harness.specs.url("specs/redocly_museum.yaml")
    ids = []
    for urls in ([first], [second]):
        harness.set_spec_urls(urls)
        response = harness.post()
        assert response.status_code == 200
        ids.append(response.json()["ids"][0])

    stored = [harness.api.event(event_id)["data"]["appSettings"]["openapiUrls"] for event_id in ids]
    assert stored == [[first], [second]]


def test_several_specs_with_broken_ones_complete_and_report_each(harness: Harness) -> None:
    """Good specs sync; a missing, an invalid and an unreachable one are reported, not fatal."""
    broken = harness.specs.put("broken.json", b'{"openapi": "3.0.0", "paths": {')
    urls = [
        harness.specs.url(PETSTORE),
        harness.specs.url("specs/redocly_museum.yaml"),
        harness.specs.url("status/404"),
        broken,
    ]

    _, run = trigger(harness, urls)

    assert run["status"] == "Completed", run
    specs = run["output"]["specs"]
    assert [spec["ok"] for spec in specs] == [True, True, False, False]
    assert [spec.get("operations") for spec in specs[:2]] == [3, 8]
    assert "HTTP 404" in specs[2]["error"]
    assert "invalid spec: invalid JSON" in specs[3]["error"]
    assert run["output"]["totals"] == {
        "specs": 4,
        "synced": 2,
        "failed": 2,
        "operations": 11,
        "batches": 2,
    }


def test_a_spec_host_failing_twice_then_answering_syncs_each_batch_once(harness: Harness) -> None:
    """HTTP 500 twice, then 200: Inngest retries the spec; every batch is on the server once."""
    path = f"flaky/retry-{time.monotonic_ns()}/2/specs/stripe_spec3.json"

    _, run = trigger(harness, [harness.specs.url(path)])

    assert run["status"] == "Completed", run
    assert harness.specs.hits[f"/{path}"] == 3
    batches = batch_events(harness.api, run)
    assert sorted(event["data"]["_page"] for event in batches) == [1, 2, 3, 4, 5]
    assert len({event["id"] for event in batches}) == len(batches)
    assert len(uids(batches)) == len(set(uids(batches))) == 417


def test_retries_of_the_last_spec_refetch_none_of_the_specs_before_it(harness: Harness) -> None:
    """The last spec runs in the final call: its retries replay the earlier specs' memos."""
    first = f"flaky/first-{time.monotonic_ns()}/0/{PETSTORE}"
    last = f"flaky/last-{time.monotonic_ns()}/2/specs/redocly_museum.yaml"

    _, run = trigger(harness, [harness.specs.url(first), harness.specs.url(last)])

    assert run["status"] == "Completed", run
    assert [spec["operations"] for spec in run["output"]["specs"]] == [3, 8]
    assert (harness.specs.hits[f"/{first}"], harness.specs.hits[f"/{last}"]) == (1, 3)
    assert 2 == harness.api.retries(run["run_id"])  # the final call, retried twice
    batches = batch_events(harness.api, run)
    assert sorted(event["id"].rsplit("-", 2)[1] for event in batches) == ["spec0", "spec1"]


def test_the_original_consumers_event_shape_syncs_for_its_top_level_user(
    harness: Harness,
) -> None:
    """`data.urls` with only a top-level `user` (no `v`): the function still knows the user."""
    user = {"id": "original-user", "email": "o@example.com"}
    (event_id,) = harness.api.send(
        {
            "name": APP_SYNC_EVENT,
            "data": {"urls": [harness.specs.url(PETSTORE)]},
            "user": user,
        },
        key="dev_key",
    )

    run = harness.api.wait_for_run(event_id)

    assert "Completed" == run["status"], run
    assert "original-user" == run["output"]["user"]
    assert [user] == [batch["user"] for batch in batch_events(harness.api, run)]


def test_an_unknown_event_version_fails_at_once_with_a_clear_error(harness: Harness) -> None:
    """`v: "2"` (read from the wire, which the SDK's Event model drops) fails without retries."""
    (event_id,) = harness.api.send(
        {
            "name": APP_SYNC_EVENT,
            "v": "2",
            "data": {"appSettings": {"openapiUrls": [harness.specs.url(PETSTORE)]}},
            "user": {"id": "u"},
        },
        key="dev_key",
    )

    run = harness.api.wait_for_run(event_id)

    assert "Failed" == run["status"], run
    assert "unsupported event version v='2'" in json.dumps(run["output"])
    assert 0 == harness.api.retries(run["run_id"])  # retries=2 would have made it 2


def test_the_served_app_sends_on_the_thread_that_made_its_inngest_client(
    harness: Harness,
) -> None:
    """The harness builds the app on its serving thread, as uvicorn does: the SDK's async path."""
    registry: Registry = harness.app.app.state.registry
    async_http = registry.services.sender.client._http_client._http_client

    assert harness.app.thread_id == async_http._creation_thread_id
