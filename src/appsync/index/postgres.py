"""The shared store: PostgreSQL with pgvector, for several app replicas and many users.

psycopg 3 (async) with a connection pool; vectors in a `vector(<dimensions>)` column with an HNSW
index (cosine), the lexical half in a generated `tsvector` column (english, keywords weighted above
the text) with a GIN index. Hybrid search is one SQL statement: a full-text CTE and a vector CTE,
each ranked, fused by reciprocal rank fusion with the constants of `appsync.index.ranking`.

Keys: rows are found by the SHA-256 of their user id, uid and spec URL (`user_key`, `uid_key`,
`source_key`, bytea), never by the text itself, so a key of any length (a btree entry holds at most
~2,700 bytes) or with U+0000 (which text cannot hold) is indexed like any other; the text columns
keep the `storable` form for reading.

The lexical half is BM25, as the SQLite store's FTS5 computes it (`appsync.index.ranking`: k1,
b, the keywords counting four times the text): per query term, its frequency in the row (from the
row's tsvector, the keywords' positions weighted A), the row's length in tokens
(`search_length`, kept with the row by the trigger that makes its tsvector) against the user's
average, and its rarity among the user's own operations (IDF: the user's row count and the rows
that hold the term, counted in the query itself, so the statistics are per user and always
current). `ts_rank` knows no term rarity (common words weighed as much as rare ones); it is no
longer used.

Many writers: every `upsert` is one transaction that first locks the user's row in
`appsync_user_syncs` (`SELECT … FOR UPDATE`), so batches of one user serialise across every process
and replica while other users' batches run in parallel; the generation of each source only moves
forward (`ON CONFLICT … DO UPDATE … WHERE` the stored generation is older), and the stale check,
pruning and the removal of dropped sources run inside that same transaction. The shared vector
cache (`appsync_vectors`) is written in sorted key order (so two writers never deadlock on it), and
an entry is deleted only after locking it and seeing, in a snapshot taken after the lock, that no
row holds it: two writers releasing the last two holders of one entry cannot both keep it.
Operation cards (`appsync_operation_cards`) are written in that transaction too, after their rows,
and reference them: deleting a row, by any rule, deletes its card (`ON DELETE CASCADE`).

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

from appsync.index import rows
from appsync.index.base import (
    JOURNAL_RETENTION_S,
    Hit,
    IndexStats,
    Known,
    OperationRecord,
    Ranking,
    SearchQuery,
    SourceSummary,
    StoreConfigError,
    SyncRun,
    UpsertBatch,
    UpsertResult,
    key_digest,
    storable,
    storable_json,
)
from appsync.index.ranking import (
    BM25_B,
    BM25_K1,
    BM25_MIN_IDF,
    KEYWORDS_WEIGHT,
    LEXICAL_CANDIDATES,
    LEXICAL_WEIGHT,
    RRF_K_LEXICAL,
    RRF_K_VECTOR,
    TEXT_WEIGHT,
    VECTOR_CANDIDATES,
    VECTOR_WEIGHT,
    lexical_terms,
)
from appsync.index.urls import describe

POOL_MAX = 8
CONNECT_TIMEOUT_S = 10.0
# One key for the migration lock (pg_advisory_xact_lock), the same in every process.
MIGRATION_LOCK = 0x61707073796E63  # "appsync"
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
    Migration(
        3,
        "keys by their SHA-256 (any length, any character); the shared vector cache",
        (
            # Operations: found by the digests of user id, uid and spec URL; each row's embedded
            # text by its hash (rows written before this have none until confirmed or rewritten).
            """
            ALTER TABLE appsync_operations ADD COLUMN user_key bytea, ADD COLUMN uid_key bytea,
                ADD COLUMN source_key bytea, ADD COLUMN embed_key bytea
            """,
            """
            UPDATE appsync_operations SET user_key = sha256(convert_to(user_id, 'UTF8')),
                uid_key = sha256(convert_to(uid, 'UTF8')),
                source_key = sha256(convert_to(source_url, 'UTF8'))
            """,
            """
            ALTER TABLE appsync_operations ALTER COLUMN user_key SET NOT NULL,
                ALTER COLUMN uid_key SET NOT NULL, ALTER COLUMN source_key SET NOT NULL,
                DROP CONSTRAINT appsync_operations_pkey, ADD PRIMARY KEY (user_key, uid_key)
            """,
            # The full text: made by a trigger with its length in tokens (BM25's |D|), once
            # per written text (a generated column could not hold the length without
            # tokenizing the text twice).
            "ALTER TABLE appsync_operations ALTER COLUMN search DROP EXPRESSION",
            "ALTER TABLE appsync_operations ADD COLUMN search_length integer",
            """
            UPDATE appsync_operations SET search_length = (
                SELECT coalesce(sum(coalesce(array_length(u.positions, 1), 1)), 0)
                FROM unnest(search) AS u
            )
            """,
            "ALTER TABLE appsync_operations ALTER COLUMN search_length SET NOT NULL",
            """
            CREATE FUNCTION appsync_operations_search() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                NEW.search := setweight(to_tsvector('english', NEW.keywords), 'A')
                    || setweight(to_tsvector('english', NEW.text), 'B');
                NEW.search_length := (
                    SELECT coalesce(sum(coalesce(array_length(u.positions, 1), 1)), 0)
                    FROM unnest(NEW.search) AS u
                );
                RETURN NEW;
            END
            $$
            """,
            """
            CREATE TRIGGER appsync_operations_search
                BEFORE INSERT OR UPDATE OF keywords, text ON appsync_operations
                FOR EACH ROW EXECUTE FUNCTION appsync_operations_search()
            """,
            "DROP INDEX appsync_operations_by_source",
            """
            CREATE INDEX appsync_operations_by_source
                ON appsync_operations (user_key, source_key, generation) INCLUDE (search_length)
            """,
            """
            CREATE INDEX appsync_operations_by_embed ON appsync_operations (model_id, embed_key)
            """,
            # Sources and the users' newest syncs, by the same digests.
            """
            ALTER TABLE appsync_sources ADD COLUMN user_key bytea, ADD COLUMN source_key bytea
            """,
            """
            UPDATE appsync_sources SET user_key = sha256(convert_to(user_id, 'UTF8')),
                source_key = sha256(convert_to(source_url, 'UTF8'))
            """,
            """
            ALTER TABLE appsync_sources ALTER COLUMN user_key SET NOT NULL,
                ALTER COLUMN source_key SET NOT NULL, DROP CONSTRAINT appsync_sources_pkey,
                ADD PRIMARY KEY (user_key, source_key)
            """,
            """
            ALTER TABLE appsync_user_syncs ADD COLUMN user_key bytea,
                ADD COLUMN source_keys bytea[]
            """,
            """
            UPDATE appsync_user_syncs SET user_key = sha256(convert_to(user_id, 'UTF8')),
                source_keys = ARRAY(SELECT sha256(convert_to(url, 'UTF8')) FROM unnest(urls) AS url)
            """,
            """
            ALTER TABLE appsync_user_syncs ALTER COLUMN user_key SET NOT NULL,
                ALTER COLUMN source_keys SET NOT NULL, DROP CONSTRAINT appsync_user_syncs_pkey,
                ADD PRIMARY KEY (user_key), DROP COLUMN urls
            """,
            # The journal's runs of a user.
            "ALTER TABLE appsync_sync_runs ADD COLUMN user_key bytea",
            "UPDATE appsync_sync_runs SET user_key = sha256(convert_to(user_id, 'UTF8'))",
            "ALTER TABLE appsync_sync_runs ALTER COLUMN user_key SET NOT NULL",
            "DROP INDEX appsync_sync_runs_by_user",
            "CREATE INDEX appsync_sync_runs_by_user ON appsync_sync_runs (user_key, started_at)",
            # The shared vector cache: one vector per (model id, embedded text).
            """
            CREATE TABLE appsync_vectors (
                model_id text NOT NULL,
                embed_key bytea NOT NULL,
                embedding vector({dimensions}) NOT NULL,
                PRIMARY KEY (model_id, embed_key)
            )
            """,
        ),
    ),
    Migration(
        4,
        "operation cards, deleted with their operations",
        (
            """
            CREATE TABLE appsync_operation_cards (
                user_key bytea NOT NULL,
                uid_key bytea NOT NULL,
                card text NOT NULL,
                PRIMARY KEY (user_key, uid_key),
                FOREIGN KEY (user_key, uid_key) REFERENCES appsync_operations (user_key, uid_key)
                    ON DELETE CASCADE
            )
            """,
        ),
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1].version

_NOW = "extract(epoch FROM clock_timestamp())"
_RUN_COLUMNS = (
    "SELECT sync_id, run_id, user_id, started_at, updated_at, ended FROM appsync_sync_runs"
)

_HIT_COLUMNS = ", ".join(f"o.{column}" for column in rows.HIT_COLUMNS)

_UPSERT_ROW = f"""
INSERT INTO appsync_operations (user_key, uid_key, source_key, user_id, uid, source_url,
    {", ".join(rows.CONTENT_COLUMNS)}, embedding)
