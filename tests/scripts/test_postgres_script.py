"""scripts/postgres: a PostgreSQL with pgvector from nothing, idempotent, with clear refusals."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest

from harness.paths import postgres_versions
from harness.postgres import SCRIPT, PostgresServer

pytestmark = pytest.mark.slow  # starts PostgreSQL servers


def test_start_is_idempotent_and_a_restart_keeps_the_url(tmp_path: Path) -> None:
    """Start twice: one server, one URL; stop twice: fine; start again: the same URL, data kept."""
    server = PostgresServer(tmp_path / "data")
    try:
        url = server.start()
        again = server.start()
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("CREATE TABLE kept (x int)")
            version = connection.execute("SHOW server_version").fetchone()
            vector = connection.execute(
                "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
            ).fetchone()
        server.stop()
        server.stop()
        restarted = server.start()
        with psycopg.connect(restarted) as connection:
            kept = connection.execute("SELECT to_regclass('kept') IS NOT NULL").fetchone()
    finally:
        server.stop()

    versions = postgres_versions()
    assert url == again == restarted
    assert url.startswith("postgresql://appsync@127.0.0.1:")
    assert url.endswith("/appsync")
    assert (versions["POSTGRES_VERSION"],) == version
    assert (versions["PGVECTOR_VERSION"],) == vector
    assert (True,) == kept


def test_a_directory_that_is_not_a_cluster_is_refused(tmp_path: Path) -> None:
    """A non-empty directory without PG_VERSION: exit 1 and a message naming it."""
    directory = tmp_path / "other"
    directory.mkdir()
    (directory / "notes.txt").write_text("mine")

    result = subprocess.run(  # noqa: S603 - our own script
        [str(SCRIPT), "start", str(directory)], capture_output=True, text=True, check=False
    )

    assert 1 == result.returncode
    assert f"{directory} is neither empty nor a PostgreSQL data directory" in result.stderr
    assert "" == result.stdout


@pytest.mark.parametrize("arguments", [[], ["start"], ["stop", "x", "--now"], ["restart", "x"]])
def test_bad_usage_says_how_to_call_it(arguments: list[str]) -> None:
    """Missing or unknown arguments: exit 1 and the usage line."""
    result = subprocess.run(  # noqa: S603 - our own script
        [str(SCRIPT), *arguments], capture_output=True, text=True, check=False
    )

    assert 1 == result.returncode
    assert "usage: scripts/postgres" in result.stderr
