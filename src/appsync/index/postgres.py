"""The shared store: PostgreSQL with pgvector, for several app replicas and many users.

psycopg 3 (async) with a connection pool; vectors in a `vector(<dimensions>)` column with an HNSW
index (cosine), the lexical half in a generated `tsvector` column (english, keywords weighted above
the text) with a GIN index. Hybrid search is one SQL statement: a full-text CTE and a vector CTE,
each ranked, fused by reciprocal rank fusion with the constants of `appsync.index.ranking`.

Many writers: every `upsert` is one transaction that first locks the user's row in
`appsync_user_syncs` (`SELECT … FOR UPDATE`), so batches of one user serialise across every process
and replica while other users' batches run in parallel; the generation of each source only moves
forward (`ON CONFLICT … DO UPDATE … WHERE` the stored generation is older), and the stale check,
pruning and the removal of dropped sources run inside that same transaction. Operation cards
(`appsync_operation_cards`) are written in that transaction too, after their rows, and reference
them: deleting a row, by any rule, deletes its card (`ON DELETE CASCADE`).

Schema: created and migrated when the store opens. `appsync_index_migrations` records each applied
migration (version, description, time); migrations run in order, in one transaction, under an
advisory lock, so replicas starting together migrate once. An upgrade of appsync that changes the
schema appends a migration to `MIGRATIONS`; a database migrated by a newer appsync is refused.
The vector dimensions are fixed when the tables are made (`appsync_index_meta`): a model with other
dimensions is refused with the way out.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, LiteralString

import numpy as np
import psycopg
from pgvector.psycopg import register_vector_async
from psycopg import sql
from psycopg.rows import TupleRow
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

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
)
from appsync.index.ranking import (
    LEXICAL_CANDIDATES,
    LEXICAL_WEIGHT,
    RRF_K_LEXICAL,
    RRF_K_VECTOR,
    VECTOR_CANDIDATES,
    VECTOR_WEIGHT,
    lexical_terms,
)
from appsync.index.urls import describe

SCHEMA_VERSION = 4
POOL_MAX = 8
CONNECT_TIMEOUT_S = 10.0
# One key for the migration lock (pg_advisory_xact_lock), the same in every process.
MIGRATION_LOCK = 0x61707073796E63  # "appsync"
# ts_rank weights for {D, C, B, A}: keywords (A) count four times the text (B), as in the SQLite
# store's BM25 column weights.
RANK_WEIGHTS = "{0, 0, 0.25, 1}"
# Candidates the HNSW scan visits; at least VECTOR_CANDIDATES, so the vector half fills its list.
EF_SEARCH = 100


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the schema; `statements` may use {dimensions}."""

    version: int
    description: str
    statements: tuple[LiteralString, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "operations with vector (HNSW, cosine) and tsvector (GIN); sources; user syncs",
        (
            """
            CREATE TABLE appsync_index_meta (key text PRIMARY KEY, value text NOT NULL)
            """,
            """
            CREATE TABLE appsync_operations (
                user_id text NOT NULL,
                uid text COLLATE "C" NOT NULL,
                source_url text NOT NULL,
                service text NOT NULL,
                version text NOT NULL,
                method text NOT NULL,
                path text NOT NULL,
                operation_id text,
                summary text NOT NULL,
                tags text[] NOT NULL,
                deprecated boolean NOT NULL,
                keywords text NOT NULL,
                text text NOT NULL,
                content_hash text NOT NULL,
                model_id text NOT NULL,
                generation text COLLATE "C" NOT NULL,
                embedding vector({dimensions}) NOT NULL,
                search tsvector GENERATED ALWAYS AS (
                    setweight(to_tsvector('english', keywords), 'A')
                    || setweight(to_tsvector('english', text), 'B')
                ) STORED,
                PRIMARY KEY (user_id, uid)
            )
            """,
            """
            CREATE INDEX appsync_operations_by_source
                ON appsync_operations (user_id, source_url, generation)
            """,
            "CREATE INDEX appsync_operations_search ON appsync_operations USING gin (search)",
            """
            CREATE INDEX appsync_operations_embedding
                ON appsync_operations USING hnsw (embedding vector_cosine_ops)
            """,
            """
            CREATE TABLE appsync_sources (
                user_id text NOT NULL,
                source_url text NOT NULL,
                generation text COLLATE "C" NOT NULL,
                PRIMARY KEY (user_id, source_url)
            )
            """,
            """
            CREATE TABLE appsync_user_syncs (
                user_id text PRIMARY KEY,
                sync_id text COLLATE "C" NOT NULL,
                urls text[] NOT NULL
            )
            """,
        ),
    ),
    Migration(
        2,
        "the sync journal (runs and their specs) and shared keys",
        (
            "CREATE TABLE appsync_keys (name text PRIMARY KEY, value bytea NOT NULL)",
            """
            CREATE TABLE appsync_sync_runs (
                sync_id text COLLATE "C" NOT NULL,
                run_id text COLLATE "C" NOT NULL,
                user_id text NOT NULL,
                started_at double precision NOT NULL,
                updated_at double precision NOT NULL,
                ended boolean NOT NULL DEFAULT false,
                PRIMARY KEY (sync_id, run_id)
            )
            """,
            "CREATE INDEX appsync_sync_runs_by_user ON appsync_sync_runs (user_id, started_at)",
            "CREATE INDEX appsync_sync_runs_by_age ON appsync_sync_runs (updated_at)",
            """
            CREATE TABLE appsync_sync_specs (
                sync_id text COLLATE "C" NOT NULL,
                run_id text COLLATE "C" NOT NULL,
                spec_index integer NOT NULL,
                summary jsonb NOT NULL,
                PRIMARY KEY (sync_id, run_id, spec_index)
            )
            """,
        ),
    ),
    # 3 is the shared vector cache (another branch); this one needs nothing of it.
    Migration(
        4,
        "operation cards, deleted with their operations",
        (
            """
            CREATE TABLE appsync_operation_cards (
                user_id text NOT NULL,
                uid text COLLATE "C" NOT NULL,
                card text NOT NULL,
                PRIMARY KEY (user_id, uid),
                FOREIGN KEY (user_id, uid) REFERENCES appsync_operations (user_id, uid)
                    ON DELETE CASCADE
            )
            """,
        ),
    ),
)

