"""The embedded store: one SQLite file, sqlite-vec vectors and an FTS5 (porter) index side by side.

SQLite is reached through `apsw`, which can load the sqlite-vec extension (this machine's Python
`sqlite3` cannot). The file is in WAL mode, so searches never wait for a writer and two processes
can share it; every `upsert` runs in one `BEGIN IMMEDIATE` transaction, which serialises writers of
all processes, so the re-sync rules of `appsync.index.base` hold across processes too.

Threads: writes run on one worker thread with its own connection, searches on a small pool of
reader threads with one connection each; the event loop never blocks on SQLite.

Tables: `operations` (one row per (user_id, uid): metadata, lexical fields, content hash, model id,
generation), `operations_fts` (FTS5 over `keywords` and `text`, kept in step by triggers, plus a
one-token `user_key` per user: a lexical query matches that token AND its words, so it ranks only
that user's rows instead of every user's matches),
`operations_vec` (vec0, cosine; partitioned by user, with the model id as a filter column),
`sources` (the generation of each (user, spec URL), kept as a tombstone), `user_syncs` (each
user's newest sync and its URLs), `vectors` (the shared vector cache: one per (model id, embedded
text); triggers on `operations` delete the entries no row holds any more), `meta` (schema version
and vector dimensions); the operations' cards (`operation_cards`, by (user_id, uid), written with
their rows and deleted with them by a trigger); the sync journal (`sync_runs`, `sync_specs`) and
the shared keys (`keys`). The file is made readable by its owner only: it holds a key.

Schema: `MIGRATIONS`, applied in order when the file opens, in one write transaction, from the
version `meta` records: an index file made by an older appsync is upgraded in place; one made by
a newer appsync is refused. Writers of all processes serialise on the file's write lock, so the
cache's triggers see every row (no race can keep an entry nobody holds).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import apsw
import numpy as np
import sqlite_vec

from appsync.index import rows
from appsync.index.base import (
    JOURNAL_RETENTION_S,
    Hit,
    IndexStats,
    Known,
    Ranking,
    SearchQuery,
    SourceSummary,
    StoreConfigError,
    SyncRun,
    UpsertBatch,
    UpsertResult,
    storable,
    storable_json,
)
from appsync.index.ranking import (
    KEYWORDS_WEIGHT,
    LEXICAL_CANDIDATES,
    TEXT_WEIGHT,
    VECTOR_CANDIDATES,
    Ranked,
    fuse,
    lexical_terms,
)

BUSY_TIMEOUT_MS = 30_000
READERS = 2

T = TypeVar("T")

# Version 1 was made with CREATE ... IF NOT EXISTS; files of that time record "1" in `meta`.
_SCHEMA_1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS operations (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    uid TEXT NOT NULL,
    source_url TEXT NOT NULL,
    service TEXT NOT NULL,
    version TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    operation_id TEXT,
    summary TEXT NOT NULL,
    tags TEXT NOT NULL,
    deprecated INTEGER NOT NULL,
    keywords TEXT NOT NULL,
    text TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    model_id TEXT NOT NULL,
    generation TEXT NOT NULL,
    user_key TEXT NOT NULL,
    UNIQUE (user_id, uid)
);
CREATE INDEX IF NOT EXISTS operations_by_source
    ON operations (user_id, source_url, generation);
CREATE VIRTUAL TABLE IF NOT EXISTS operations_fts USING fts5(
    keywords, text, user_key, content='operations', content_rowid='id',
    tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS operations_ai AFTER INSERT ON operations BEGIN
    INSERT INTO operations_fts (rowid, keywords, text, user_key)
        VALUES (new.id, new.keywords, new.text, new.user_key);
END;
CREATE TRIGGER IF NOT EXISTS operations_ad AFTER DELETE ON operations BEGIN
    INSERT INTO operations_fts (operations_fts, rowid, keywords, text, user_key)
        VALUES ('delete', old.id, old.keywords, old.text, old.user_key);
    DELETE FROM operations_vec WHERE id = old.id;
END;
CREATE TRIGGER IF NOT EXISTS operations_au AFTER UPDATE OF keywords, text ON operations BEGIN
    INSERT INTO operations_fts (operations_fts, rowid, keywords, text, user_key)
        VALUES ('delete', old.id, old.keywords, old.text, old.user_key);
    INSERT INTO operations_fts (rowid, keywords, text, user_key)
        VALUES (new.id, new.keywords, new.text, new.user_key);
END;
CREATE TABLE IF NOT EXISTS sources (
    user_id TEXT NOT NULL,
    source_url TEXT NOT NULL,
    generation TEXT NOT NULL,
    PRIMARY KEY (user_id, source_url)
);
CREATE TABLE IF NOT EXISTS user_syncs (
    user_id TEXT PRIMARY KEY,
    sync_id TEXT NOT NULL,
    urls TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS keys (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS sync_runs (
    sync_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    started_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    ended INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (sync_id, run_id)
);
CREATE INDEX IF NOT EXISTS sync_runs_by_user ON sync_runs (user_id, started_at);
CREATE INDEX IF NOT EXISTS sync_runs_by_age ON sync_runs (updated_at);
CREATE TABLE IF NOT EXISTS sync_specs (
    sync_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    spec_index INTEGER NOT NULL,
    summary TEXT NOT NULL,
    PRIMARY KEY (sync_id, run_id, spec_index)
);
CREATE VIRTUAL TABLE IF NOT EXISTS operations_vec USING vec0(
    id INTEGER PRIMARY KEY, user_id TEXT PARTITION KEY, model_id TEXT,
    embedding float[{dimensions}] distance_metric=cosine
);
INSERT OR IGNORE INTO meta VALUES ('dimensions', '{dimensions}');
"""

