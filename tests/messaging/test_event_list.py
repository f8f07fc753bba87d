"""The cache-busting query value of every GET of the Inngest server's REST API."""

from __future__ import annotations

import subprocess
import sys

from appsync.messaging.event_list import cache_buster

PRINT_THREE = "from appsync.messaging.event_list import cache_buster as b; print(b(), b(), b())"


def test_two_processes_never_send_the_same_value() -> None:
    """Replicas (and the test harness) each start afresh: their values still differ.

    The server caches an event's runs for 15 s by URL; a counter starting at 0 in every process
    made a fresh replica read another process's cached "no run yet".
    """
    first, second = (
        subprocess.run(  # noqa: S603 - this interpreter
            [sys.executable, "-c", PRINT_THREE], capture_output=True, text=True, check=True
        ).stdout.split()
        for _ in range(2)
    )

    assert 3 == len(set(first)) == len(set(second))
    assert not set(first) & set(second)


def test_one_process_never_repeats_a_value() -> None:
    """A thousand GETs, a thousand values."""
    assert 1000 == len({cache_buster() for _ in range(1000)})
