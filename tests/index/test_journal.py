"""The sync journal and the shared keys, on every store (`STORES` in conftest)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from harness.stores import StoreCase, incompressible, open_store, store_url

SYNC_A = "01JAAAAAAAAAAAAAAAAAAAAAA1"
SYNC_B = "01JBBBBBBBBBBBBBBBBBBBBBB2"
PETSTORE = {"url": "http://a/pets.json", "ok": True, "service": "Petstore", "operations": 3}
BROKEN = {"url": "http://b/gone.json", "ok": False, "error": "HTTP 404 Not Found"}


def test_a_run_keeps_its_first_start_and_its_specs(store: StoreCase) -> None:
    """Recording a run again keeps its start; specs come back by index, with their summaries."""
    journal = store.index
    store.run(journal.record_run(SYNC_A, "run-1", "ada", ended=False))
    store.run(journal.record_spec(SYNC_A, "run-1", 1, BROKEN))
    store.run(journal.record_spec(SYNC_A, "run-1", 0, PETSTORE))
    store.run(journal.record_run(SYNC_A, "run-1", "ada", ended=False))

    (run,) = store.run(journal.runs(SYNC_A))

    assert ("run-1", "ada", False) == (run.run_id, run.user_id, run.ended)
    assert run.started_at <= run.updated_at
    assert {0: PETSTORE, 1: BROKEN} == run.specs


def test_an_ended_run_stays_ended(store: StoreCase) -> None:
    """Once a run is recorded as ended, a late record of it working does not reopen it."""
    journal = store.index
    store.run(journal.record_run(SYNC_A, "run-1", "ada", ended=True))
    store.run(journal.record_run(SYNC_A, "run-1", "ada", ended=False))

    (run,) = store.run(journal.runs(SYNC_A))

    assert run.ended


def test_a_rerun_is_a_run_of_its_own(store: StoreCase) -> None:
    """Two runs of one sync (a rerun) keep their specs apart, in run id order."""
    journal = store.index
    store.run(journal.record_run(SYNC_A, "run-2", "ada", ended=False))
    store.run(journal.record_run(SYNC_A, "run-1", "ada", ended=False))
    store.run(journal.record_spec(SYNC_A, "run-2", 0, BROKEN))

    runs = store.run(journal.runs(SYNC_A))

    assert [("run-1", {}), ("run-2", {0: BROKEN})] == [(r.run_id, dict(r.specs)) for r in runs]


def test_a_users_runs_since_a_time(store: StoreCase) -> None:
    """`runs_of_user` lists one user's runs started since a time, oldest first."""
    journal = store.index
    store.run(journal.record_run(SYNC_A, "run-1", "ada", ended=True))
    store.run(journal.record_run(SYNC_B, "run-2", "ada", ended=False))
    store.run(journal.record_run(SYNC_B, "run-3", "bob", ended=False))
    (first, _) = store.run(journal.runs_of_user("ada", since=0))

    later = store.run(journal.runs_of_user("ada", since=first.started_at + 3600))
    both = store.run(journal.runs_of_user("ada", since=first.started_at))

    assert ([], [SYNC_A, SYNC_B]) == (later, [run.sync_id for run in both])


def test_a_shared_key_is_made_once_and_kept(
    store: StoreCase, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The same name gives the same 32 bytes, also to another process's handle on the store."""
    key = store.run(store.index.shared_key("batch-signing"))
    again = store.run(store.index.shared_key("batch-signing"))
    other = store.run(store.index.shared_key("another"))

    async def from_a_second_handle() -> bytes:
        second = await open_store(store_url(store.name, request, tmp_path))
        try:
            return await second.shared_key("batch-signing")
        finally:
            await second.close()

    assert 32 == len(key)
    assert key == again == asyncio.run(from_a_second_handle())
    assert key != other


def test_any_user_id_and_summary_text_is_journalled_alike(store: StoreCase) -> None:
    """A 4,000-character or U+0000 user id keys its runs; U+0000 in a summary reads as U+FFFD."""
    journal = store.index
    long_user, nul_user = incompressible(4_000), "ada\x00"
    store.run(journal.record_run(SYNC_A, "run-1", long_user, ended=False))
    store.run(journal.record_run(SYNC_B, "run-2", nul_user, ended=False))
    store.run(journal.record_spec(SYNC_B, "run-2", 0, BROKEN | {"error": "bad\x00byte"}))

    (long_run,) = store.run(journal.runs_of_user(long_user, since=0))
    (nul_run,) = store.run(journal.runs_of_user(nul_user, since=0))
    (recorded,) = store.run(journal.runs(SYNC_B))

    assert (SYNC_A, SYNC_B) == (long_run.sync_id, nul_run.sync_id)
    assert [] == store.run(journal.runs_of_user("ada\ufffd", since=0))
    assert ("ada\ufffd", "bad\ufffdbyte") == (recorded.user_id, recorded.specs[0]["error"])