# The cache entry of a row's text goes when no row holds it any more (rule 8).
_RELEASE = """
    DELETE FROM vectors WHERE model_id = old.model_id AND embed_key = old.embed_key
        AND NOT EXISTS (SELECT 1 FROM operations
                        WHERE model_id = old.model_id AND embed_key = old.embed_key);
"""

_SCHEMA_2 = f"""
ALTER TABLE operations ADD COLUMN embed_key TEXT;
CREATE INDEX operations_by_embed ON operations (model_id, embed_key);
CREATE TABLE vectors (
    model_id TEXT NOT NULL,
    embed_key TEXT NOT NULL,
    embedding BLOB NOT NULL,
    PRIMARY KEY (model_id, embed_key)
) WITHOUT ROWID;
DROP TRIGGER operations_ad;
CREATE TRIGGER operations_ad AFTER DELETE ON operations BEGIN
    INSERT INTO operations_fts (operations_fts, rowid, keywords, text, user_key)
        VALUES ('delete', old.id, old.keywords, old.text, old.user_key);
    DELETE FROM operations_vec WHERE id = old.id;
    {_RELEASE}
END;
CREATE TRIGGER operations_released AFTER UPDATE OF model_id, embed_key ON operations
WHEN old.embed_key IS NOT new.embed_key OR old.model_id IS NOT new.model_id BEGIN
    {_RELEASE}
END;
"""

# Each operation's card, written with its row and deleted with it.
_SCHEMA_3 = """
CREATE TABLE operation_cards (
    user_id TEXT NOT NULL,
    uid TEXT NOT NULL,
    card TEXT NOT NULL,
    PRIMARY KEY (user_id, uid)
);
CREATE TRIGGER operations_cards_ad AFTER DELETE ON operations BEGIN
    DELETE FROM operation_cards WHERE user_id = old.user_id AND uid = old.uid;
END;
"""

# (version, what it changes, SQL with {{dimensions}}), applied in order (see the module docstring).
MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (1, "operations, full text, vectors, sources, user syncs, journal, keys", _SCHEMA_1),
    (2, "the shared vector cache and each row's embedded-text key", _SCHEMA_2),
    (3, "operation cards", _SCHEMA_3),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]

