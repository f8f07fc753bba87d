"""scripts/cluster's command line (the cluster itself is tested in tests/e2e/test_cluster.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.cluster import SCRIPT


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "usage: scripts/cluster up DIR"),
        (["up"], "usage: scripts/cluster up DIR"),
        (["down"], "usage: scripts/cluster up DIR"),
        (["restart", "x"], "usage: scripts/cluster up DIR"),
        (["up", "x", "--replicas", "0"], "--replicas wants a number from 1 to 99"),
        (["up", "x", "--replicas", "two"], "--replicas wants a number from 1 to 99"),
        (["up", "x", "--retry-interval", "-1"], "--retry-interval wants whole seconds"),
        (["up", "x", "--now"], "usage: scripts/cluster up DIR"),
    ],
)
def test_bad_usage_says_how_to_call_it(arguments: list[str], message: str) -> None:
    """Missing, unknown or malformed arguments: exit 1 and what to do, before anything starts."""
    result = subprocess.run(  # noqa: S603 - our own script
        [str(SCRIPT), *arguments], capture_output=True, text=True, check=False, timeout=30
    )

    assert 1 == result.returncode
    assert message in result.stderr
    assert "" == result.stdout


def test_down_of_a_directory_that_never_ran_does_nothing(tmp_path: Path) -> None:
    """`down` of a missing directory: exit 0, nothing made."""
    result = subprocess.run(  # noqa: S603 - our own script
        [str(SCRIPT), "down", str(tmp_path / "never")], capture_output=True, text=True, check=False
    )

    assert (0, "") == (result.returncode, result.stderr)
    assert not (tmp_path / "never").exists()
