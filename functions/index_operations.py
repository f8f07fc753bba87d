"""The consumer of `pinecone/vectors.upserted`: each batch's operations → the user's search index.

Per batch event:

1. in a worker thread (it is CPU work: the event loop keeps answering): validate the batch —
   documents with the wrong shape, no `data.source` or `data.sync`, or no user (top-level `user`,
   else `data.user`) fail with a `NonRetriableError` naming the field; so does a batch whose
   `data.signature` is missing or wrong for that user (`appsync.sync.signing`): only batches the
   sync function made change the index; then prepare every document (`appsync.index.prepare`);
2. in the same call (no step: a retry redoes only this batch either way): ask the index which
   documents are stored unchanged (same content hash and model id) and whether the batch is stale;
   get the others' vectors — kept from a failed attempt, from the shared cache, else embedded
   (`appsync.search.vectors`); upsert the batch under the re-sync rules of
   `appsync.index.base`, which also caches the new vectors for every user. No vector ever goes
   into the run's output (Inngest keeps at most 4 MiB of it).

A failed write (a full disk, the database down) keeps the vectors it embedded in memory, so a
retry embeds nothing again; it is logged as a WARNING while retries remain and as an ERROR naming
the cause after the last one, when a signed `appsync/index.failed` notice also tells the sync's
status (the store that failed is no place to record it).

Concurrency is fair across users: at most `per_user` batches of one user run at once, and at most
`concurrency` in all, so one user's big sync leaves room for everyone else's.

The run's output counts what happened: documents embedded (by the model, here), reused (a vector
from the shared cache, a failed attempt or the same text earlier in the batch), unchanged (the
user's own stored rows, not embedded), written, pruned, removed with dropped spec URLs, or the
whole batch ignored as stale.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import inngest
import pydantic

from appsync.events import (
    VECTORS_UPSERTED_EVENT,
    VectorsBatchData,
    index_failed_event,
)
from appsync.index.base import SourceRef, Store, SyncRef, UpsertBatch
from appsync.index.prepare import Prepared, prepare, stored_card
from appsync.messaging.envelope import EventEnvelope, event_user, malformed, require_known_version
from appsync.metrics import Metrics
from appsync.search.vectors import EmbeddingFlights, Encoder, RetainedVectors, gather_vectors
from appsync.sync.signing import BatchSigner
from appsync.users import User

FUNCTION_ID = "index-operations"
USER_KEY = "event.data.user.id"  # CEL over the stored event: concurrency is per user
logger = logging.getLogger(__name__)
# Rounds of "embed what the store says it needs" before the call fails and Inngest retries it.
_MAX_ROUNDS = 3
_MAX_ERROR = 300  # characters of a failure's message kept in a notice


@dataclass(frozen=True, slots=True)
class IndexOptions:
    """How the consumer retries, how many batches run at once, and whether vectors are shared."""

    retries: int = 4
    concurrency: int = 8
    per_user: int = 4
    share_vectors: bool = True


@dataclass(frozen=True, slots=True)
class IndexRequest:
    """A validated batch event and its documents, prepared for the index."""

    user: User
    data: VectorsBatchData
    prepared: dict[str, Prepared] = field(default_factory=dict)


def _validated(event: inngest.Event) -> tuple[User, VectorsBatchData]:
    """The batch's user and data; `NonRetriableError` naming a bad field."""
    require_known_version(event)
    try:
        data = VectorsBatchData.model_validate(event.data)
    except pydantic.ValidationError as exc:
        raise malformed(VECTORS_UPSERTED_EVENT, exc) from None
    if data.source.url not in data.sync.urls:
        raise inngest.NonRetriableError(
            f"malformed {VECTORS_UPSERTED_EVENT} event: data.source.url "
            f"{data.source.url!r} is not one of data.sync.urls"
        )
    return event_user(event, data.user), data


