"""The operations index port: what every store adapter (the SQLite file, PostgreSQL) implements.

Plain frozen data crosses it, in and out; every method is async (the SQLite adapter runs its
blocking calls in a worker thread, the PostgreSQL adapter uses async psycopg).

Rows are keyed by (user_id, uid). Each row records its source (spec URL, service, version), the
content hash of the text that was embedded, the model id of its vector, and its *generation*: the
id of the sync that last wrote or confirmed it. A sync id (`data.sync.id` of the batch events) is
the id of the sync's run: a ULID the Inngest server makes from its own clock when it schedules the
run, so a later sync sorts later whatever the clocks of the app replicas that sent the events.
(Ids written before that change were the event's time in ms, zero-padded to 15 digits, a dash and
the event id: they start with "00" and sort before every ULID, so an older index upgrades in
place.) Sync ids are compared as plain strings, byte by byte (in PostgreSQL: `COLLATE "C"`, never
a locale's collation).

Re-sync rules (an adapter applies all of them for one `upsert` atomically, in one transaction that
serialises with other writers of the same user):

1. **Source generation.** Each (user_id, source_url) keeps the newest sync id that wrote to it (its
   generation); the record outlives the source's rows as a tombstone.
2. **User sync.** Each user keeps the newest sync id seen and that sync's list of spec URLs.
3. **Stale batches are ignored.** A batch is stale, and changes nothing (`UpsertResult.stale`), when
   its sync id is older than its source's generation, or older than the user's newest sync while its
   source URL is not in that newest sync's URLs. So a late batch of an older sync never brings back
   an operation (or a whole spec) that a newer sync removed.
4. **A newer sync moves the user forward.** When a batch's sync id is newer than the user's
   newest sync: the user's newest sync becomes (sync id, sync URLs), and every source of that user
   whose URL is not in the sync URLs loses all its rows; its generation becomes that sync id.
   Its URLs appear in `UpsertResult.removed_sources`.
5. **Writing.** The source's generation becomes the batch's sync id when that is newer. A record
   with a vector is written (inserted, or replaced wholesale: text, metadata, hash, model id,
   vector, source) with generation = the batch's sync id. A record without a vector is a
   confirmation that the stored row is unchanged: when a row (user_id, uid) exists with the same
   content hash and model id, only its generation (and source fields) are updated; otherwise nothing
   is written for it and its uid is returned in `UpsertResult.needs_vectors` (the caller embeds it
   and upserts again). This makes the check-then-skip of unchanged documents race-free.
6. **Pruning dropped operations.** After writing, when the number of rows of (user_id, source_url)
   with generation = the batch's sync id is at least the batch's `total` (the number of documents
   the sync made of that spec), the rows of that source with an older generation are deleted
   (`UpsertResult.pruned`): operations the spec dropped go once the new sync is complete.
7. **Idempotence.** Replaying a batch (same data, any event id) leaves the index exactly as one
   delivery did: the same rows, hashes, vectors and generations.
8. **Shared vectors.** With `UpsertBatch.share_vectors`, every record written with a vector also
   puts that vector into the shared cache under (model id, `embed_hash`), unless one is there;
   `cached_vectors` finds it for any user, so a text is embedded once per model, whoever syncs
   it. Rows keep their own copy (each user's vector search needs its own rows' vectors), so the
   cache is only ever read to avoid embedding. An entry lives while a row holds its (model id,
   embed hash): in the transaction that deletes or rewrites rows (pruning, a removed spec URL,
   `delete`, a row rewritten with another text or model) the entries that no row holds any more
   are deleted, so the cache never outgrows the distinct texts the index holds. Concurrent writers
   store one vector per key; a race may drop an entry another writer still holds (it is embedded
   again by the next user who needs it), never keep one nobody holds.

A uid found under two spec URLs of one user (the same spec at two addresses) belongs to the source
that wrote it last.

Cards (`appsync.openapi.cards`): a record may carry its operation's card (JSON text). The card
is stored beside the row, keyed by (user_id, uid), in the same transaction as the row; the
content hash covers it, so a changed card rewrites the row (rule 5), and whatever deletes a row
(rules 4 and 6, `delete`) deletes its card. `card` reads one; `sources` lists a user's specs.

Any text is accepted, of any length, on either store. Keys (user id, uid, spec URL) are compared
exactly, whatever they hold (PostgreSQL indexes them by their SHA-256: a btree entry holds at most
~2,700 bytes); stored text that PostgreSQL cannot hold — U+0000, and lone surrogates, which are not
UTF-8 — reads back as U+FFFD on both stores (`storable`), filters included, so both give the same
results.

Search (`search`): only the query's user's rows, filtered by service, method and tag (exact,
case-insensitive for method). LEXICAL ranks rows by BM25 over `keywords` (weighted higher) and
`text`, with the query's terms (`ranking.lexical_terms`) OR-ed; VECTOR ranks rows whose model id is
the query's by cosine distance; HYBRID fuses both candidate lists (`ranking.LEXICAL_CANDIDATES` and
`ranking.VECTOR_CANDIDATES`, or `k` when more) with `ranking.fuse`. Hits come best first, at
most `k`; `score` is the fused score (HYBRID), the negated BM25 (LEXICAL, higher is better) or
the cosine similarity (VECTOR).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

DEFAULT_K = 10
MAX_K = 100
# How long the sync journal keeps a run after its last record (status needs it while a run goes on;
# afterwards the Inngest server's run output has everything).
JOURNAL_RETENTION_S = 7 * 24 * 3600


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """`text` with U+0000 and lone surrogates (which PostgreSQL's text cannot hold) as U+FFFD."""
    return _UNSTORABLE.sub("\ufffd", text)


def storable_json(value: Any) -> Any:  # noqa: ANN401 - any JSON value
    """A JSON value with every string (keys too) made `storable`."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, Mapping):
        return {storable(str(key)): storable_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable_json(item) for item in value]
    return value


def key_digest(value: str) -> bytes:
    """The SHA-256 of a key's exact characters: a short, NUL-free stand-in for indexing it."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


class StoreConfigError(ValueError):
    """An index URL or store setting that cannot work; the message names the setting and why."""


class Ranking(enum.StrEnum):
    """How `search` ranks: both halves fused (the default), or one half alone (for measuring)."""

    HYBRID = "hybrid"
    LEXICAL = "lexical"
    VECTOR = "vector"


@dataclass(frozen=True, slots=True)
class SourceRef:
    """The spec a batch came from."""

    url: str
    service: str
    version: str


@dataclass(frozen=True, slots=True)
class SyncRef:
    """The sync a batch belongs to: its `openapi/app.sync` event id and all its spec URLs."""

    sync_id: str
    urls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OperationRecord:
    """One operation to index; `vector` None means "unchanged, keep the stored vector"."""

    uid: str
    method: str
    path: str
    operation_id: str | None
    summary: str
    tags: tuple[str, ...]
    deprecated: bool
    keywords: str
    text: str
    content_hash: str
    embed_hash: str  # sha256 (hex) of the embedded text: the shared cache's key, with the model
    vector: tuple[float, ...] | None = None
    card: str | None = None  # the operation's card, as JSON text (`appsync.index.prepare`)

    def with_vector(self, vector: Iterable[float]) -> OperationRecord:
        """This record with `vector` (a list, or a row of a numpy array) as its vector."""
        return dataclasses.replace(self, vector=tuple(float(x) for x in vector))


@dataclass(frozen=True, slots=True)
class UpsertBatch:
    """One batch of one spec's operations for one user, in one sync."""

    user_id: str
    source: SourceRef
    sync: SyncRef
    total: int
    model_id: str
    records: tuple[OperationRecord, ...]
    share_vectors: bool = True  # rule 8: put the written vectors into the shared cache


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """What one `upsert` did."""

    stale: bool = False
    written: int = 0
    unchanged: int = 0
    needs_vectors: tuple[str, ...] = ()
    pruned: int = 0
    removed_sources: tuple[str, ...] = ()
    removed: int = 0


@dataclass(frozen=True, slots=True)
class Known:
    """Before embedding a batch: is it stale, and which uids are stored with which content hash."""

    stale: bool
    hashes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """Exact filters; None means any."""

    service: str | None = None
    method: str | None = None
    tag: str | None = None


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """One search of one user's operations."""

    user_id: str
    text: str
    vector: tuple[float, ...] | None
    model_id: str
    k: int = DEFAULT_K
    filters: SearchFilters = SearchFilters()
    ranking: Ranking = Ranking.HYBRID


@dataclass(frozen=True, slots=True)
class Hit:
    """One operation found, with its score (higher is better)."""

    uid: str
    score: float
    service: str
    version: str
    method: str
    path: str
    operation_id: str | None
    summary: str
    tags: tuple[str, ...]
    deprecated: bool
    source_url: str


@dataclass(frozen=True, slots=True)
class SourceSummary:
    """One spec a user has synced: where from, what it is, how many operations, which sync."""

    url: str
    service: str
    version: str
    operations: int
    sync_id: str  # the newest sync that wrote to this spec URL (its generation: the run's id)
    sync_event_id: str | None = None  # that sync's event id, from the journal while it has it


@dataclass(frozen=True, slots=True)
class IndexStats:
    """Counts of what is stored (for one user, or for everyone)."""

    operations: int
    users: int
    sources: int
    by_model: Mapping[str, int] = field(default_factory=dict)
    in_sync: int = 0  # with a sync id: the rows that sync wrote or confirmed (its progress)
    cached_vectors: int = 0  # vectors in the shared cache (every user's; 0 with a user id)


class OperationIndex(Protocol):
    """A store of users' operations with hybrid search, applying the re-sync rules above."""

    async def known(
        self, user_id: str, source_url: str, sync_id: str, model_id: str, uids: Sequence[str]
    ) -> Known:
        """Whether a batch would be stale (rule 3), and the stored hashes of `uids` for a model."""
        ...

    async def upsert(self, batch: UpsertBatch) -> UpsertResult:
        """Apply one batch under the re-sync rules, atomically."""
        ...

    async def delete(self, user_id: str, *, source_url: str | None = None) -> int:
        """Delete a user's rows (of one source, or all); generations stay as tombstones."""
        ...

    async def search(self, query: SearchQuery) -> list[Hit]:
        """The user's operations that best answer the query, best first."""
        ...

    async def stats(self, user_id: str | None = None, sync_id: str | None = None) -> IndexStats:
        """Counts of rows, users, sources and rows per model id; with `sync_id`, its rows too."""
        ...

    async def card(self, user_id: str, uid: str) -> str | None:
        """The card (JSON text) of one of the user's operations; None if none is stored."""
        ...

    async def sources(self, user_id: str) -> list[SourceSummary]:
        """The user's synced specs with their operation counts, by service name then URL."""
        ...

    async def close(self) -> None:
        """Release connections and threads; the index is unusable afterwards."""
        ...


@dataclass(frozen=True, slots=True)
class SyncRun:
    """What the sync function recorded of one run of one sync, as it went.

    Times are epoch seconds by the store's clock; `specs` maps a spec's index in the sync's URLs to
    its summary (the same summary the run's output lists once it ends).
    """

    sync_id: str
    run_id: str
    user_id: str
    started_at: float
    updated_at: float
    ended: bool
    specs: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, row: Sequence[Any], specs: Mapping[int, Mapping[str, Any]]) -> SyncRun:
        """A run from a store's row (sync id, run id, user id, started, updated, ended)."""
        sync_id, run_id, user_id, started_at, updated_at, ended = row
        return cls(
            str(sync_id),
            str(run_id),
            storable(str(user_id)),
            float(started_at),
            float(updated_at),
            bool(ended),
            specs,
        )


