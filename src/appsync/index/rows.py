"""What both store adapters do alike with rows: stored values, hits read back, upsert tallies.

Text is made `storable` here, once for both stores, so that they store and return the same
characters (`appsync.index.base`: "Any text is accepted").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from appsync.index.base import Hit, OperationRecord, UpsertBatch, UpsertResult, storable


@dataclass(frozen=True, slots=True)
class RowContent:
    """What an operations row holds besides its keys and vector, ready to store."""

    service: str
    version: str
    method: str
    path: str
    operation_id: str | None
    summary: str
    tags: tuple[str, ...]
    deprecated: bool
    keywords: str
    text: str
    content_hash: str
    model_id: str
    generation: str
    embed_hash: str

    @classmethod
    def of(cls, batch: UpsertBatch, record: OperationRecord) -> RowContent:
        """The stored content of one record of a batch."""
        return cls(
            service=storable(batch.source.service),
            version=storable(batch.source.version),
            method=storable(record.method),
            path=storable(record.path),
            operation_id=None if record.operation_id is None else storable(record.operation_id),
            summary=storable(record.summary),
            tags=tuple(storable(tag) for tag in record.tags),
            deprecated=record.deprecated,
            keywords=storable(record.keywords),
            text=storable(record.text),
            content_hash=record.content_hash,
            model_id=batch.model_id,
            generation=batch.sync.sync_id,
            embed_hash=record.embed_hash,
        )


# The columns a hit is read from, in `hit` order (an adapter may prefix them with a table alias).
HIT_COLUMNS = (
    "uid",
    "service",
    "version",
    "method",
    "path",
    "operation_id",
    "summary",
    "tags",
    "deprecated",
    "source_url",
)


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