VALUES ({", ".join(["%s"] * (7 + len(rows.CONTENT_COLUMNS)))})
ON CONFLICT (user_key, uid_key) DO UPDATE SET source_key = excluded.source_key,
    uid = excluded.uid, source_url = excluded.source_url, embedding = excluded.embedding,
    {", ".join(f"{column} = excluded.{column}" for column in rows.CONTENT_COLUMNS)}
"""

_UPSERT_CARD = """
INSERT INTO appsync_operation_cards (user_key, uid_key, card) VALUES (%s, %s, %s)
ON CONFLICT (user_key, uid_key) DO UPDATE SET card = excluded.card
"""

_SOURCES = """
SELECT o.source_url, o.service, o.version, count(*), s.generation,
    (SELECT r.sync_id FROM appsync_sync_runs AS r
     WHERE r.user_key = %(user_key)s AND r.run_id = s.generation LIMIT 1)
FROM appsync_operations AS o
    JOIN appsync_sources AS s ON s.user_key = o.user_key AND s.source_key = o.source_key
WHERE o.user_key = %(user_key)s
GROUP BY o.source_url, o.service, o.version, s.generation
ORDER BY o.service, o.source_url, o.version
"""

# A row written before the vector cache has no embed key: an unchanged confirmation gives it one.
_CONFIRM_ROWS = """
UPDATE appsync_operations AS o
SET generation = %(sync)s, source_key = %(source_key)s, source_url = %(url)s,
    service = %(service)s, version = %(version)s, embed_key = coalesce(o.embed_key, c.embed_key)