def _prepared(user: User, data: VectorsBatchData) -> IndexRequest:
    cards = {card.uid: stored_card(card) for card in data.cards or ()}
    prepared: dict[str, Prepared] = {}
    for document in data.vectors:  # a uid twice in one batch: the last one wins
        prepared[document.uid] = prepare(
            document.model_dump(by_alias=True, exclude_none=True), cards.get(document.uid)
        )
    return IndexRequest(user=user, data=data, prepared=prepared)


def parse_batch(event: inngest.Event) -> IndexRequest:
    """Validate a batch event and prepare its documents; `NonRetriableError` names a bad field.

    CPU work (validation, text cleaning): call it off the event loop.
    """
    return _prepared(*_validated(event))


def read_batch(event: inngest.Event, signer: BatchSigner) -> IndexRequest:
    """Validate a batch, refuse it unless this service's sync function signed it, prepare it.

    The signature is checked before any text is cleaned: a forged batch costs no preparation.
    """
    user, data = _validated(event)
    try:
        signer.check(user.id, data)
    except inngest.NonRetriableError as exc:
        logger.warning("%s", exc)
        raise
    return _prepared(user, data)


async def index_batch(
    index: Store,
    encoder: Encoder,
    request: IndexRequest,
    *,
    share_vectors: bool = True,
    retained: RetainedVectors | None = None,
    flights: EmbeddingFlights | None = None,
) -> dict[str, Any]:
    """Get the vectors of what is not stored yet and upsert the batch; the counts of what happened.

    `retained` keeps the vectors of a failed write for the retry, `flights` shares what the model
    embeds with the process's other batches (new, empty ones by default).
    """
    data, user_id, prepared = request.data, request.user.id, request.prepared
    retained = retained if retained is not None else RetainedVectors()
    source = SourceRef(
        url=data.source.url, service=data.source.service, version=data.source.version
    )
    sync = SyncRef(sync_id=data.sync.id, urls=tuple(data.sync.urls))
    model_id = encoder.model_id
    scope = "" if share_vectors else user_id
    summary: dict[str, Any] = {
        "user": user_id,
        "source": source.url,
        "sync": sync.sync_id,
        "page": data.page,
        "documents": len(prepared),
        "stale": False,
        "embedded": 0,
        "reused": 0,
        "unchanged": 0,
        "written": 0,
        "pruned": 0,
        "removed": 0,
        "removedSources": [],
    }

    known = await index.known(user_id, source.url, sync.sync_id, model_id, list(prepared))
    if known.stale:
        return {**summary, "stale": True}
    to_embed = [
        uid for uid, item in prepared.items() if known.hashes.get(uid) != item.record.content_hash
    ]
    records = {uid: item.record for uid, item in prepared.items()}
    for _ in range(_MAX_ROUNDS):
        gathered = await gather_vectors(
            {prepared[uid].record.embed_hash: prepared[uid].embed_text for uid in to_embed},
            encoder=encoder,
            cache=index,
            share=share_vectors,
            retained=retained,
            scope=scope,
            flights=flights,
        )
        for uid in to_embed:
            records[uid] = prepared[uid].record.with_vector(
                gathered.vectors[prepared[uid].record.embed_hash]
            )
        summary["embedded"] += len(gathered.embedded)
        summary["reused"] += len(to_embed) - len(gathered.embedded)
        try:
            result = await index.upsert(
                UpsertBatch(
                    user_id=user_id,
                    source=source,
                    sync=sync,
                    total=data.total,
                    model_id=model_id,
                    records=tuple(records.values()),
                    share_vectors=share_vectors,
                )
            )
        except Exception:
            retained.keep(scope, model_id, gathered.vectors)
            raise
        if result.stale:
            return {**summary, "stale": True}
        summary["written"] += result.written
        summary["unchanged"] += result.unchanged
        summary["pruned"] += result.pruned
        summary["removed"] += result.removed
        summary["removedSources"] += list(result.removed_sources)
        if not result.needs_vectors:
            return summary
        # Rows changed between the check and the write (another writer): embed those too.
        to_embed = list(result.needs_vectors)
        records = {uid: prepared[uid].record for uid in to_embed}
    raise RuntimeError(
        f"the index kept changing under batch page {data.page} of {source.url}; retrying"
    )


