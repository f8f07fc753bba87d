"""What only the PostgreSQL store has: its URL errors, migrations and many writer processes."""

from __future__ import annotations

import asyncio
import dataclasses
import re

import psycopg
import pytest
from psycopg import sql

from appsync.cli.dev_server import free_port
from appsync.index.base import (
    OperationRecord,
    SearchQuery,
    SourceRef,
    StoreConfigError,
    SyncRef,
    UpsertBatch,
)
from appsync.index.factory import open_index
from appsync.index.postgres import MIGRATIONS, SCHEMA_VERSION, PostgresIndex
from appsync.index.prepare import embed_hash

DIMENSIONS = 4
SPEC = "http://specs.test/a.json"


def test_an_unreachable_database_is_named_by_its_setting_without_the_password() -> None:
    """Nothing listens there: a StoreConfigError naming APPSYNC_INDEX_URL, password masked."""
    url = f"postgresql://appsync:s3cret@127.0.0.1:{free_port()}/appsync"

    with pytest.raises(StoreConfigError) as caught:
        asyncio.run(open_index(url, dimensions=DIMENSIONS))

    message = str(caught.value)
    assert message.startswith("APPSYNC_INDEX_URL 'postgresql://appsync:***@127.0.0.1:")
    assert "cannot connect" in message
    assert "s3cret" not in message


def test_a_user_who_may_not_create_tables_is_told_which_url(postgres_database: str) -> None:
    """A login role without rights on the schema: a StoreConfigError naming the URL and why."""
    with psycopg.connect(postgres_database, autocommit=True) as admin:
        admin.execute("DROP ROLE IF EXISTS appsync_reader")
        admin.execute("CREATE ROLE appsync_reader LOGIN")
        admin.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    reader_url = postgres_database.replace("//appsync@", "//appsync_reader@", 1)
    try:
        with pytest.raises(StoreConfigError) as caught:
            asyncio.run(_open_and_close(reader_url))
    finally:
        with psycopg.connect(postgres_database, autocommit=True) as admin:
            admin.execute("DROP OWNED BY appsync_reader")
            admin.execute("DROP ROLE appsync_reader")

    message = str(caught.value)
    assert message.startswith(f"APPSYNC_INDEX_URL {reader_url!r}: cannot create or migrate")
    assert "permission denied" in message


def test_opening_twice_migrates_once_and_records_the_version(postgres_database: str) -> None:
    """Two stores opened together on an empty database: one migration row per version."""

    async def open_two() -> None:
        first, second = await asyncio.gather(
            PostgresIndex.open(postgres_database, dimensions=DIMENSIONS),
            PostgresIndex.open(postgres_database, dimensions=DIMENSIONS),
        )
        await first.close()
        await second.close()

    asyncio.run(open_two())

    with psycopg.connect(postgres_database) as connection:
        rows = connection.execute(
            "SELECT version, description FROM appsync_index_migrations ORDER BY version"
        ).fetchall()
    assert [(m.version, m.description) for m in MIGRATIONS] == rows
    assert SCHEMA_VERSION == rows[-1][0]


def test_a_database_of_a_newer_appsync_is_refused(postgres_database: str) -> None:
    """A migration version this code does not know: refused, saying to upgrade."""
    asyncio.run(_open_and_close(postgres_database))
    with psycopg.connect(postgres_database) as connection:
        connection.execute(
            "INSERT INTO appsync_index_migrations (version, description) VALUES (%s, 'future')",
            (SCHEMA_VERSION + 1,),
        )

    with pytest.raises(StoreConfigError, match="upgrade appsync"):
        asyncio.run(_open_and_close(postgres_database))


def test_other_vector_dimensions_are_refused_with_the_way_out(postgres_database: str) -> None:
    """Tables made for 4 dimensions refuse a model of 8, naming an empty database and a re-sync."""
    asyncio.run(_open_and_close(postgres_database))

    with pytest.raises(StoreConfigError, match=re.escape("holds 4-dimensional vectors")):
        asyncio.run(_open_and_close(postgres_database, dimensions=8))