_NOW = "unixepoch('subsec')"


def _placeholders(count: int) -> str:
    return ",".join("?" * count)


_UPSERT_ROW = f"""
INSERT INTO operations (user_id, uid, source_url, user_key, {", ".join(rows.CONTENT_COLUMNS)})
VALUES ({_placeholders(4 + len(rows.CONTENT_COLUMNS))})
ON CONFLICT (user_id, uid) DO UPDATE SET source_url = excluded.source_url,
    {", ".join(f"{column} = excluded.{column}" for column in rows.CONTENT_COLUMNS)}
RETURNING id
"""

# A row written before the vector cache has no embed key: an unchanged confirmation gives it one.
_CONFIRM_ROW = """
UPDATE operations SET generation = ?, source_url = ?, service = ?, version = ?,
    embed_key = coalesce(embed_key, ?)
WHERE user_id = ? AND uid = ? AND content_hash = ? AND model_id = ?
RETURNING id
"""

_UPSERT_CARD = """
INSERT INTO operation_cards (user_id, uid, card) VALUES (?, ?, ?)
ON CONFLICT (user_id, uid) DO UPDATE SET card = excluded.card
"""

_SOURCES = """
SELECT o.source_url, o.service, o.version, count(*), s.generation,
    (SELECT r.sync_id FROM sync_runs AS r WHERE r.user_id = o.user_id AND r.run_id = s.generation)
FROM operations AS o JOIN sources AS s ON s.user_id = o.user_id AND s.source_url = o.source_url
WHERE o.user_id = ?
GROUP BY o.source_url, o.service, o.version
ORDER BY o.service, o.source_url, o.version
"""

_HIT_COLUMNS = ", ".join(rows.HIT_COLUMNS)
_RUN_COLUMNS = "SELECT sync_id, run_id, user_id, started_at, updated_at, ended FROM sync_runs"


def sqlite_path(url: str) -> Path:
    """The file of a `sqlite:///relative` or `sqlite:////absolute` URL."""
    if not url.startswith("sqlite:///"):
        raise StoreConfigError(
            f"APPSYNC_INDEX_URL {url!r}: a SQLite index URL is sqlite:///<relative path> or "
            "sqlite:////<absolute path>"
        )
    path = url.removeprefix("sqlite:///")
    if not path or path.endswith("/"):
        raise StoreConfigError(f"APPSYNC_INDEX_URL {url!r} names no file")
    return Path(path)


def _create_private(path: Path) -> None:
    """Create the index file readable by its owner only: it holds a key.

    SQLite's WAL and shared-memory files take the same mode; an existing file is left as it is.
    """
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def user_key(user_id: str) -> str:
    """The one full-text token that stands for a user (letters and digits only)."""
    return "u" + hashlib.sha256(user_id.encode("utf-8", "surrogatepass")).hexdigest()[:20]


def _connect(path: Path) -> apsw.Connection:
    connection = apsw.Connection(str(path))
    connection.set_busy_timeout(BUSY_TIMEOUT_MS)
    connection.enable_load_extension(True)  # noqa: FBT003 - apsw's signature
    connection.load_extension(sqlite_vec.loadable_path())
    connection.enable_load_extension(False)  # noqa: FBT003 - apsw's signature
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    return connection


