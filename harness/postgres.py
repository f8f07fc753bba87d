"""A real PostgreSQL with pgvector for tests: scripts/postgres starts it; a database per test."""

from __future__ import annotations

import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from harness.paths import ROOT
from harness.processes import note_started

SCRIPT = ROOT / "scripts" / "postgres"
# A server to use instead of starting one (its user must be allowed to create databases).
URL_VARIABLE = "APPSYNC_TEST_POSTGRES_URL"


class PostgresServer:
    """The server scripts/postgres runs in `directory` (initialised on first start)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def start(self) -> str:
        """Start it (or find it running) and return its URL."""
        note_started("postgres")
        result = self._script("start")
        return result.stdout.strip()

    def stop(self, *, immediate: bool = False) -> None:
        """Stop it; `immediate` skips the checkpoint, as a crash would."""
        self._script("stop", *(["--immediate"] if immediate else []))

    def _script(self, command: str, *flags: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(  # noqa: S603 - our own script
            [str(SCRIPT), command, str(self.directory), *flags],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        if result.returncode != 0:
            message = f"scripts/postgres {command} failed ({result.returncode}): {result.stderr}"
            raise RuntimeError(message)
        return result


def database_url(server_url: str, name: str) -> str:
    """The URL of database `name` on the server of `server_url`."""
    return urlsplit(server_url)._replace(path=f"/{name}").geturl()


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server, dropped afterwards; yields its URL."""
    name = f"appsync_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield database_url(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new database on a PostgreSQL that scripts/postgres runs in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="appsync-postgres-bench-") as tmp:
        server = PostgresServer(Path(tmp) / "data")
        try:
            with fresh_database(server.start()) as url:
                yield url
        finally:
            server.stop()
