"""Faults at the spec host, end to end on the real dev server.

Every spec ends synced or with a clear error of its own, and no batch is ever sent twice.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from tests.conftest import Harness
from tests.test_e2e_dev import batches_of_run, trigger

pytestmark = pytest.mark.e2e


def test_slow_dropping_truncating_and_flaky_hosts_end_in_a_clear_outcome(
    harness: Harness,
) -> None:
    """Slower than the timeout, dropped, truncated, 500 then 200: one sync reports each."""
    key = f"faults-{time.monotonic_ns()}"
    target = "specs/oai_petstore_swagger2.json"
    paths = [
        f"slow/{harness.settings.fetch_timeout + 2:g}/{target}",
        f"drop/{target}",
        "truncated/specs/redocly_museum.yaml",
        f"flaky/{key}/1/specs/redocly_museum.yaml",
    ]

    _, run = trigger(harness, [harness.specs.url(path) for path in paths])

    assert "Completed" == run["status"], run
    slow, dropped, truncated, flaky = run["output"]["specs"]
    attempts = harness.settings.retries + 1
    assert (
        f"timed out after {harness.settings.fetch_timeout:g} s (after {attempts} attempts)"
        in (slow["error"])
    )
    assert "connection failed" in dropped["error"]
    assert f"(after {attempts} attempts)" in dropped["error"]
    assert "connection failed" in truncated["error"]
    assert (True, 8) == (flaky["ok"], flaky["operations"])
    assert attempts == harness.specs.hits[f"/drop/{target}"]

    batches = batches_of_run(harness, run)
    assert 1 == len(batches)
    assert [1] == list(Counter(event["id"] for event in batches).values())