FROM unnest(%(uid_keys)s::bytea[], %(hashes)s::text[], %(embed_keys)s::bytea[])
    AS c (uid_key, content_hash, embed_key)
WHERE o.user_key = %(user_key)s AND o.uid_key = c.uid_key AND o.content_hash = c.content_hash
    AND o.model_id = %(model)s
RETURNING o.uid_key
"""

# Stale (rule 3): older than the source's generation, or older than the user's newest sync while
# the source is not among that sync's URLs.
_STALE = """
SELECT EXISTS (
    SELECT 1 FROM appsync_sources
    WHERE user_key = %(user_key)s AND source_key = %(source_key)s AND %(sync)s < generation
) OR EXISTS (
    SELECT 1 FROM appsync_user_syncs
    WHERE user_key = %(user_key)s AND %(sync)s < sync_id AND NOT %(source_key)s = ANY (source_keys)
)
"""

# Rule 4: the user's newest sync moves forward only; sources outside its URLs lose their rows.
_ADVANCE_USER = """
UPDATE appsync_user_syncs SET sync_id = %(sync)s, source_keys = %(source_keys)s
WHERE user_key = %(user_key)s AND sync_id < %(sync)s
RETURNING 1
"""

_REMOVE_SOURCES = """
WITH gone AS (
    UPDATE appsync_sources SET generation = %(sync)s
    WHERE user_key = %(user_key)s AND NOT source_key = ANY (%(source_keys)s)
    RETURNING source_key, source_url
)
DELETE FROM appsync_operations AS o USING gone
WHERE o.user_key = %(user_key)s AND o.source_key = gone.source_key
RETURNING gone.source_url, o.model_id, o.embed_key
"""

# Rule 5: a source's generation only moves forward.
_SOURCE_GENERATION = """
INSERT INTO appsync_sources AS s (user_key, source_key, user_id, source_url, generation)
VALUES (%(user_key)s, %(source_key)s, %(user)s, %(url)s, %(sync)s)
ON CONFLICT (user_key, source_key) DO UPDATE SET generation = excluded.generation
WHERE s.generation < excluded.generation
"""

# Rule 6: once the sync's rows of this source reach its total, older rows go.
_PRUNE = """
DELETE FROM appsync_operations
WHERE user_key = %(user_key)s AND source_key = %(source_key)s AND generation < %(sync)s
    AND (SELECT count(*) FROM appsync_operations
         WHERE user_key = %(user_key)s AND source_key = %(source_key)s
             AND generation = %(sync)s) >= %(total)s