_NOW = "extract(epoch FROM clock_timestamp())"
_RUN_COLUMNS = (
    "SELECT sync_id, run_id, user_id, started_at, updated_at, ended FROM appsync_sync_runs"
)

_HIT_COLUMNS = (
    "o.uid, o.service, o.version, o.method, o.path, o.operation_id, o.summary, o.tags, "
    "o.deprecated, o.source_url"
)

_UPSERT_ROW = """
INSERT INTO appsync_operations (user_id, uid, source_url, service, version, method, path,
    operation_id, summary, tags, deprecated, keywords, text, content_hash, model_id, generation,
    embedding)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (user_id, uid) DO UPDATE SET
    source_url = excluded.source_url, service = excluded.service, version = excluded.version,
    method = excluded.method, path = excluded.path, operation_id = excluded.operation_id,
    summary = excluded.summary, tags = excluded.tags, deprecated = excluded.deprecated,
    keywords = excluded.keywords, text = excluded.text, content_hash = excluded.content_hash,
    model_id = excluded.model_id, generation = excluded.generation, embedding = excluded.embedding
"""

_UPSERT_CARD = """
INSERT INTO appsync_operation_cards (user_id, uid, card) VALUES (%s, %s, %s)
ON CONFLICT (user_id, uid) DO UPDATE SET card = excluded.card
"""

_SOURCES = """
SELECT o.source_url, o.service, o.version, count(*), s.generation,
    (SELECT r.sync_id FROM appsync_sync_runs AS r
     WHERE r.user_id = %(user)s AND r.run_id = s.generation LIMIT 1)
FROM appsync_operations AS o
    JOIN appsync_sources AS s ON s.user_id = o.user_id AND s.source_url = o.source_url
WHERE o.user_id = %(user)s
GROUP BY o.source_url, o.service, o.version, s.generation
ORDER BY o.service, o.source_url, o.version
"""