class IndexServices(Protocol):
    """What the consumer uses of the running app (`appsync.services.Services` has it)."""

    @property
    def index(self) -> Store:
        """The user's operations index (with the shared vector cache)."""
        ...

    @property
    def embedder(self) -> Encoder:
        """The process's embedding model."""
        ...

    @property
    def batch_signer(self) -> BatchSigner:
        """Checks that a batch was made by this service's sync function."""
        ...

    @property
    def metrics(self) -> Metrics:
        """Counts index runs and the documents they embedded, reused or found unchanged."""
        ...


def _cause(exc: BaseException) -> str:
    """An exception as one line: its type and message, cut short."""
    message = " ".join(str(exc).split())[:_MAX_ERROR]
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


async def _report_failure(
    client: inngest.Inngest,
    signer: BatchSigner,
    ctx: inngest.Context,
    request: IndexRequest,
    exc: Exception,
    options: IndexOptions,
) -> None:
    """Log a failed attempt; after the last one, tell the status (a signed notice) what failed."""
    data = request.data
    where = (
        f"indexing page {data.page} of {data.source.url} ({len(request.prepared)} "
        f"operations) for user {request.user.id!r}, sync {data.sync.id}"
    )
    if ctx.attempt < options.retries:
        logger.warning(
            "%s failed (attempt %d of %d), will retry: %s",
            where,
            ctx.attempt + 1,
            options.retries + 1,
            _cause(exc),
        )
        return
    logger.error(
        "%s failed after %d attempts: %s. These operations are not searchable: fix the index "
        "store (free its disk, or bring its database back), then POST the sync again",
        where,
        ctx.attempt + 1,
        _cause(exc),
        exc_info=exc,
    )
    notice = index_failed_event(
        user=request.user, data=data, operations=len(request.prepared), error=_cause(exc)
    )
    try:
        await client.send(signer.signed_notice(notice))
    except Exception:
        logger.exception("could not report the failed batch to the Inngest server")


def create(
    client: inngest.Inngest,
    services: Callable[[], IndexServices],
    *,
    options: IndexOptions | None = None,
) -> inngest.Function[Any]:
    """Build the `pinecone/vectors.upserted` consumer; `services()` gives the running ones."""
    options = options or IndexOptions()
    retained = RetainedVectors()
    flights = EmbeddingFlights()

    @client.create_function(
        fn_id=FUNCTION_ID,
        name="Index synced operations",
        trigger=inngest.TriggerEvent(event=VECTORS_UPSERTED_EVENT),
        retries=options.retries,
        concurrency=[
            inngest.Concurrency(limit=options.per_user, key=USER_KEY),
            inngest.Concurrency(limit=options.concurrency),
        ],
        middleware=[EventEnvelope],
    )
    async def index_operations(ctx: inngest.Context) -> dict[str, Any]:
        running = services()
        with running.metrics.index_run() as indexed:
            request = await asyncio.to_thread(read_batch, ctx.event, running.batch_signer)
            # No step: the batch is the run's only work, and a step's memo would be read only by
            # a second call that returns it, one more round trip through the server's queue (a
            # queue tick, 150 ms on the dev server) before the batch counts as indexed. A retried
            # call embeds and writes only what is still not stored.
            try:
                return indexed(
                    await index_batch(
                        running.index,
                        running.embedder,
                        request,
                        share_vectors=options.share_vectors,
                        retained=retained,
                        flights=flights,
                    )
                )
            except Exception as exc:
                await _report_failure(client, running.batch_signer, ctx, request, exc, options)
                raise

    return index_operations