def test_many_writers_of_one_user_leave_each_operation_once(postgres_database: str) -> None:
    """Eight pools write one user's batches of two syncs at once: the newest sync, once each."""
    records = tuple(_record(f"op{n}") for n in range(30))

    def batch(sync: str) -> UpsertBatch:
        return UpsertBatch(
            user_id="u",
            source=SourceRef(url="http://specs.test/a.json", service="A", version="1"),
            sync=SyncRef(sync_id=sync, urls=("http://specs.test/a.json",)),
            total=len(records),
            model_id="m",
            records=records,
        )

    async def write() -> int:
        stores = [
            await PostgresIndex.open(postgres_database, dimensions=DIMENSIONS) for _ in range(8)
        ]
        try:
            await asyncio.gather(
                *(
                    store.upsert(batch(sync))
                    for store in stores
                    for sync in ("0001-a", "0002-b", "0001-a")
                )
            )
            return (await stores[0].stats("u")).operations
        finally:
            for store in stores:
                await store.close()

    operations = asyncio.run(write())

    with psycopg.connect(postgres_database) as connection:
        generations = connection.execute(
            "SELECT DISTINCT generation FROM appsync_operations"
        ).fetchall()
    assert 30 == operations
    assert [("0002-b",)] == generations


async def _open_and_close(url: str, dimensions: int = DIMENSIONS) -> None:
    store = await PostgresIndex.open(url, dimensions=dimensions)
    await store.close()


def _record(uid: str, *, vector: bool = True) -> OperationRecord:
    record = OperationRecord(
        uid=uid,
        method="get",
        path=f"/{uid}",
        operation_id=uid,
        summary=uid,
        tags=(),
        deprecated=False,
        keywords=uid,
        text=uid,
        content_hash=f"hash-{uid}",
        embed_hash=embed_hash(uid),
        vector=(1.0, 0.0, 0.0, 0.0),
    )
    return record if vector else dataclasses.replace(record, vector=None)


def test_a_database_of_schema_2_is_upgraded_in_place(postgres_database: str) -> None:
    """Rows an older appsync wrote are found by their new keys, confirmed, and pruned as before."""
    _database_of_schema_2(postgres_database)

    async def scenario() -> tuple[list[str], int, int, int]:
        store = await PostgresIndex.open(postgres_database, dimensions=DIMENSIONS)
        try:
            found = await store.search(
                SearchQuery(user_id="alice", text="op1", vector=None, model_id="m")
            )
            confirmed = await store.upsert(_batch("0002-b", [_record("op1", vector=False)]))
            stats = await store.stats()
            return [hit.uid for hit in found], confirmed.unchanged, confirmed.pruned, stats.users
        finally:
            await store.close()

    assert (["op1"], 1, 1, 1) == asyncio.run(scenario())
    with psycopg.connect(postgres_database) as connection:
        versions = connection.execute(
            "SELECT version FROM appsync_index_migrations ORDER BY version"
        ).fetchall()
        keys = connection.execute(
            "SELECT uid, embed_key IS NOT NULL FROM appsync_operations"
        ).fetchall()
    assert [(version,) for version in range(1, SCHEMA_VERSION + 1)] == versions
    assert [("op1", True)] == keys


def _batch(sync: str, records: list[OperationRecord]) -> UpsertBatch:
    return UpsertBatch(
        user_id="alice",
        source=SourceRef(url=SPEC, service="A", version="1"),
        sync=SyncRef(sync_id=sync, urls=(SPEC,)),
        total=len(records),
        model_id="m",
        records=tuple(records),
    )


def _database_of_schema_2(url: str) -> None:
    """The schema before keys by hash, with alice's two operations of one spec."""
    with psycopg.connect(url) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
        connection.execute(
            "CREATE TABLE appsync_index_migrations (version integer PRIMARY KEY, description "
            "text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for migration in MIGRATIONS[:2]:
            for statement in migration.statements:
                connection.execute(sql.SQL(statement).format(dimensions=sql.Literal(DIMENSIONS)))
            connection.execute(
                "INSERT INTO appsync_index_migrations (version, description) VALUES (%s, %s)",
                (migration.version, migration.description),
            )
        connection.execute(
            "INSERT INTO appsync_index_meta VALUES ('dimensions', %s)", (str(DIMENSIONS),)
        )
        for uid in ("op1", "op2"):
            op = _record(uid)
            connection.execute(
                "INSERT INTO appsync_operations (user_id, uid, source_url, service, version, "
                "method, path, operation_id, summary, tags, deprecated, keywords, text, "
                "content_hash, model_id, generation, embedding) VALUES ('alice', %s, %s, 'A', "
                "'1', 'get', %s, %s, %s, '{}', false, %s, %s, %s, 'm', '0001-a', %s)",
                (
                    uid,
                    SPEC,
                    op.path,
                    uid,
                    op.summary,
                    op.keywords,
                    op.text,
                    op.content_hash,
                    str(list(op.vector or ())),
                ),
            )
        connection.execute("INSERT INTO appsync_sources VALUES ('alice', %s, '0001-a')", (SPEC,))
        connection.execute(
            "INSERT INTO appsync_user_syncs VALUES ('alice', '0001-a', %s)", ([SPEC],)
        )