_CONFIRM_ROWS = """
UPDATE appsync_operations AS o
SET generation = %(generation)s, source_url = %(url)s, service = %(service)s,
    version = %(version)s
FROM unnest(%(uids)s::text[], %(hashes)s::text[]) AS c (uid, content_hash)
WHERE o.user_id = %(user)s AND o.uid = c.uid AND o.content_hash = c.content_hash
    AND o.model_id = %(model)s
RETURNING o.uid
"""

# Stale (rule 3): older than the source's generation, or older than the user's newest sync while
# the source is not among that sync's URLs.
_STALE = """
SELECT EXISTS (
    SELECT 1 FROM appsync_sources
    WHERE user_id = %(user)s AND source_url = %(url)s AND %(sync)s < generation
) OR EXISTS (
    SELECT 1 FROM appsync_user_syncs
    WHERE user_id = %(user)s AND %(sync)s < sync_id AND NOT %(url)s = ANY (urls)
)
"""

# Rule 4: the user's newest sync moves forward only; sources outside its URLs lose their rows.
_ADVANCE_USER = """
UPDATE appsync_user_syncs SET sync_id = %(sync)s, urls = %(urls)s
WHERE user_id = %(user)s AND sync_id < %(sync)s
RETURNING 1
"""

_REMOVE_SOURCES = """
WITH gone AS (
    UPDATE appsync_sources SET generation = %(sync)s
    WHERE user_id = %(user)s AND NOT source_url = ANY (%(urls)s)
    RETURNING source_url
), removed AS (
    DELETE FROM appsync_operations AS o USING gone
    WHERE o.user_id = %(user)s AND o.source_url = gone.source_url
    RETURNING o.source_url
)
SELECT source_url, count(*) FROM removed GROUP BY source_url ORDER BY source_url
"""

# Rule 5: a source's generation only moves forward.
_SOURCE_GENERATION = """
INSERT INTO appsync_sources AS s (user_id, source_url, generation)
VALUES (%(user)s, %(url)s, %(sync)s)
ON CONFLICT (user_id, source_url) DO UPDATE SET generation = excluded.generation
WHERE s.generation < excluded.generation
"""

# Rule 6: once the sync's rows of this source reach its total, older rows go.
_PRUNE = """
DELETE FROM appsync_operations
WHERE user_id = %(user)s AND source_url = %(url)s AND generation < %(sync)s
    AND (SELECT count(*) FROM appsync_operations
         WHERE user_id = %(user)s AND source_url = %(url)s AND generation = %(sync)s) >= %(total)s
"""

_LEXICAL_CTE = """
lexical AS (
    SELECT uid, score, row_number() OVER (ORDER BY score DESC, uid) AS rank
    FROM (
        SELECT o.uid, ts_rank(%(weights)s::float4[], o.search, q.query, 1) AS score
        FROM appsync_operations AS o,
            (SELECT websearch_to_tsquery('english', %(words)s) AS query) AS q
        WHERE o.search @@ q.query AND {where}
        ORDER BY score DESC, o.uid
        LIMIT %(lexical_depth)s
    ) AS best
)
"""

_VECTOR_CTE = """
nearest AS (
    SELECT uid, 1 - distance AS score, row_number() OVER (ORDER BY distance, uid) AS rank
    FROM (
        SELECT o.uid, o.embedding <=> %(vector)s AS distance
        FROM appsync_operations AS o
        WHERE o.model_id = %(model)s AND {where}
        ORDER BY distance
        LIMIT %(vector_depth)s
    ) AS best
)
"""


def _empty_cte(name: str) -> str:
    """A half with no rows (the query has no words, or no vector)."""
    return (
        f"{name} AS (SELECT NULL::text AS uid, NULL::float8 AS score, NULL::bigint AS rank "
        "WHERE false)"
    )


