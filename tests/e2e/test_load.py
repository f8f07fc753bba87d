"""Load held, nothing lost: every 200 has its stored event, and no stored event lacks its 200.

The app runs as deployed (`appsync serve` in its own process) against a persisting dev server of
its own. The app is not synced, so the server only stores the events: this tests the route's
promise, not 2,000 function runs.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from appsync.events import APP_SYNC_EVENT
from harness.app_server import app_subprocess
from harness.inngest_api import InngestApi
from harness.inngest_server import InngestServer
from harness.load import Answer, LoadRun
from harness.waiting import wait_until

pytestmark = pytest.mark.e2e

TOTAL = 2000
CONCURRENCY = 32


@pytest.fixture
def persisting_server(inngest_binary: Path, tmp_path: Path) -> Iterator[InngestServer]:
    """`inngest dev --persist` with a fresh SQLite dir: a restart keeps what it accepted."""
    server = InngestServer(binary=inngest_binary, workdir=tmp_path / "inngest", persist=True)
    with server:
        yield server


def accepted_ids(answers: list[Answer]) -> list[str]:
    """The event ids of the 200 answers (each must hold exactly one)."""
    ids = []
    for answer in answers:
        if answer.status == 200:
            body = json.loads(answer.body)
            assert "true" == body["success"]
            (event_id,) = body["ids"]
            ids.append(event_id)
        else:
            assert b'"success"' not in answer.body
    return ids


def stored_ids(api: InngestApi) -> list[str]:
    """The ids of every stored sync event, once everything sent so far has been stored."""
    api.flush()
    return [event["internal_id"] for event in api.all_events(APP_SYNC_EVENT)]


def test_two_thousand_posts_store_exactly_one_event_each(
    persisting_server: InngestServer, tmp_path: Path
) -> None:
    """2,000 POSTs at concurrency 32: one stored event per 200, all 200s."""
    api = InngestApi(persisting_server.url)
    with app_subprocess(persisting_server.url, ["http://127.0.0.1:9/x.json"], tmp_path) as url:
        answers = asyncio.run(LoadRun(url, TOTAL, CONCURRENCY).run())

    ids = accepted_ids(answers)
    assert {200: TOTAL} == dict(Counter(answer.status for answer in answers))
    assert len(set(ids)) == len(ids) == TOTAL
    assert sorted(ids) == sorted(stored_ids(api))
    api.close()


def test_a_server_restart_under_load_loses_no_accepted_event(
    persisting_server: InngestServer, tmp_path: Path
) -> None:
    """The server stops and restarts mid-load: every 200 is stored, nothing else is."""
    api = InngestApi(persisting_server.url)
    progress = threading.Event()

    def on_answer(count: int) -> None:
        if count >= TOTAL // 3:
            progress.set()

    with app_subprocess(
        persisting_server.url,
        ["http://127.0.0.1:9/x.json"],
        tmp_path,
        extra_env={"APPSYNC_SEND_TIMEOUT": "5"},
    ) as url:
        load = LoadRun(url, TOTAL, CONCURRENCY)
        runner = threading.Thread(target=lambda: asyncio.run(load.run(on_answer)))
        runner.start()
        assert progress.wait(120), "the load did not get going"
        persisting_server.stop()
        answered = len(load.answers)
        wait_until(
            lambda: any(a.status != 200 for a in load.answers[answered:]),
            timeout=60,
            what="a POST failed while the server was down",
        )
        persisting_server.start()
        runner.join(300)
        assert not runner.is_alive()

    statuses = Counter(answer.status for answer in load.answers)
    ids = accepted_ids(load.answers)
    assert TOTAL == sum(statuses.values())
    assert statuses[200] < TOTAL, f"the restart refused nothing: {statuses}"
    assert set(statuses) <= {200, 502, 504}, statuses
    stored = stored_ids(api)
    assert set(ids) <= set(stored), "a 200 answer without its stored event"
    assert len(ids) == len(stored), f"{len(stored) - len(ids)} stored events have no 200"
    api.close()
