"""`summarise`: a sync's status from what the server and the journal said (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from appsync.sync.status import IndexFailures, Progress, is_sync_id, owner_of, summarise

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
EVENT = {
    "internal_id": "01SYNC",
    "user": {"id": "ada"},
    "data": {"appSettings": {"openapiUrls": ["http://a/x.json", "http://b/y.json"]}},
}
PETSTORE = {"url": "http://a/x.json", "ok": True, "service": "P", "version": "1", "operations": 3}
BROKEN = {"url": "http://b/y.json", "ok": False, "error": "HTTP 404 Not Found"}


def status(run: dict[str, Any] | None, steps: list[dict[str, Any]], idle: float = 0) -> Any:
    """The summary of a progress whose last activity was `idle` seconds ago."""
    progress = Progress(EVENT, run, steps, NOW - timedelta(seconds=idle))
    return summarise("01SYNC", progress, now=NOW, stall_after=60).model_dump(by_alias=True)


def test_no_run_yet_is_queued() -> None:
    """An event whose run has not been scheduled is `queued`, with the expected spec count."""
    body = status(None, [])

    assert ("queued", [], 2) == (body["status"], body["specs"], body["totals"]["specs"])


def test_a_run_with_its_output_is_final() -> None:
    """A completed run with its end time and output: specs and totals from the output."""
    run = {"status": "Completed", "ended_at": "t1", "output": {"specs": [PETSTORE, BROKEN]}}

    body = status(run, [])

    assert "completed" == body["status"]
    assert ["synced", "failed"] == [spec["status"] for spec in body["specs"]]
    assert "HTTP 404 Not Found" == body["specs"][1]["error"]
    assert {"specs": 2, "synced": 1, "failed": 1, "operations": 3} == body["totals"]


def test_completed_before_its_end_is_recorded_is_still_running() -> None:
    """The server's list says Completed a moment before the end and output: still `running`."""
    body = status({"status": "Completed", "ended_at": None}, [PETSTORE])

    assert ("running", 1) == (body["status"], body["totals"]["synced"])


def test_a_run_whose_end_only_the_journal_recorded_is_completed() -> None:
    """The sync function recorded its end; the server lost it (killed): `completed`, not stalled."""
    ended = NOW - timedelta(seconds=500)
    progress = Progress(EVENT, {"status": "Running"}, [PETSTORE, BROKEN], ended, ended_at=ended)

    body = summarise("01SYNC", progress, now=NOW, stall_after=60).model_dump(by_alias=True)

    assert ("completed", ended.isoformat().replace("+00:00", "Z")) == (
        body["status"],
        body["endedAt"],
    )
    assert {"specs": 2, "synced": 1, "failed": 1, "operations": 3} == body["totals"]


def test_a_run_whose_end_the_server_has_not_recorded_yet_is_still_running() -> None:
    """The journal's end a moment ago: the server records its own within milliseconds; wait."""
    ended = NOW - timedelta(seconds=1)
    progress = Progress(EVENT, {"status": "Running"}, [PETSTORE], ended, ended_at=ended)

    body = summarise("01SYNC", progress, now=NOW, stall_after=60).model_dump(by_alias=True)

    assert ("running", None) == (body["status"], body["endedAt"])


def test_a_run_idle_past_the_bound_is_stalled() -> None:
    """Running with no activity for longer than the bound: `stalled`, saying what to do."""
    body = status({"status": "Running"}, [PETSTORE], idle=61)

    assert "stalled" == body["status"]
    assert "POST the sync again" in body["message"]


def test_cancelled_runs_say_so() -> None:
    """A run cancelled by a newer sync of the same user is `cancelled`, never `failed`."""
    body = status({"status": "Cancelled", "ended_at": "t1", "output": None}, [])

    assert "cancelled" == body["status"]


def test_a_cancelled_run_names_the_sync_that_superseded_it_or_says_it_was_not_one() -> None:
    """The message is true to what happened: a newer sync of the user, or a cancel from outside."""
    run = {"status": "Cancelled", "ended_at": "t1", "output": None}
    by_newer = Progress(EVENT, run, [], NOW, newer_sync="01NEWER")
    from_outside = Progress(EVENT, run, [], NOW)

    newer = summarise("01SYNC", by_newer, now=NOW, stall_after=60).message
    outside = summarise("01SYNC", from_outside, now=NOW, stall_after=60).message

    assert newer is not None
    assert "superseded by the newer sync 01NEWER" in newer
    assert outside is not None
    assert "not by a newer sync" in outside


def test_no_run_while_another_sync_of_the_user_ran_is_skipped() -> None:
    """An event the server gave no run while the user's other sync ran: `skipped`, naming it."""
    progress = Progress(EVENT, None, [], NOW, running_sync="01RUNNING")

    body = summarise("01SYNC", progress, now=NOW, stall_after=60)

    assert "skipped" == body.status
    assert body.message is not None
    assert "the sync 01RUNNING of the same user was running" in body.message
    assert "POST again" in body.message


def test_a_queued_sync_that_never_runs_stalls() -> None:
    """No run, no running sync of the user, for longer than the bound: `stalled`, not queued."""
    body = status(None, [], idle=61)

    assert "stalled" == body["status"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("01M8JDTRY6KSBTTHJ5ZDRB87KM", True),
        ("01m8jdtry6ksbtthj5zdrb87km", False),
        ("..", False),
        ("01M8JDTRY6KSBTTHJ5ZDRB87KM?x", False),
        ("01M8JDTRY6KSBTTHJ5ZDRB87K\x00", False),
        ("01M8JDTRY6KSBTTHJ5ZDRB87K\r\n", False),
        ("01M8JDTRY6KSBTTHJ5ZDRB87KM\n", False),
        ("", False),
    ],
)
def test_only_event_ids_are_sync_ids(value: str, expected: bool) -> None:
    """A sync id is a ULID as the server makes it; anything else is not looked up."""
    assert expected == is_sync_id(value)


def test_the_owner_is_the_top_level_user_else_data_user() -> None:
    """The sync belongs to `user.id`, or to `data.user.id` for a UI replay (no top-level user)."""
    replay = {"data": {"user": {"id": "bob"}}}

    assert ("ada", "bob", None) == (owner_of(EVENT), owner_of(replay), owner_of({"data": {}}))


def test_a_completed_sync_whose_indexing_failed_is_failed_saying_what_to_do() -> None:
    """Batches that failed for good: `failed`, how many operations, why, and what to do."""
    run = {"status": "Completed", "ended_at": "t1", "output": {"specs": [PETSTORE]}}
    progress = Progress(EVENT, run, [], NOW)
    failures = IndexFailures(operations=3, batches=1, error="FullError: database or disk is full")

    body = summarise(
        "01SYNC", progress, now=NOW, stall_after=60, indexed=0, index_failures=failures
    ).model_dump(by_alias=True)

    assert ("failed", 0) == (body["status"], body["indexed"])
    assert {"operations": 3, "batches": 1, "error": failures.error} == body["indexFailures"]
    assert body["message"].startswith("indexing failed: 3 of 3 operations are not searchable")
    assert "FullError: database or disk is full" in body["message"]
    assert "POST the sync again" in body["message"]


def test_a_completed_sync_without_index_failures_has_none() -> None:
    """Nothing failed: the status stays `completed` and says nothing of failures."""
    run = {"status": "Completed", "ended_at": "t1", "output": {"specs": [PETSTORE]}}

    body = summarise("01SYNC", Progress(EVENT, run, [], NOW), now=NOW, stall_after=60, indexed=3)

    assert ("completed", None, None) == (body.status, body.index_failures, body.message)