# Weighted reciprocal rank fusion over both halves, as `ranking.fuse` computes it: each list has
# its own weight and k (ties: uid order).
_HYBRID = """
WITH {lexical}, {vector}, fused AS (
    SELECT uid, sum(weight / (k + rank)) AS score
    FROM (
        SELECT uid, rank, %(lexical_weight)s::float8 AS weight, %(lexical_k)s::float8 AS k
        FROM lexical
        UNION ALL
        SELECT uid, rank, %(vector_weight)s::float8, %(vector_k)s::float8 FROM nearest
    ) AS both_halves
    GROUP BY uid
)
SELECT {columns}, f.score
FROM fused AS f JOIN appsync_operations AS o ON o.user_id = %(user)s AND o.uid = f.uid
ORDER BY f.score DESC, f.uid
LIMIT %(k)s
"""

_ONE_HALF = """
WITH {half}
SELECT {columns}, h.score
FROM {name} AS h JOIN appsync_operations AS o ON o.user_id = %(user)s AND o.uid = h.uid
ORDER BY h.rank
"""


def _where(query: SearchQuery) -> tuple[str, dict[str, Any]]:
    """The user and filter conditions on `o`, with their parameters."""
    clauses = ["o.user_id = %(user)s"]
    params: dict[str, Any] = {"user": query.user_id}
    filters = query.filters
    if filters.service is not None:
        clauses.append("o.service = %(service)s")
        params["service"] = filters.service
    if filters.method is not None:
        clauses.append("o.method = %(method)s")
        params["method"] = filters.method.lower()
    if filters.tag is not None:
        clauses.append("%(tag)s = ANY (o.tags)")
        params["tag"] = filters.tag
    return " AND ".join(clauses), params


def _hit(row: Sequence[Any]) -> Hit:
    uid, service, version, method, path, operation_id, summary, tags, deprecated, url, score = row
    return Hit(
        uid=uid,
        score=float(score),
        service=service,
        version=version,
        method=method,
        path=path,
        operation_id=operation_id,
        summary=summary,
        tags=tuple(tags),
        deprecated=deprecated,
        source_url=url,
    )


def _conninfo_error(url: str, exc: BaseException) -> StoreConfigError:
    return StoreConfigError(f"APPSYNC_INDEX_URL {describe(url)!r}: cannot connect ({exc})")


async def migrate(connection: psycopg.AsyncConnection[TupleRow], *, dimensions: int) -> None:
    """Create or upgrade the schema to `SCHEMA_VERSION` (one transaction, one process at a time)."""
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        await connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS appsync_index_migrations ("
            "version integer PRIMARY KEY, description text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cursor = await connection.execute(
            "SELECT coalesce(max(version), 0) FROM appsync_index_migrations"
        )
        row = await cursor.fetchone()
        applied = int(row[0]) if row is not None else 0
        if applied > SCHEMA_VERSION:
            raise StoreConfigError(
                f"the index database has schema version {applied}, this appsync knows up to "
                f"{SCHEMA_VERSION}: upgrade appsync (APPSYNC_INDEX_URL names a newer index)"
            )
        for migration in MIGRATIONS:
            if migration.version <= applied:
                continue
            for statement in migration.statements:
                await connection.execute(
                    sql.SQL(statement).format(dimensions=sql.Literal(int(dimensions)))
                )
            await connection.execute(
                "INSERT INTO appsync_index_migrations (version, description) VALUES (%s, %s)",
                (migration.version, migration.description),
            )
        await connection.execute(
            "INSERT INTO appsync_index_meta VALUES ('dimensions', %s) ON CONFLICT DO NOTHING",
            (str(dimensions),),
        )
        cursor = await connection.execute(
            "SELECT value FROM appsync_index_meta WHERE key = 'dimensions'"
        )
        row = await cursor.fetchone()
    stored = row[0] if row is not None else None
    if stored != str(dimensions):
        raise StoreConfigError(
            f"the index database holds {stored}-dimensional vectors, the model makes "
            f"{dimensions}: point APPSYNC_INDEX_URL at an empty database and re-sync"
        )


