"""What both store adapters do alike: a row's stored values, hits read back, upsert tallies.

Text is made `storable` here, once for both stores, so that they store and return the same
characters (`appsync.index.base`: "Any text is accepted").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from appsync.index.base import (
    Hit,
    OperationRecord,
    SearchQuery,
    UpsertBatch,
    UpsertResult,
    storable,
)

# The columns of an operations row besides its keys and vector, the same in both stores' tables
# and in this order in their upsert statements (`content_values`).
CONTENT_COLUMNS = (
    "service",
    "version",
    "method",
    "path",
    "operation_id",
    "summary",
    "tags",
    "deprecated",
    "keywords",
    "text",
    "content_hash",
    "model_id",
    "generation",
    "embed_key",
)


def content_values(
    batch: UpsertBatch,
    record: OperationRecord,
    *,
    tags: Callable[[list[str]], object],
    embed_key: Callable[[str], object],
) -> tuple[object, ...]:
    """The `CONTENT_COLUMNS` values of one record of a batch, text made storable.

    `tags` and `embed_key` give the store's form of the tag list and of the embed hash (hex).
    """
    return (
        storable(batch.source.service),
        storable(batch.source.version),
        storable(record.method),
        storable(record.path),
        None if record.operation_id is None else storable(record.operation_id),
        storable(record.summary),
        tags([storable(tag) for tag in record.tags]),
        record.deprecated,
        storable(record.keywords),
        storable(record.text),
        record.content_hash,
        batch.model_id,
        batch.sync.sync_id,
        embed_key(record.embed_hash),
    )


def check_dimensions(
    dimensions: int, batch: UpsertBatch | None = None, query: SearchQuery | None = None
) -> None:
    """Raise `ValueError` unless every vector of the batch or query has the index's dimensions."""
    for record in batch.records if batch is not None else ():
        if record.vector is not None and len(record.vector) != dimensions:
            raise ValueError(
                f"record {record.uid!r} has a {len(record.vector)}-dimensional vector, "
                f"the index holds {dimensions}"
            )
    if query is not None and query.vector is not None and len(query.vector) != dimensions:
        raise ValueError(
            f"the query vector has {len(query.vector)} dimensions, the index {dimensions}"
        )


# The columns a hit is read from, in `hit` order (an adapter may prefix them with a table alias).
HIT_COLUMNS = ("uid", *CONTENT_COLUMNS[: CONTENT_COLUMNS.index("deprecated") + 1], "source_url")


def hit(row: Sequence[Any], score: float, tags: Sequence[str]) -> Hit:
    """A hit from a row of `HIT_COLUMNS` (its tags already decoded by the adapter)."""
    uid, service, version, method, path, operation_id, summary, _, deprecated, url = row
    return Hit(
        uid=storable(uid),
        score=float(score),
        service=service,
        version=version,
        method=method,
        path=path,
        operation_id=operation_id,
        summary=summary,
        tags=tuple(tags),
        deprecated=bool(deprecated),
        source_url=storable(url),
    )


@dataclass(slots=True)
class Tally:
    """What one `upsert` did, counted as it goes (see `UpsertResult`)."""

    written: int = 0
    unchanged: int = 0
    needs_vectors: list[str] = field(default_factory=list)
    pruned: int = 0
    removed_sources: list[str] = field(default_factory=list)
    removed: int = 0

    def result(self) -> UpsertResult:
        """The frozen result."""
        return UpsertResult(
            written=self.written,
            unchanged=self.unchanged,
            needs_vectors=tuple(self.needs_vectors),
            pruned=self.pruned,
            removed_sources=tuple(storable(url) for url in self.removed_sources),
            removed=self.removed,
        )