RETURNING model_id, embed_key
"""

# Rule 8, the sweep: lock the released entries (in key order), then, in a snapshot taken after the
# locks, delete those no row holds.
_LOCK_RELEASED = """
SELECT 1 FROM appsync_vectors AS v
JOIN unnest(%(models)s::text[], %(keys)s::bytea[]) AS r (model_id, embed_key)
    ON v.model_id = r.model_id AND v.embed_key = r.embed_key
ORDER BY v.model_id, v.embed_key
FOR UPDATE OF v
"""
_SWEEP_RELEASED = """
DELETE FROM appsync_vectors AS v
USING unnest(%(models)s::text[], %(keys)s::bytea[]) AS r (model_id, embed_key)
WHERE v.model_id = r.model_id AND v.embed_key = r.embed_key
    AND NOT EXISTS (SELECT 1 FROM appsync_operations AS o
                    WHERE o.model_id = r.model_id AND o.embed_key = r.embed_key)
"""
_CACHE_VECTOR = """
INSERT INTO appsync_vectors (model_id, embed_key, embedding) VALUES (%s, %s, %s)
ON CONFLICT DO NOTHING
"""

# The lexical half, BM25 (see the module docstring): `terms` are the query words' lexemes;
# `matched` the user's rows holding any, each with its hits (only the query's lexemes, with their
# positions: all of them, and those of the keywords, weight A); `corpus` the user's row count and
# average length; `freq` each term's weighted frequency per row; `rarity` each term's IDF. Filters
# narrow the ranked rows, never the statistics (as in the SQLite store).
_LEXICAL_CTE = """
terms AS (
    SELECT array_agg(DISTINCT l.lexeme) AS lexemes
    FROM unnest(%(terms)s::text[]) AS w (word),
        unnest(tsvector_to_array(to_tsvector('english', w.word))) AS l (lexeme)
), matched AS MATERIALIZED (
    SELECT o.uid_key, o.uid, o.search_length, {kept} AS kept,
        ts_filter(setweight(o.search, 'D', t.lexemes), '{d}') AS hits,
        ts_filter(setweight(ts_filter(o.search, '{a}'), 'D', t.lexemes), '{d}') AS keyword_hits
    FROM appsync_operations AS o, terms AS t
    WHERE o.user_key = %(user_key)s AND o.search @@ websearch_to_tsquery('english', %(words)s)
), corpus AS (
    SELECT count(*)::float8 AS rows, avg(search_length)::float8 AS length
    FROM appsync_operations WHERE user_key = %(user_key)s
), freq AS (
    SELECT uid_key, lexeme, sum(weight * positions)::float8 AS f
    FROM (
        SELECT m.uid_key, u.lexeme, %(text_weight)s::float8 AS weight,
            cardinality(u.positions) AS positions
        FROM matched AS m, unnest(m.hits) AS u
        UNION ALL
        SELECT m.uid_key, k.lexeme, %(keywords_weight)s::float8 - %(text_weight)s::float8,
            cardinality(k.positions)
        FROM matched AS m, unnest(m.keyword_hits) AS k
    ) AS counts
    GROUP BY uid_key, lexeme
), rarity AS (
    SELECT f.lexeme,
        greatest(ln((c.rows - count(*) + 0.5) / (count(*) + 0.5)), %(min_idf)s::float8) AS idf
    FROM freq AS f CROSS JOIN corpus AS c
    GROUP BY f.lexeme, c.rows
), lexical AS (
    SELECT uid_key, uid, score, row_number() OVER (ORDER BY score DESC, uid) AS rank
    FROM (
        SELECT m.uid_key, m.uid,
            sum(r.idf * f.f * (%(k1)s::float8 + 1) / (f.f + %(k1)s::float8 * (
                1 - %(b)s::float8 + %(b)s::float8 * m.search_length / c.length
            ))) AS score
        FROM matched AS m
        JOIN freq AS f USING (uid_key)
        JOIN rarity AS r USING (lexeme)
        CROSS JOIN corpus AS c
        WHERE m.kept
        GROUP BY m.uid_key, m.uid
        ORDER BY score DESC, m.uid
        LIMIT %(lexical_depth)s
    ) AS best
)
"""

_VECTOR_CTE = """
nearest AS (
    SELECT uid_key, uid, 1 - distance AS score,
        row_number() OVER (ORDER BY distance, uid) AS rank
    FROM (
        SELECT o.uid_key, o.uid, o.embedding <=> %(vector)s AS distance
        FROM appsync_operations AS o
        WHERE o.user_key = %(user_key)s AND o.model_id = %(model)s AND {kept}
        ORDER BY distance
        LIMIT %(vector_depth)s
    ) AS best
)
"""


def _empty_cte(name: str) -> str:
    """A half with no rows (the query has no words, or no vector)."""
    return (
        f"{name} AS (SELECT NULL::bytea AS uid_key, NULL::text AS uid, NULL::float8 AS score, "
        "NULL::bigint AS rank WHERE false)"
    )


# Weighted reciprocal rank fusion over both halves, as `ranking.fuse` computes it: each list has
# its own weight and k (ties: uid order).
_HYBRID = """
WITH {lexical}, {vector}, fused AS (
    SELECT uid_key, min(uid) AS uid, sum(weight / (k + rank)) AS score
    FROM (
        SELECT uid_key, uid, rank, %(lexical_weight)s::float8 AS weight,
            %(lexical_k)s::float8 AS k
        FROM lexical
        UNION ALL
        SELECT uid_key, uid, rank, %(vector_weight)s::float8, %(vector_k)s::float8 FROM nearest
    ) AS both_halves
    GROUP BY uid_key
)
SELECT {columns}, f.score
FROM fused AS f
JOIN appsync_operations AS o ON o.user_key = %(user_key)s AND o.uid_key = f.uid_key
ORDER BY f.score DESC, f.uid
LIMIT %(k)s
"""

_ONE_HALF = """
WITH {half}
SELECT {columns}, h.score
FROM {name} AS h
JOIN appsync_operations AS o ON o.user_key = %(user_key)s AND o.uid_key = h.uid_key
ORDER BY h.rank
"""


def _filters(query: SearchQuery) -> tuple[str, dict[str, Any]]:
    """The filter conditions on `o` (`true` without filters), with their parameters."""
    clauses = ["true"]
    params: dict[str, Any] = {"user_key": key_digest(query.user_id)}
    filters = query.filters
    if filters.service is not None:
        clauses.append("o.service = %(service)s")
        params["service"] = storable(filters.service)
    if filters.method is not None:
        clauses.append("o.method = %(method)s")
        params["method"] = storable(filters.method.lower())
    if filters.tag is not None:
        clauses.append("%(tag)s = ANY (o.tags)")
        params["tag"] = storable(filters.tag)
    return " AND ".join(clauses), params


Released = set[tuple[str, bytes]]
"""(model id, embed key) of cache entries whose rows went: the sweep's candidates."""