class SyncJournal(Protocol):
    """Progress the sync function records itself, so status needs only the server's REST API.

    Every store adapter is also a journal, in the same database as the index it describes.
    """

    async def record_run(self, sync_id: str, run_id: str, user_id: str, *, ended: bool) -> None:
        """Note that a run of a sync works now (keeping its first start), or that it ended."""
        ...

    async def record_spec(
        self, sync_id: str, run_id: str, index: int, summary: Mapping[str, Any]
    ) -> None:
        """Record the summary of one spec of a run, once it is synced or has failed for good."""
        ...

    async def runs(self, sync_id: str) -> list[SyncRun]:
        """The recorded runs of one sync, oldest first, with their specs."""
        ...

    async def runs_of_user(self, user_id: str, *, since: float) -> list[SyncRun]:
        """The user's runs started since `since`, oldest first, without their specs."""
        ...


class KeyStore(Protocol):
    """Secrets kept with the index, shared by every process that opens the same store."""

    async def shared_key(self, name: str) -> bytes:
        """The random 32-byte key named `name`, made on first use and the same ever after."""
        ...


class VectorCache(Protocol):
    """The shared vectors of rule 8: one per (model id, embedded text), whoever embedded it."""

    async def cached_vectors(
        self, model_id: str, embed_hashes: Sequence[str]
    ) -> Mapping[str, tuple[float, ...]]:
        """The cached vectors of those embed hashes for a model (the ones found), in one query."""
        ...


class Store(OperationIndex, SyncJournal, KeyStore, VectorCache, Protocol):
    """One store adapter: the operations index, the sync journal, the shared keys and vectors."""
