"""scripts/redis: a Redis with persistence, idempotent, keeping its port and data on restart."""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from harness.paths import ROOT
from harness.processes import note_started

SCRIPT = ROOT / "scripts" / "redis"


def redis(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Run scripts/redis."""
    return subprocess.run(  # noqa: S603 - our own script
        [str(SCRIPT), *arguments], capture_output=True, text=True, check=False, timeout=120
    )


def cli(url: str, *command: str) -> str:
    """A redis-cli command against `url`; its output."""
    port = str(urlsplit(url).port)
    return subprocess.run(  # noqa: S603 - the client of the server under test
        ["redis-cli", "-h", "127.0.0.1", "-p", port, *command],  # noqa: S607 - on the PATH
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()


@pytest.mark.slow
def test_start_is_idempotent_and_a_crash_keeps_the_url_and_the_data(tmp_path: Path) -> None:
    """Start twice: one URL; SIGKILL and start: the same URL, the write kept by the AOF."""
    directory = tmp_path / "redis"
    note_started("redis")
    try:
        first = redis("start", str(directory))
        again = redis("start", str(directory))
        # Redis writes the append-only file before it answers: a SIGKILL loses nothing of it
        # (only a crash of the machine loses what was not fsynced, at most a second).
        cli(first.stdout.strip(), "SET", "kept", "yes")
        crashed = redis("stop", str(directory), "--immediate")
        restarted = redis("start", str(directory))
        kept = cli(restarted.stdout.strip(), "GET", "kept")
        persistence = cli(restarted.stdout.strip(), "INFO", "persistence")
    finally:
        stopped = redis("stop", str(directory))
        stopped_again = redis("stop", str(directory))

    assert (0, 0, 0, 0) == (
        first.returncode,
        again.returncode,
        crashed.returncode,
        restarted.returncode,
    )
    assert first.stdout == again.stdout == restarted.stdout
    assert first.stdout.startswith("redis://127.0.0.1:")
    assert "yes" == kept
    assert "aof_enabled:1" in persistence.replace("\r", "")
    assert (0, 0) == (stopped.returncode, stopped_again.returncode)


def test_a_directory_of_something_else_is_refused(tmp_path: Path) -> None:
    """A non-empty directory without redis.conf: exit 1 and a message naming it."""
    directory = tmp_path / "other"
    directory.mkdir()
    (directory / "notes.txt").write_text("mine")

    result = redis("start", str(directory))

    assert 1 == result.returncode
    assert f"{directory} is neither empty nor a directory of scripts/redis" in result.stderr
    assert "" == result.stdout


@pytest.mark.parametrize("arguments", [[], ["start"], ["stop", "x", "--now"], ["restart", "x"]])
def test_bad_usage_says_how_to_call_it(arguments: list[str]) -> None:
    """Missing or unknown arguments: exit 1 and the usage line."""
    result = redis(*arguments)

    assert 1 == result.returncode
    assert "usage: scripts/redis" in result.stderr
