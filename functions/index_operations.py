"""The consumer of `pinecone/vectors.upserted`: each batch's operations → the user's search index.

Per batch event:

1. validate at once (outside any step): documents with the wrong shape, no `data.source` or
   `data.sync`, or no user (top-level `user`, else `data.user`) fail with a `NonRetriableError`
   naming the field; so does a batch whose `data.signature` is missing or wrong for that user
   (`appsync.sync.signing`): only batches the sync function made change the index;
2. in the same call (no step: a retry redoes only this batch either way): ask the index which
   documents are stored unchanged (same content hash, which covers the document's card, and model
   id) and whether the batch is stale;
   embed only the others; upsert the batch under the re-sync rules of `appsync.index.base`. No
   vector ever goes into the run's output (Inngest keeps at most 4 MiB of it); a retried call
   re-embeds only what is still not stored (a failed upsert writes nothing).

The run's output counts what happened: documents embedded, unchanged (not embedded), written,
pruned, removed with dropped spec URLs, or the whole batch ignored as stale.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import inngest
import pydantic

from appsync.events import (
    VECTORS_UPSERTED_EVENT,
    VectorsBatchData,
)
from appsync.index.base import OperationIndex, SourceRef, SyncRef, UpsertBatch
from appsync.index.prepare import Prepared, prepare, stored_card
from appsync.messaging.envelope import EventEnvelope, event_user, malformed, require_known_version
from appsync.metrics import Metrics
from appsync.search.embedding import Embedder
from appsync.sync.signing import BatchSigner
from appsync.users import User

FUNCTION_ID = "index-operations"
logger = logging.getLogger(__name__)
# Rounds of "embed what the store says it needs" before the step fails and Inngest retries it.
_MAX_ROUNDS = 3


@dataclass(frozen=True, slots=True)
class IndexOptions:
    """How the consumer retries and how many batches it indexes at once."""

    retries: int = 4
    concurrency: int = 4


@dataclass(frozen=True, slots=True)
class IndexRequest:
    """A validated batch event."""

    user: User
    data: VectorsBatchData


def parse_batch(event: inngest.Event) -> IndexRequest:
    """Validate a batch event; raise `NonRetriableError` saying which field is wrong."""
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
    return IndexRequest(user=event_user(event, data.user), data=data)


async def index_batch(
    index: OperationIndex, embedder: Embedder, request: IndexRequest
) -> dict[str, Any]:
    """Embed what is not stored yet and upsert the batch; the counts of what happened."""
    data = request.data
    cards = {card.uid: stored_card(card) for card in data.cards or ()}
    prepared: dict[str, Prepared] = {}
    for document in data.vectors:  # a uid twice in one batch: the last one wins
        prepared[document.uid] = prepare(
            document.model_dump(by_alias=True, exclude_none=True), cards.get(document.uid)
        )
    source = SourceRef(
        url=data.source.url, service=data.source.service, version=data.source.version
    )
    sync = SyncRef(sync_id=data.sync.id, urls=tuple(data.sync.urls))
    model_id = embedder.model_id
    summary: dict[str, Any] = {
        "user": request.user.id,
        "source": source.url,
        "sync": sync.sync_id,
        "page": data.page,
        "documents": len(prepared),
        "stale": False,
        "embedded": 0,
        "unchanged": 0,
        "written": 0,
        "pruned": 0,
        "removed": 0,
        "removedSources": [],
    }

    known = await index.known(request.user.id, source.url, sync.sync_id, model_id, list(prepared))
    if known.stale:
        return {**summary, "stale": True}
    to_embed = [
        uid for uid, item in prepared.items() if known.hashes.get(uid) != item.record.content_hash
    ]
    records = {uid: item.record for uid, item in prepared.items()}
    for _ in range(_MAX_ROUNDS):
        if to_embed:
            vectors = await asyncio.to_thread(
                embedder.encode, [prepared[uid].embed_text for uid in to_embed]
            )
            for uid, vector in zip(to_embed, vectors, strict=True):
                records[uid] = prepared[uid].record.with_vector(vector)
            summary["embedded"] += len(to_embed)
        result = await index.upsert(
            UpsertBatch(
                user_id=request.user.id,
                source=source,
                sync=sync,
                total=data.total,
                model_id=model_id,
                records=tuple(records.values()),
            )
        )
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
    def index(self) -> OperationIndex:
        """The user's operations index."""
        ...

    @property
    def embedder(self) -> Embedder:
        """The process's embedding model."""
        ...

    @property
    def batch_signer(self) -> BatchSigner:
        """Checks that a batch was made by this service's sync function."""
        ...

    @property
    def metrics(self) -> Metrics:
        """What an operator watches (batches and documents by outcome)."""
        ...


def create(
    client: inngest.Inngest,
    services: Callable[[], IndexServices],
    *,
    options: IndexOptions | None = None,
) -> inngest.Function[Any]:
    """Build the `pinecone/vectors.upserted` consumer; `services()` gives the running ones."""
    options = options or IndexOptions()

    @client.create_function(
        fn_id=FUNCTION_ID,
        name="Index synced operations",
        trigger=inngest.TriggerEvent(event=VECTORS_UPSERTED_EVENT),
        retries=options.retries,
        concurrency=[inngest.Concurrency(limit=options.concurrency)],
        middleware=[EventEnvelope],
    )
    async def index_operations(ctx: inngest.Context) -> dict[str, Any]:
        running = services()
        with running.metrics.index_run() as indexed:
            request = parse_batch(ctx.event)
            try:
                running.batch_signer.check(request.user.id, request.data)
            except inngest.NonRetriableError as exc:
                logger.warning("%s", exc)
                raise
            # No step: the batch is the run's only work, and a step's memo would be read only by
            # a second call that returns it, one more round trip through the server's queue (a
            # queue tick, 150 ms on the dev server) before the batch counts as indexed. A retried
            # call embeds and writes only what is still not stored.
            return indexed(await index_batch(running.index, running.embedder, request))

    return index_operations