async def _configure(connection: psycopg.AsyncConnection[TupleRow]) -> None:
    await register_vector_async(connection)


class PostgresIndex:
    """The operations index in PostgreSQL (see the module docstring)."""

    def __init__(
        self, pool: AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]], *, dimensions: int
    ) -> None:
        self._pool = pool
        self.dimensions = dimensions

    @classmethod
    async def open(
        cls, url: str, *, dimensions: int, max_connections: int = POOL_MAX
    ) -> PostgresIndex:
        """Connect, migrate the schema, and open a pool of connections to `url`."""
        try:
            connection = await psycopg.AsyncConnection.connect(
                url, connect_timeout=int(CONNECT_TIMEOUT_S)
            )
        except psycopg.Error as exc:
            raise _conninfo_error(url, exc) from None
        try:
            await migrate(connection, dimensions=dimensions)
        except psycopg.Error as exc:
            # Typically: the user may not create the vector extension or the tables.
            raise StoreConfigError(
                f"APPSYNC_INDEX_URL {describe(url)!r}: cannot create or migrate the index "
                f"schema ({exc})"
            ) from None
        finally:
            await connection.close()
        pool: AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]] = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            open=False,
            configure=_configure,
            # A connection broken by a database restart is replaced, not handed out.
            check=AsyncConnectionPool.check_connection,
            # While the database is down, a call fails after this long (an Inngest step retries).
            timeout=CONNECT_TIMEOUT_S,
            kwargs={"connect_timeout": int(CONNECT_TIMEOUT_S)},
            name="appsync-index",
        )
        try:
            await pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
        except (PoolTimeout, psycopg.Error) as exc:
            await pool.close()
            raise _conninfo_error(url, exc) from None
        return cls(pool, dimensions=dimensions)

    # --- writes -------------------------------------------------------------------------

    async def upsert(self, batch: UpsertBatch) -> UpsertResult:
        """Apply one batch under the re-sync rules, in one transaction locking the user's row."""
        for record in batch.records:
            if record.vector is not None and len(record.vector) != self.dimensions:
                raise ValueError(
                    f"record {record.uid!r} has a {len(record.vector)}-dimensional vector, "
                    f"the index holds {self.dimensions}"
                )
        params: dict[str, Any] = {
            "user": batch.user_id,
            "url": batch.source.url,
            "sync": batch.sync.sync_id,
            "urls": sorted(set(batch.sync.urls)),
            "total": batch.total,
        }
        async with self._pool.connection() as connection, connection.transaction():
            # The user's lock row; '' sorts before every sync id, so a new user has seen none.
            await connection.execute(
                "INSERT INTO appsync_user_syncs VALUES (%(user)s, '', '{}') "
                "ON CONFLICT (user_id) DO NOTHING",
                params,
            )
            await connection.execute(
                "SELECT 1 FROM appsync_user_syncs WHERE user_id = %(user)s FOR UPDATE", params
            )
            if await _true(connection, _STALE, params):
                return UpsertResult(stale=True)
            removed_sources: list[str] = []
            removed = 0
            if await _true(connection, _ADVANCE_USER, params):
                cursor = await connection.execute(_REMOVE_SOURCES, params)
                for source_url, count in await cursor.fetchall():
                    removed_sources.append(source_url)
                    removed += count
            await connection.execute(_SOURCE_GENERATION, params)
            written, unchanged, needs = await self._write_records(connection, batch)
            cursor = await connection.execute(_PRUNE, params)
            pruned = cursor.rowcount
        return UpsertResult(
            written=written,
            unchanged=unchanged,
            needs_vectors=tuple(needs),
            pruned=pruned,
            removed_sources=tuple(removed_sources),
            removed=removed,
        )

    @staticmethod
    async def _write_records(
        connection: psycopg.AsyncConnection[TupleRow], batch: UpsertBatch
    ) -> tuple[int, int, list[str]]:
        source, generation = batch.source, batch.sync.sync_id
        confirms = [record for record in batch.records if record.vector is None]
        writes = [record for record in batch.records if record.vector is not None]
        confirmed: set[str] = set()
        if confirms:
            cursor = await connection.execute(
                _CONFIRM_ROWS,
                {
                    "generation": generation,
                    "url": source.url,
                    "service": source.service,
                    "version": source.version,
                    "uids": [record.uid for record in confirms],
                    "hashes": [record.content_hash for record in confirms],
                    "user": batch.user_id,
                    "model": batch.model_id,
                },
            )
            confirmed = {row[0] for row in await cursor.fetchall()}
        if writes:
            async with connection.cursor() as cursor:
                await cursor.executemany(
                    _UPSERT_ROW,
                    [
                        (
                            batch.user_id,
                            record.uid,
                            source.url,
                            source.service,
                            source.version,
                            record.method,
                            record.path,
                            record.operation_id,
                            record.summary,
                            list(record.tags),
                            record.deprecated,
                            record.keywords,
                            record.text,
                            record.content_hash,
                            batch.model_id,
                            generation,
                            np.asarray(record.vector, np.float32),
                        )
                        for record in writes
                    ],
                )
                # Cards after their rows (a card references its row); a row written without a
                # card loses any card it had.
                carded = [record for record in writes if record.card is not None]
                if carded:
                    await cursor.executemany(
                        _UPSERT_CARD, [(batch.user_id, r.uid, r.card) for r in carded]
                    )
                if len(carded) < len(writes):
                    await cursor.execute(
                        "DELETE FROM appsync_operation_cards WHERE user_id = %s AND uid = ANY (%s)",
                        (batch.user_id, [r.uid for r in writes if r.card is None]),
                    )
        unchanged = sum(1 for record in confirms if record.uid in confirmed)
        needs = [record.uid for record in confirms if record.uid not in confirmed]
        return len(writes), unchanged, needs

    async def delete(self, user_id: str, *, source_url: str | None = None) -> int:
        """Delete a user's rows (of one source, or all); generations stay as tombstones."""
        async with self._pool.connection() as connection:
            if source_url is None:
                cursor = await connection.execute(
                    "DELETE FROM appsync_operations WHERE user_id = %s", (user_id,)
                )
            else:
                cursor = await connection.execute(
                    "DELETE FROM appsync_operations WHERE user_id = %s AND source_url = %s",
                    (user_id, source_url),
                )
            return cursor.rowcount

    # --- reads --------------------------------------------------------------------------

    async def known(
        self, user_id: str, source_url: str, sync_id: str, model_id: str, uids: Sequence[str]
    ) -> Known:
        """Whether a batch would be stale, and the stored hashes of `uids` for `model_id`."""
        params = {"user": user_id, "url": source_url, "sync": sync_id}
        async with (
            self._pool.connection() as connection,
            connection.transaction(),
        ):
            await connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            if await _true(connection, _STALE, params):
                return Known(stale=True)
            cursor = await connection.execute(
                "SELECT uid, content_hash FROM appsync_operations "
                "WHERE user_id = %s AND model_id = %s AND uid = ANY (%s)",
                (user_id, model_id, list(dict.fromkeys(uids))),
            )
            rows = await cursor.fetchall()
        return Known(stale=False, hashes=dict(rows))

    async def search(self, query: SearchQuery) -> list[Hit]:
        """The user's operations that best answer the query, best first, in one statement."""
        if query.vector is not None and len(query.vector) != self.dimensions:
            raise ValueError(
                f"the query vector has {len(query.vector)} dimensions, the index {self.dimensions}"
            )
        terms = lexical_terms(query.text)
        lexical = bool(terms) and query.ranking is not Ranking.VECTOR
        vector = query.vector is not None and query.ranking is not Ranking.LEXICAL
        if not lexical and not vector:
            return []
        where, params = _where(query)
        params |= {
            "words": " or ".join(terms),
            "weights": RANK_WEIGHTS,
            "model": query.model_id,
            "vector": None if query.vector is None else np.asarray(query.vector, np.float32),
            "k": query.k,
            "lexical_k": RRF_K_LEXICAL,
            "vector_k": RRF_K_VECTOR,
            "lexical_weight": LEXICAL_WEIGHT,
            "vector_weight": VECTOR_WEIGHT,
        }
        lexical_cte = _LEXICAL_CTE.replace("{where}", where) if lexical else _empty_cte("lexical")
        vector_cte = _VECTOR_CTE.replace("{where}", where) if vector else _empty_cte("nearest")
        if query.ranking is Ranking.HYBRID:
            params["lexical_depth"] = max(LEXICAL_CANDIDATES, query.k)
            params["vector_depth"] = max(VECTOR_CANDIDATES, query.k)
            statement = _HYBRID.format(lexical=lexical_cte, vector=vector_cte, columns=_HIT_COLUMNS)
        elif lexical:
            params["lexical_depth"] = query.k
            statement = _ONE_HALF.format(half=lexical_cte, name="lexical", columns=_HIT_COLUMNS)
        else:
            params["vector_depth"] = query.k
            statement = _ONE_HALF.format(half=vector_cte, name="nearest", columns=_HIT_COLUMNS)
        async with self._pool.connection() as connection, connection.transaction():
            if vector:
                # Keep scanning the HNSW graph until enough rows pass the user and filters
                # (both settings for this transaction only, in one round trip).
                await connection.execute(
                    "SELECT set_config('hnsw.iterative_scan', 'strict_order', true), "
                    "set_config('hnsw.ef_search', %s, true)",
                    (str(EF_SEARCH),),
                )
            cursor = await connection.execute(statement.encode(), params)
            rows = await cursor.fetchall()
        return [_hit(row) for row in rows]

    async def stats(self, user_id: str | None = None, sync_id: str | None = None) -> IndexStats:
        """Counts of rows, users, sources, rows per model id, and rows of one sync."""
        where, params = ("WHERE user_id = %s", (user_id,)) if user_id is not None else ("", ())
        async with self._pool.connection() as connection, connection.transaction():
            await connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor = await connection.execute(
                "SELECT count(*), count(DISTINCT user_id), "
                f"count(DISTINCT (user_id, source_url)) FROM appsync_operations {where}",
                params,
            )
            totals = await cursor.fetchone()
            cursor = await connection.execute(
                f"SELECT model_id, count(*) FROM appsync_operations {where} GROUP BY model_id",
                params,
            )
            by_model = {model: int(count) for model, count in await cursor.fetchall()}
            in_sync = 0
            if sync_id is not None:
                cursor = await connection.execute(
                    "SELECT count(*) FROM appsync_operations WHERE generation = %s"
                    + (" AND user_id = %s" if user_id is not None else ""),
                    (sync_id, user_id) if user_id is not None else (sync_id,),
                )
                row = await cursor.fetchone()
                in_sync = int(row[0]) if row is not None else 0
        operations, users, sources = totals if totals is not None else (0, 0, 0)
        return IndexStats(
            operations=int(operations),
            users=int(users),
            sources=int(sources),
            by_model=by_model,
            in_sync=in_sync,
        )

    async def card(self, user_id: str, uid: str) -> str | None:
        """The card (JSON text) of one of the user's operations; None if none is stored."""
        async with self._pool.connection() as connection:
            cursor = await connection.execute(
                "SELECT card FROM appsync_operation_cards WHERE user_id = %s AND uid = %s",
                (user_id, uid),
            )
            row = await cursor.fetchone()
        return None if row is None else str(row[0])

    async def sources(self, user_id: str) -> list[SourceSummary]:
        """The user's synced specs with their operation counts, by service name then URL."""
        async with self._pool.connection() as connection:
            cursor = await connection.execute(_SOURCES, {"user": user_id})
            rows = await cursor.fetchall()
        return [
            SourceSummary(url, service, version, int(count), generation, event_id)
            for url, service, version, count, generation, event_id in rows
        ]

    # --- the sync journal and the shared keys ----------------------------------------------

    async def record_run(self, sync_id: str, run_id: str, user_id: str, *, ended: bool) -> None:
        """Note that a run works now (its first start kept), or that it ended."""
        async with self._pool.connection() as connection, connection.transaction():
            cursor = await connection.execute(
                f"INSERT INTO appsync_sync_runs VALUES (%s, %s, %s, {_NOW}, {_NOW}, %s) "
                "ON CONFLICT (sync_id, run_id) DO UPDATE SET "
                f"updated_at = {_NOW}, ended = appsync_sync_runs.ended OR excluded.ended "
                "RETURNING (xmax = 0) AS inserted",
                (sync_id, run_id, user_id, ended),
            )
            row = await cursor.fetchone()
            if row is not None and row[0]:
                await connection.execute(
                    "DELETE FROM appsync_sync_specs WHERE (sync_id, run_id) IN (SELECT sync_id, "
                    f"run_id FROM appsync_sync_runs WHERE updated_at < {_NOW} - %s)",
                    (JOURNAL_RETENTION_S,),
                )
                await connection.execute(
                    f"DELETE FROM appsync_sync_runs WHERE updated_at < {_NOW} - %s",
                    (JOURNAL_RETENTION_S,),
                )

    async def record_spec(
        self, sync_id: str, run_id: str, index: int, summary: Mapping[str, Any]
    ) -> None:
        """Record one spec's summary of a run."""
        async with self._pool.connection() as connection, connection.transaction():
            await connection.execute(
                "INSERT INTO appsync_sync_specs VALUES (%s, %s, %s, %s) ON CONFLICT "
                "(sync_id, run_id, spec_index) DO UPDATE SET summary = excluded.summary",
                (sync_id, run_id, index, Jsonb(dict(summary))),
            )
            await connection.execute(
                f"UPDATE appsync_sync_runs SET updated_at = {_NOW} "
                "WHERE sync_id = %s AND run_id = %s",
                (sync_id, run_id),
            )

    async def runs(self, sync_id: str) -> list[SyncRun]:
        """The recorded runs of one sync, oldest first, with their specs."""
        async with self._pool.connection() as connection, connection.transaction():
            await connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor = await connection.execute(
                "SELECT run_id, spec_index, summary FROM appsync_sync_specs WHERE sync_id = %s",
                (sync_id,),
            )
            specs: dict[str, dict[int, Mapping[str, Any]]] = {}
            for run_id, index, summary in await cursor.fetchall():
                specs.setdefault(run_id, {})[int(index)] = summary
            cursor = await connection.execute(
                f"{_RUN_COLUMNS} WHERE sync_id = %s ORDER BY run_id", (sync_id,)
            )
            rows = await cursor.fetchall()
        return [SyncRun.of(row, specs.get(row[1], {})) for row in rows]

    async def runs_of_user(self, user_id: str, *, since: float) -> list[SyncRun]:
        """The user's runs started since `since`, oldest first, without their specs."""
        async with self._pool.connection() as connection:
            cursor = await connection.execute(
                f"{_RUN_COLUMNS} WHERE user_id = %s AND started_at >= %s ORDER BY started_at",
                (user_id, since),
            )
            rows = await cursor.fetchall()
        return [SyncRun.of(row, {}) for row in rows]

    async def shared_key(self, name: str) -> bytes:
        """The random key named `name`, made on first use."""
        async with self._pool.connection() as connection, connection.transaction():
            await connection.execute(
                "INSERT INTO appsync_keys VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
                (name, secrets.token_bytes(32)),
            )
            cursor = await connection.execute(
                "SELECT value FROM appsync_keys WHERE name = %s", (name,)
            )
            row = await cursor.fetchone()
        if row is None:
            raise RuntimeError(f"the key {name!r} vanished from appsync_keys")
        return bytes(row[0])

    async def close(self) -> None:
        """Close every pooled connection."""
        await self._pool.close()


async def _true(
    connection: psycopg.AsyncConnection[TupleRow],
    statement: LiteralString,
    params: Mapping[str, Any],
) -> bool:
    """Whether the statement returns a row whose first value is true."""
    cursor = await connection.execute(statement, params)
    row = await cursor.fetchone()
    return row is not None and bool(row[0])
