"""What only the SQLite file store does: persistence, its file checks, two processes on one file."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import apsw
import numpy as np
import pytest
import sqlite_vec

from appsync.index.base import SearchQuery, StoreConfigError
from appsync.index.factory import open_index
from appsync.index.sqlite import MIGRATIONS, SCHEMA_VERSION, sqlite_path, user_key
from harness.paths import ROOT
from harness.stores import MODEL, STRIPE, STRIPE_OPS, SYNC_1, SYNC_2, XERO, batch, record


def test_the_index_survives_closing_and_reopening(tmp_path: Path) -> None:
    """Rows written before close are there after reopening the file."""
    url = f"sqlite:///{tmp_path / 'index.sqlite3'}"

    async def scenario() -> int:
        index = await open_index(url, dimensions=4)
        await index.upsert(batch(STRIPE_OPS))
        await index.close()
        reopened = await open_index(url, dimensions=4)
        try:
            return (await reopened.stats("alice")).operations
        finally:
            await reopened.close()

    assert 3 == asyncio.run(scenario())


def test_a_file_made_for_other_dimensions_is_refused(tmp_path: Path) -> None:
    """Opening a 4-dimension file for a 384-dimension model says what to do."""
    url = f"sqlite:///{tmp_path / 'index.sqlite3'}"

    async def scenario() -> None:
        await (await open_index(url, dimensions=4)).close()
        await open_index(url, dimensions=384)

    with pytest.raises(StoreConfigError, match="holds 4-dimensional vectors, the model makes 384"):
        asyncio.run(scenario())


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://relative.db", "sqlite:///<relative path>"),
        ("sqlite:///dir/", "names no file"),
        ("mysql://host/db", "unknown store"),
    ],
)
def test_a_bad_index_url_names_the_setting(url: str, message: str) -> None:
    """An index URL the factory cannot open is an error naming APPSYNC_INDEX_URL."""
    with pytest.raises(StoreConfigError, match="APPSYNC_INDEX_URL") as raised:
        asyncio.run(open_index(url, dimensions=4))
    assert message in str(raised.value)


def test_relative_and_absolute_sqlite_urls() -> None:
    """Three slashes then a relative path; four for an absolute one."""
    assert (Path("data/i.db"), Path("/var/i.db")) == (
        sqlite_path("sqlite:///data/i.db"),
        sqlite_path("sqlite:////var/i.db"),
    )


_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from appsync.index.factory import open_index
    from harness.stores import XERO, batch, record

    async def main() -> None:
        index = await open_index(sys.argv[1], dimensions=4)
        for n in range(40):
            await index.upsert(batch([record(f"Other{n}", "other op")], url=XERO, total=40))
        await index.close()

    asyncio.run(main())
    """
)


def test_two_processes_write_the_same_file(tmp_path: Path) -> None:
    """A second process writing one source while this one writes another: no row is lost."""
    url = f"sqlite:///{tmp_path / 'index.sqlite3'}"
    asyncio.run(_create(url))
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, url], cwd=ROOT)  # noqa: S603 - this interpreter

    async def write_here() -> int:
        index = await open_index(url, dimensions=4)
        try:
            for n in range(40):
                ops = [record(f"Mine{n}", "my op")]
                await index.upsert(
                    batch(ops, urls=("http://specs.test/stripe.json", XERO), total=40)
                )
            writer.wait(timeout=60)
            return (await index.stats("alice")).operations
        finally:
            await index.close()

    assert 80 == asyncio.run(write_here())
    assert 0 == writer.returncode


async def _create(url: str) -> None:
    await (await open_index(url, dimensions=4)).close()


def test_a_file_of_schema_1_is_upgraded_in_place(tmp_path: Path) -> None:
    """A file an older appsync wrote keeps its rows, gains the vector cache, and writes on."""
    path = tmp_path / "index.sqlite3"
    _file_of_schema_1(path)

    async def scenario() -> tuple[list[str], int, int, int]:
        index = await open_index(f"sqlite:///{path}", dimensions=4)
        try:
            found = await index.search(
                SearchQuery(user_id="alice", text="refund", vector=None, model_id=MODEL)
            )
            confirmed = await index.upsert(
                batch([record("CreateRefund", "create a refund", vector=False)], sync=SYNC_2)
            )
            await index.upsert(batch(STRIPE_OPS[1:], url=XERO, sync=SYNC_2, total=2))
            return (
                [hit.uid for hit in found],
                confirmed.unchanged,
                (await index.stats()).cached_vectors,
                (await index.stats("alice")).operations,
            )
        finally:
            await index.close()

    assert (["CreateRefund"], 1, 2, 3) == asyncio.run(scenario())
    connection = apsw.Connection(str(path))
    assert [(str(SCHEMA_VERSION),)] == connection.execute(
        "SELECT value FROM meta WHERE key = 'schema_version'"
    ).fetchall()


def test_a_file_of_a_newer_appsync_is_refused(tmp_path: Path) -> None:
    """A schema version this code does not know: refused, saying to upgrade."""
    url = f"sqlite:///{tmp_path / 'index.sqlite3'}"
    asyncio.run(_create(url))
    connection = apsw.Connection(str(tmp_path / "index.sqlite3"))
    connection.execute(
        "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),)
    )
    connection.close()

    with pytest.raises(StoreConfigError, match="upgrade appsync"):
        asyncio.run(_create(url))


def _file_of_schema_1(path: Path) -> None:
    """An index file as appsync wrote it before the vector cache: one operation of alice's."""
    connection = apsw.Connection(str(path))
    connection.enable_load_extension(True)  # noqa: FBT003 - apsw's signature
    connection.load_extension(sqlite_vec.loadable_path())
    version, _, script = MIGRATIONS[0]
    connection.execute(script.format(dimensions=4))
    connection.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(version),))
    op = record("CreateRefund", "create a refund")
    connection.execute(
        "INSERT INTO operations (user_id, uid, source_url, service, version, method, path, "
        "operation_id, summary, tags, deprecated, keywords, text, content_hash, model_id, "
        "generation, user_key) VALUES (?, ?, ?, 'Stripe API', '1', 'post', '/v1/x', ?, ?, '[]', "
        "0, ?, ?, ?, ?, ?, ?)",
        (
            "alice",
            op.uid,
            STRIPE,
            op.uid,
            op.summary,
            op.keywords,
            op.text,
            op.content_hash,
            MODEL,
            SYNC_1,
            user_key("alice"),
        ),
    )
    connection.execute(
        "INSERT INTO operations_vec (id, user_id, model_id, embedding) VALUES (1, 'alice', ?, ?)",
        (MODEL, np.asarray(op.vector, np.float32).tobytes()),
    )
    connection.execute("INSERT INTO sources VALUES ('alice', ?, ?)", (STRIPE, SYNC_1))
    connection.execute(
        "INSERT INTO user_syncs VALUES ('alice', ?, ?)", (SYNC_1, json.dumps([STRIPE, XERO]))
    )
    connection.close()