@contextlib.contextmanager
def _immediate(connection: apsw.Connection) -> Iterator[None]:
    """A write transaction that takes the file's write lock at once (no upgrade deadlocks)."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _all(db: apsw.Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """Every row of a query (rows are plain tuples)."""
    return db.execute(sql, params).fetchall()


def _one(db: apsw.Connection, sql: str, params: Sequence[Any] = ()) -> Any:  # noqa: ANN401 - a row
    """The first row of a query, or None."""
    return db.execute(sql, params).fetchone()


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _blob(vector: Sequence[float] | None) -> bytes:
    """A vector as sqlite-vec stores it: float32, little-endian."""
    return np.asarray(vector, np.float32).tobytes()


class _Workers:
    """A thread pool whose threads each hold one connection to the file."""

    def __init__(self, path: Path, threads: int, name: str) -> None:
        self._path = path
        self._local = threading.local()
        self._connections: list[apsw.Connection] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)

    def _connection(self) -> apsw.Connection:
        connection: apsw.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = _connect(self._path)
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    async def run(self, work: Callable[[apsw.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: work(self._connection()))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()


class SqliteIndex:
    """The operations index in one SQLite file (see the module docstring)."""

    def __init__(self, path: Path, *, dimensions: int) -> None:
        self.path = path
        self.dimensions = dimensions
        self._writer = _Workers(path, 1, "index-writer")
        self._readers = _Workers(path, READERS, "index-reader")

    @classmethod
    async def open(cls, path: Path, *, dimensions: int) -> SqliteIndex:
        """Open (creating when needed) the index file; refuse one made for other dimensions."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreConfigError(
                f"cannot create the index directory {path.parent} ({exc.strerror}): "
                "check APPSYNC_DATA_DIR / APPSYNC_INDEX_URL"
            ) from None
        await asyncio.to_thread(_create_private, path)
        index = cls(path, dimensions=dimensions)
        try:
            await index._writer.run(index._create_schema)
        except apsw.Error as exc:
            index._close_workers()
            raise StoreConfigError(f"cannot open the index file {path}: {exc}") from None
        except BaseException:
            index._close_workers()
            raise
        return index

    def _create_schema(self, db: apsw.Connection) -> None:
        with _immediate(db):
            applied = 0
            if _one(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"):
                row = _one(db, "SELECT value FROM meta WHERE key = 'schema_version'")
                applied = int(row[0]) if row is not None else 0
            if applied > SCHEMA_VERSION:
                raise StoreConfigError(
                    f"the index file {self.path} has schema version {applied}, this appsync "
                    f"knows up to {SCHEMA_VERSION}: upgrade appsync (or point APPSYNC_INDEX_URL "
                    "at another file)"
                )
            for version, _, script in MIGRATIONS:
                if version > applied:
                    db.execute(script.format(dimensions=int(self.dimensions)))
                    db.execute(
                        "INSERT INTO meta VALUES ('schema_version', ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (str(version),),
                    )
            (stored,) = _one(db, "SELECT value FROM meta WHERE key = 'dimensions'")
        if stored != str(self.dimensions):
            raise StoreConfigError(
                f"the index file {self.path} holds {stored}-dimensional vectors, "
                f"the model makes {self.dimensions}: move the file away and re-sync"
            )

    # --- writes -------------------------------------------------------------------------

    async def upsert(self, batch: UpsertBatch) -> UpsertResult:
        """Apply one batch under the re-sync rules, in one transaction."""
        rows.check_dimensions(self.dimensions, batch)
        return await self._writer.run(lambda db: self._upsert(db, batch))

    @staticmethod
    def _is_stale(db: apsw.Connection, user_id: str, source_url: str, sync_id: str) -> bool:
        row = _one(
            db,
            "SELECT generation FROM sources WHERE user_id = ? AND source_url = ?",
            (user_id, source_url),
        )
        if row is not None and sync_id < row[0]:
            return True
        newest = db.execute(
            "SELECT sync_id, urls FROM user_syncs WHERE user_id = ?", (user_id,)
        ).fetchone()
        return (
            newest is not None and sync_id < newest[0] and source_url not in json.loads(newest[1])
        )

    def _upsert(self, db: apsw.Connection, batch: UpsertBatch) -> UpsertResult:
        user, url, generation = batch.user_id, batch.source.url, batch.sync.sync_id
        tally = rows.Tally()
        with _immediate(db):
            if self._is_stale(db, user, url, generation):
                return UpsertResult(stale=True)
            self._advance_user(db, batch, tally)
            db.execute(
                "INSERT INTO sources VALUES (?, ?, ?) ON CONFLICT (user_id, source_url) "
                "DO UPDATE SET generation = excluded.generation WHERE excluded.generation > "
                "sources.generation",
                (user, url, generation),
            )
            self._write_records(db, batch, tally)
            (count,) = _one(
                db,
                "SELECT count(*) FROM operations WHERE user_id = ? AND source_url = ? "
                "AND generation = ?",
                (user, url, generation),
            )
            if count >= batch.total:
                db.execute(
                    "DELETE FROM operations "
                    "WHERE user_id = ? AND source_url = ? AND generation < ?",
                    (user, url, generation),
                )
                tally.pruned = db.changes()
            if batch.share_vectors:
                db.executemany(
                    "INSERT OR IGNORE INTO vectors VALUES (?, ?, ?)",
                    [
                        (batch.model_id, record.embed_hash, _blob(record.vector))
                        for record in batch.records
                        if record.vector is not None
                    ],
                )
        return tally.result()

    @staticmethod
    def _advance_user(db: apsw.Connection, batch: UpsertBatch, tally: rows.Tally) -> None:
        user, generation = batch.user_id, batch.sync.sync_id
        newest = _one(db, "SELECT sync_id FROM user_syncs WHERE user_id = ?", (user,))
        if newest is not None and generation <= newest[0]:
            return
        urls = sorted(set(batch.sync.urls))
        db.execute(
            "INSERT INTO user_syncs VALUES (?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET "
            "sync_id = excluded.sync_id, urls = excluded.urls",
            (user, generation, json.dumps(urls)),
        )
        gone = _all(
            db,
            "SELECT source_url FROM sources WHERE user_id = ? AND source_url NOT IN "
            f"({_placeholders(len(urls))}) ORDER BY source_url",
            (user, *urls),
        )
        for (source_url,) in gone:
            db.execute(
                "DELETE FROM operations WHERE user_id = ? AND source_url = ?", (user, source_url)
            )
            changes = db.changes()
            tally.removed += changes
            db.execute(
                "UPDATE sources SET generation = ? WHERE user_id = ? AND source_url = ?",
                (generation, user, source_url),
            )
            if changes:
                tally.removed_sources.append(source_url)

    @staticmethod
    def _write_records(db: apsw.Connection, batch: UpsertBatch, tally: rows.Tally) -> None:
        user, url = batch.user_id, batch.source.url
        for record in batch.records:
            if record.vector is None:
                confirmed = _all(
                    db,
                    _CONFIRM_ROW,
                    (
                        batch.sync.sync_id,
                        url,
                        storable(batch.source.service),
                        storable(batch.source.version),
                        record.embed_hash,
                        user,
                        record.uid,
                        record.content_hash,
                        batch.model_id,
                    ),
                )
                if confirmed:
                    tally.unchanged += 1
                else:
                    tally.needs_vectors.append(record.uid)
                continue
            ((row_id,),) = _all(
                db,
                _UPSERT_ROW,
                (
                    user,
                    record.uid,
                    url,
                    user_key(user),
                    *rows.content_values(batch, record, tags=_json, embed_key=str),
                ),
            )
            db.execute("DELETE FROM operations_vec WHERE id = ?", (row_id,))
            db.execute(
                "INSERT INTO operations_vec (id, user_id, model_id, embedding) VALUES (?, ?, ?, ?)",
                (row_id, user, batch.model_id, _blob(record.vector)),
            )
            if record.card is None:
                db.execute(
                    "DELETE FROM operation_cards WHERE user_id = ? AND uid = ?", (user, record.uid)
                )
            else:
                db.execute(_UPSERT_CARD, (user, record.uid, record.card))
            tally.written += 1

    async def delete(self, user_id: str, *, source_url: str | None = None) -> int:
        """Delete a user's rows (of one source, or all); generations stay as tombstones."""

        def work(db: apsw.Connection) -> int:
            with _immediate(db):
                if source_url is None:
                    db.execute("DELETE FROM operations WHERE user_id = ?", (user_id,))
                else:
                    db.execute(
                        "DELETE FROM operations WHERE user_id = ? AND source_url = ?",
                        (user_id, source_url),
                    )
                return db.changes()

        return await self._writer.run(work)

    # --- reads --------------------------------------------------------------------------

    async def known(
        self, user_id: str, source_url: str, sync_id: str, model_id: str, uids: Sequence[str]
    ) -> Known:
        """Whether a batch would be stale, and the stored hashes of `uids` for `model_id`."""

        def work(db: apsw.Connection) -> Known:
            hashes: dict[str, str] = {}
            with db:  # one read snapshot
                stale = self._is_stale(db, user_id, source_url, sync_id)
                unique = [] if stale else list(dict.fromkeys(uids))
                for start in range(0, len(unique), 500):
                    chunk = unique[start : start + 500]
                    hashes.update(
                        _all(
                            db,
                            "SELECT uid, content_hash FROM operations WHERE user_id = ? AND "
                            f"model_id = ? AND uid IN ({_placeholders(len(chunk))})",
                            (user_id, model_id, *chunk),
                        )
                    )
            return Known(stale=stale, hashes=hashes)

        return await self._readers.run(work)

    async def cached_vectors(
        self, model_id: str, embed_hashes: Sequence[str]
    ) -> Mapping[str, tuple[float, ...]]:
        """The shared cache's vectors of those embed hashes for a model (the ones found)."""

        def work(db: apsw.Connection) -> dict[str, tuple[float, ...]]:
            unique = list(dict.fromkeys(embed_hashes))
            found: dict[str, tuple[float, ...]] = {}
            with db:
                for start in range(0, len(unique), 500):
                    chunk = unique[start : start + 500]
                    for key, blob in _all(
                        db,
                        "SELECT embed_key, embedding FROM vectors WHERE model_id = ? AND "
                        f"embed_key IN ({_placeholders(len(chunk))})",
                        (model_id, *chunk),
                    ):
                        found[key] = tuple(np.frombuffer(blob, np.float32).tolist())
            return found

        return await self._readers.run(work)

    async def search(self, query: SearchQuery) -> list[Hit]:
        """The user's operations that best answer the query, best first."""
        return await self._readers.run(lambda db: self._search(db, query))

    @staticmethod
    def _filter_sql(query: SearchQuery) -> tuple[str, list[Any]]:
        clauses, params = ["o.user_id = ?"], [query.user_id]
        filters = query.filters
        if filters.service is not None:
            clauses.append("o.service = ?")
            params.append(storable(filters.service))
        if filters.method is not None:
            clauses.append("o.method = ?")
            params.append(storable(filters.method.lower()))
        if filters.tag is not None:
            clauses.append("EXISTS (SELECT 1 FROM json_each(o.tags) WHERE json_each.value = ?)")
            params.append(storable(filters.tag))
        return " AND ".join(clauses), params

    def _lexical(self, db: apsw.Connection, query: SearchQuery, limit: int) -> list[Ranked]:
        terms = lexical_terms(query.text)
        if not terms:
            return []
        words = " OR ".join(f'"{term}"' for term in terms)
        match = f'user_key : "{user_key(query.user_id)}" AND ({words})'
        where, params = self._filter_sql(query)
        matched = _all(
            db,
            f"SELECT o.uid, bm25(operations_fts, {KEYWORDS_WEIGHT}, {TEXT_WEIGHT}, 0.0) AS rank "
            "FROM operations_fts JOIN operations AS o ON o.id = operations_fts.rowid "
            f"WHERE operations_fts MATCH ? AND {where} ORDER BY rank LIMIT ?",
            (match, *params, limit),
        )
        return [(uid, -float(rank)) for uid, rank in matched]

    def _vector(self, db: apsw.Connection, query: SearchQuery, limit: int) -> list[Ranked]:
        if query.vector is None:
            return []
        rows.check_dimensions(self.dimensions, query=query)
        blob = np.asarray(query.vector, np.float32).tobytes()
        sql = (
            "SELECT o.uid, v.distance FROM operations_vec AS v JOIN operations AS o ON o.id = v.id "
            "WHERE v.embedding MATCH ? AND v.k = ? AND v.user_id = ? AND v.model_id = ?"
        )
        params: list[Any] = [blob, limit, query.user_id, query.model_id]
        filters = query.filters
        if filters.service is not None or filters.method is not None or filters.tag is not None:
            where, filter_params = self._filter_sql(query)
            sql += f" AND v.id IN (SELECT o.id FROM operations AS o WHERE {where})"
            params.extend(filter_params)
        nearest = _all(db, sql + " ORDER BY v.distance", params)
        return [(uid, 1.0 - float(distance)) for uid, distance in nearest]

    def _search(self, db: apsw.Connection, query: SearchQuery) -> list[Hit]:
        with db:  # one read snapshot for both halves and the rows
            if query.ranking is Ranking.LEXICAL:
                ranked = self._lexical(db, query, query.k)
            elif query.ranking is Ranking.VECTOR:
                ranked = self._vector(db, query, query.k)
            else:
                ranked = fuse(
                    self._lexical(db, query, max(LEXICAL_CANDIDATES, query.k)),
                    self._vector(db, query, max(VECTOR_CANDIDATES, query.k)),
                )
            ranked = ranked[: query.k]
            if not ranked:
                return []
            uids = [uid for uid, _ in ranked]
            found = {
                row[0]: row
                for row in _all(
                    db,
                    f"SELECT {_HIT_COLUMNS} FROM operations WHERE user_id = ? "
                    f"AND uid IN ({_placeholders(len(uids))})",
                    (query.user_id, *uids),
                )
            }
        return [
            rows.hit(found[uid], score, json.loads(found[uid][7]))
            for uid, score in ranked
            if uid in found
        ]

    async def stats(self, user_id: str | None = None, sync_id: str | None = None) -> IndexStats:
        """Counts of rows, users, sources, rows per model id, and rows of one sync."""

        def work(db: apsw.Connection) -> IndexStats:
            where, params = ("WHERE user_id = ?", (user_id,)) if user_id is not None else ("", ())
            with db:
                operations, users, sources = _one(
                    db,
                    "SELECT count(*), count(DISTINCT user_id), "
                    f"count(DISTINCT user_id || char(0) || source_url) FROM operations {where}",
                    params,
                )
                by_model: dict[str, int] = dict(
                    _all(
                        db,
                        f"SELECT model_id, count(*) FROM operations {where} GROUP BY model_id",
                        params,
                    )
                )
                in_sync = 0
                if sync_id is not None:
                    (in_sync,) = _one(
                        db,
                        "SELECT count(*) FROM operations WHERE generation = ?"
                        + (" AND user_id = ?" if user_id is not None else ""),
                        (sync_id, user_id) if user_id is not None else (sync_id,),
                    )
                cached = 0 if user_id is not None else _one(db, "SELECT count(*) FROM vectors")[0]
            return IndexStats(
                operations=operations,
                users=users,
                sources=sources,
                by_model=by_model,
                in_sync=in_sync,
                cached_vectors=cached,
            )

        return await self._readers.run(work)

    async def card(self, user_id: str, uid: str) -> str | None:
        """The card (JSON text) of one of the user's operations; None if none is stored."""

        def work(db: apsw.Connection) -> str | None:
            row = _one(
                db, "SELECT card FROM operation_cards WHERE user_id = ? AND uid = ?", (user_id, uid)
            )
            return None if row is None else str(row[0])

        return await self._readers.run(work)

    async def sources(self, user_id: str) -> list[SourceSummary]:
        """The user's synced specs with their operation counts, by service name then URL."""

        def work(db: apsw.Connection) -> list[SourceSummary]:
            with db:
                rows = _all(db, _SOURCES, (user_id,))
            return [
                SourceSummary(url, service, version, int(count), generation, event_id)
                for url, service, version, count, generation, event_id in rows
            ]

        return await self._readers.run(work)

    # --- the sync journal and the shared keys ----------------------------------------------

    async def record_run(self, sync_id: str, run_id: str, user_id: str, *, ended: bool) -> None:
        """Note that a run works now (its first start kept), or that it ended."""

        def work(db: apsw.Connection) -> None:
            with _immediate(db):
                db.execute(
                    "INSERT INTO sync_runs VALUES (?, ?, ?, "
                    f"{_NOW}, {_NOW}, ?) ON CONFLICT (sync_id, run_id) DO UPDATE SET "
                    f"updated_at = {_NOW}, ended = max(ended, excluded.ended)",
                    (sync_id, run_id, user_id, int(ended)),
                )
                if db.changes() and not ended:
                    self._forget_old_runs(db)

        await self._writer.run(work)

    @staticmethod
    def _forget_old_runs(db: apsw.Connection) -> None:
        old = f"SELECT sync_id, run_id FROM sync_runs WHERE updated_at < {_NOW} - ?"
        db.execute(
            f"DELETE FROM sync_specs WHERE (sync_id, run_id) IN ({old})", (JOURNAL_RETENTION_S,)
        )
        db.execute(f"DELETE FROM sync_runs WHERE updated_at < {_NOW} - ?", (JOURNAL_RETENTION_S,))

    async def record_spec(
        self, sync_id: str, run_id: str, index: int, summary: Mapping[str, Any]
    ) -> None:
        """Record one spec's summary of a run."""

        def work(db: apsw.Connection) -> None:
            with _immediate(db):
                db.execute(
                    "INSERT OR REPLACE INTO sync_specs VALUES (?, ?, ?, ?)",
                    (sync_id, run_id, index, _json(storable_json(summary))),
                )
                db.execute(
                    f"UPDATE sync_runs SET updated_at = {_NOW} WHERE sync_id = ? AND run_id = ?",
                    (sync_id, run_id),
                )

        await self._writer.run(work)

    async def runs(self, sync_id: str) -> list[SyncRun]:
        """The recorded runs of one sync, oldest first, with their specs."""

        def work(db: apsw.Connection) -> list[SyncRun]:
            with db:
                specs: dict[str, dict[int, Mapping[str, Any]]] = {}
                for run_id, index, summary in _all(
                    db,
                    "SELECT run_id, spec_index, summary FROM sync_specs WHERE sync_id = ?",
                    (sync_id,),
                ):
                    specs.setdefault(run_id, {})[index] = json.loads(summary)
                found = _all(db, f"{_RUN_COLUMNS} WHERE sync_id = ? ORDER BY run_id", (sync_id,))
            return [SyncRun.of(row, specs.get(row[1], {})) for row in found]

        return await self._readers.run(work)

    async def runs_of_user(self, user_id: str, *, since: float) -> list[SyncRun]:
        """The user's runs started since `since`, oldest first, without their specs."""

        def work(db: apsw.Connection) -> list[SyncRun]:
            found = _all(
                db,
                f"{_RUN_COLUMNS} WHERE user_id = ? AND started_at >= ? ORDER BY started_at",
                (user_id, since),
            )
            return [SyncRun.of(row, {}) for row in found]

        return await self._readers.run(work)

    async def shared_key(self, name: str) -> bytes:
        """The random key named `name`, made on first use."""

        def work(db: apsw.Connection) -> bytes:
            with _immediate(db):
                db.execute(
                    "INSERT OR IGNORE INTO keys VALUES (?, ?)", (name, secrets.token_bytes(32))
                )
                (value,) = _one(db, "SELECT value FROM keys WHERE name = ?", (name,))
            return bytes(value)

        return await self._writer.run(work)

    async def close(self) -> None:
        """Stop the worker threads and close every connection."""
        await asyncio.to_thread(self._close_workers)

    def _close_workers(self) -> None:
        self._writer.close()
        self._readers.close()