def _released(rows_: Sequence[Sequence[Any]]) -> Released:
    """The (model id, embed key) pairs of deleted or rewritten rows that had a key."""
    return {(str(model), bytes(key)) for model, key in rows_ if key is not None}


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
    """Every pooled connection: the vector type, and the HNSW scan's settings for its session.

    The HNSW scan keeps going until enough rows pass the user and filter conditions (so they
    never starve the vector half); set once per connection, a search is one round trip.
    """
    await register_vector_async(connection)
    await connection.execute(
        "SELECT set_config('hnsw.iterative_scan', 'strict_order', false), "
        "set_config('hnsw.ef_search', %s, false)",
        (str(EF_SEARCH),),
    )


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
            # Autocommit: a read is one statement, one round trip; writes open a transaction.
            kwargs={"connect_timeout": int(CONNECT_TIMEOUT_S), "autocommit": True},
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
        rows.check_dimensions(self.dimensions, batch)
        params: dict[str, Any] = {
            "user_key": key_digest(batch.user_id),
            "user": storable(batch.user_id),
            "source_key": key_digest(batch.source.url),
            "url": storable(batch.source.url),
            "sync": batch.sync.sync_id,
            "source_keys": sorted({key_digest(url) for url in batch.sync.urls}),
            "total": batch.total,
        }
        tally = rows.Tally()
        async with self._pool.connection() as connection, connection.transaction():
            # The user's lock row; '' sorts before every sync id, so a new user has seen none.
            await connection.execute(
                "INSERT INTO appsync_user_syncs (user_key, user_id, sync_id, source_keys) "
                "VALUES (%(user_key)s, %(user)s, '', '{}') ON CONFLICT (user_key) DO NOTHING",
                params,
            )
            await connection.execute(
                "SELECT 1 FROM appsync_user_syncs WHERE user_key = %(user_key)s FOR UPDATE", params
            )
            if await _true(connection, _STALE, params):
                return UpsertResult(stale=True)
            released: Released = set()
            if await _true(connection, _ADVANCE_USER, params):
                cursor = await connection.execute(_REMOVE_SOURCES, params)
                removed = await cursor.fetchall()
                tally.removed = len(removed)
                tally.removed_sources = sorted({str(url) for url, _, _ in removed})
                released |= _released([(model, key) for _, model, key in removed])
            await connection.execute(_SOURCE_GENERATION, params)
            released |= await self._write_records(connection, batch, params, tally)
            cursor = await connection.execute(_PRUNE, params)
            pruned = await cursor.fetchall()
            tally.pruned = len(pruned)
            released |= _released(pruned)
            await _sweep(connection, released)
            if batch.share_vectors:
                await _cache(connection, batch)
        return tally.result()

    @staticmethod
    async def _write_records(
        connection: psycopg.AsyncConnection[TupleRow],
        batch: UpsertBatch,
        params: Mapping[str, Any],
        tally: rows.Tally,
    ) -> Released:
        """Confirm or write the batch's records; the cache entries the rewritten rows held."""
        confirms = [record for record in batch.records if record.vector is None]
        writes = [record for record in batch.records if record.vector is not None]
        confirmed: set[bytes] = set()
        released: Released = set()
        if confirms:
            cursor = await connection.execute(
                _CONFIRM_ROWS,
                {
                    **params,
                    "service": storable(batch.source.service),
                    "version": storable(batch.source.version),
                    "model": batch.model_id,
                    "uid_keys": [key_digest(record.uid) for record in confirms],
                    "hashes": [record.content_hash for record in confirms],
                    "embed_keys": [bytes.fromhex(record.embed_hash) for record in confirms],
                },
            )
            confirmed = {bytes(row[0]) for row in await cursor.fetchall()}
        if writes:
            uid_keys = [key_digest(record.uid) for record in writes]
            cursor = await connection.execute(
                "SELECT model_id, embed_key FROM appsync_operations "
                "WHERE user_key = %s AND uid_key = ANY (%s)",
                (params["user_key"], uid_keys),
            )
            released = _released(await cursor.fetchall())
            async with connection.cursor() as cursor:
                await cursor.executemany(
                    _UPSERT_ROW,
                    [
                        _row(batch, record, uid_key, params)
                        for record, uid_key in zip(writes, uid_keys, strict=True)
                    ],
                )
                # Cards after their rows (a card references its row); a row written without a
                # card loses any card it had.
                carded = [
                    (params["user_key"], uid_key, record.card)
                    for record, uid_key in zip(writes, uid_keys, strict=True)
                    if record.card is not None
                ]
                if carded:
                    await cursor.executemany(_UPSERT_CARD, carded)
                if len(carded) < len(writes):
                    await cursor.execute(
                        "DELETE FROM appsync_operation_cards "
                        "WHERE user_key = %s AND uid_key = ANY (%s)",
                        (
                            params["user_key"],
                            [
                                uid_key
                                for record, uid_key in zip(writes, uid_keys, strict=True)
                                if record.card is None
                            ],
                        ),
                    )
        for record in confirms:
            if key_digest(record.uid) in confirmed:
                tally.unchanged += 1
            else:
                tally.needs_vectors.append(record.uid)
        tally.written = len(writes)
        return released

    async def delete(self, user_id: str, *, source_url: str | None = None) -> int:
        """Delete a user's rows (of one source, or all); generations stay as tombstones."""
        async with self._pool.connection() as connection, connection.transaction():
            if source_url is None:
                cursor = await connection.execute(
                    "DELETE FROM appsync_operations WHERE user_key = %s "
                    "RETURNING model_id, embed_key",
                    (key_digest(user_id),),
                )
            else:
                cursor = await connection.execute(
                    "DELETE FROM appsync_operations WHERE user_key = %s AND source_key = %s "
                    "RETURNING model_id, embed_key",
                    (key_digest(user_id), key_digest(source_url)),
                )
            deleted = await cursor.fetchall()
            await _sweep(connection, _released(deleted))
        return len(deleted)

    # --- reads --------------------------------------------------------------------------

    async def known(
        self, user_id: str, source_url: str, sync_id: str, model_id: str, uids: Sequence[str]
    ) -> Known:
        """Whether a batch would be stale, and the stored hashes of `uids` for `model_id`."""
        params = {
            "user_key": key_digest(user_id),
            "source_key": key_digest(source_url),
            "sync": sync_id,
        }
        by_key = {key_digest(uid): uid for uid in uids}
        async with (
            self._pool.connection() as connection,
            connection.transaction(),
        ):
            await connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            if await _true(connection, _STALE, params):
                return Known(stale=True)
            cursor = await connection.execute(
                "SELECT uid_key, content_hash FROM appsync_operations "
                "WHERE user_key = %s AND model_id = %s AND uid_key = ANY (%s)",
                (params["user_key"], model_id, list(by_key)),
            )
            found = await cursor.fetchall()
        return Known(stale=False, hashes={by_key[bytes(key)]: digest for key, digest in found})

    async def cached_vectors(
        self, model_id: str, embed_hashes: Sequence[str]
    ) -> Mapping[str, tuple[float, ...]]:
        """The shared cache's vectors of those embed hashes for a model (the ones found)."""
        async with self._pool.connection() as connection:
            cursor = await connection.execute(
                "SELECT embed_key, embedding FROM appsync_vectors "
                "WHERE model_id = %s AND embed_key = ANY (%s)",
                (model_id, [bytes.fromhex(key) for key in dict.fromkeys(embed_hashes)]),
            )
            found = await cursor.fetchall()
        return {bytes(key).hex(): tuple(vector.to_list()) for key, vector in found}

    async def search(self, query: SearchQuery) -> list[Hit]:
        """The user's operations that best answer the query, best first, in one statement."""
        rows.check_dimensions(self.dimensions, query=query)
        terms = lexical_terms(query.text)
        lexical = bool(terms) and query.ranking is not Ranking.VECTOR
        vector = query.vector is not None and query.ranking is not Ranking.LEXICAL
        if not lexical and not vector:
            return []
        kept, params = _filters(query)
        params |= {
            "terms": terms,
            "words": " or ".join(terms),
            "k1": BM25_K1,
            "b": BM25_B,
            "min_idf": BM25_MIN_IDF,
            "keywords_weight": KEYWORDS_WEIGHT,
            "text_weight": TEXT_WEIGHT,
            "model": query.model_id,
            "vector": None if query.vector is None else np.asarray(query.vector, np.float32),
            "k": query.k,
            "lexical_k": RRF_K_LEXICAL,
            "vector_k": RRF_K_VECTOR,
            "lexical_weight": LEXICAL_WEIGHT,
            "vector_weight": VECTOR_WEIGHT,
        }
        lexical_cte = _LEXICAL_CTE.replace("{kept}", kept) if lexical else _empty_cte("lexical")
        vector_cte = _VECTOR_CTE.replace("{kept}", kept) if vector else _empty_cte("nearest")
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
        async with self._pool.connection() as connection:
            cursor = await connection.execute(statement.encode(), params)
            found = await cursor.fetchall()
        return [rows.hit(row[:-1], row[-1], row[7]) for row in found]

    async def stats(self, user_id: str | None = None, sync_id: str | None = None) -> IndexStats:
        """Counts of rows, users, sources, rows per model id, and rows of one sync."""
        where, params = (
            ("WHERE user_key = %s", (key_digest(user_id),)) if user_id is not None else ("", ())
        )
        async with self._pool.connection() as connection, connection.transaction():
            await connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor = await connection.execute(
                "SELECT count(*), count(DISTINCT user_key), "
                f"count(DISTINCT (user_key, source_key)) FROM appsync_operations {where}",
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
                in_sync = await _count(
                    connection,
                    "SELECT count(*) FROM appsync_operations WHERE generation = %s"
                    + (" AND user_key = %s" if user_id is not None else ""),
                    (sync_id, *params),
                )
            cached = 0
            if user_id is None:
                cached = await _count(connection, "SELECT count(*) FROM appsync_vectors", ())
        operations, users, sources = totals if totals is not None else (0, 0, 0)
        return IndexStats(
            operations=int(operations),
            users=int(users),
            sources=int(sources),
            by_model=by_model,
            in_sync=in_sync,
            cached_vectors=cached,
        )

    async def card(self, user_id: str, uid: str) -> str | None:
        """The card (JSON text) of one of the user's operations; None if none is stored."""
        async with self._pool.connection() as connection:
            cursor = await connection.execute(
                "SELECT card FROM appsync_operation_cards WHERE user_key = %s AND uid_key = %s",
                (key_digest(user_id), key_digest(uid)),
            )
            row = await cursor.fetchone()
        return None if row is None else str(row[0])

    async def sources(self, user_id: str) -> list[SourceSummary]:
        """The user's synced specs with their operation counts, by service name then URL."""
        async with self._pool.connection() as connection:
            cursor = await connection.execute(_SOURCES, {"user_key": key_digest(user_id)})
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
                "INSERT INTO appsync_sync_runs (sync_id, run_id, user_id, user_key, started_at, "
                f"updated_at, ended) VALUES (%s, %s, %s, %s, {_NOW}, {_NOW}, %s) "
                "ON CONFLICT (sync_id, run_id) DO UPDATE SET "
                f"updated_at = {_NOW}, ended = appsync_sync_runs.ended OR excluded.ended "
                "RETURNING (xmax = 0) AS inserted",
                (sync_id, run_id, storable(user_id), key_digest(user_id), ended),
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
                (sync_id, run_id, index, Jsonb(storable_json(summary))),
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
            found = await cursor.fetchall()
        return [SyncRun.of(row, specs.get(row[1], {})) for row in found]

    async def runs_of_user(self, user_id: str, *, since: float) -> list[SyncRun]:
        """The user's runs started since `since`, oldest first, without their specs."""
        async with self._pool.connection() as connection:
            cursor = await connection.execute(
                f"{_RUN_COLUMNS} WHERE user_key = %s AND started_at >= %s ORDER BY started_at",
                (key_digest(user_id), since),
            )
            found = await cursor.fetchall()
        return [SyncRun.of(row, {}) for row in found]

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


def _row(
    batch: UpsertBatch, record: OperationRecord, uid_key: bytes, params: Mapping[str, Any]
) -> tuple[Any, ...]:
    """The values of `_UPSERT_ROW` for one record with a vector."""
    return (
        params["user_key"],
        uid_key,
        params["source_key"],
        params["user"],
        storable(record.uid),
        params["url"],
        *rows.content_values(batch, record, tags=list, embed_key=bytes.fromhex),
        np.asarray(record.vector, np.float32),
    )


async def _sweep(connection: psycopg.AsyncConnection[TupleRow], released: Released) -> None:
    """Delete the released cache entries that no row holds any more (rule 8)."""
    if not released:
        return
    ordered = sorted(released)
    params = {"models": [model for model, _ in ordered], "keys": [key for _, key in ordered]}
    await connection.execute(_LOCK_RELEASED, params)
    await connection.execute(_SWEEP_RELEASED, params)


async def _cache(connection: psycopg.AsyncConnection[TupleRow], batch: UpsertBatch) -> None:
    """Put the batch's written vectors into the shared cache, in key order (rule 8)."""
    entries = sorted(
        {
            bytes.fromhex(record.embed_hash): record.vector
            for record in batch.records
            if record.vector is not None
        }.items()
    )
    if not entries:
        return
    async with connection.cursor() as cursor:
        await cursor.executemany(
            _CACHE_VECTOR,
            [(batch.model_id, key, np.asarray(vector, np.float32)) for key, vector in entries],
        )


async def _count(
    connection: psycopg.AsyncConnection[TupleRow], statement: LiteralString, params: Sequence[Any]
) -> int:
    cursor = await connection.execute(statement, params)
    row = await cursor.fetchone()
    return int(row[0]) if row is not None else 0


async def _true(
    connection: psycopg.AsyncConnection[TupleRow],
    statement: LiteralString,
    params: Mapping[str, Any],
) -> bool:
    """Whether the statement returns a row whose first value is true."""
    cursor = await connection.execute(statement, params)
    row = await cursor.fetchone()
    return row is not None and bool(row[0])
