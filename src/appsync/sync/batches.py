"""Between a fetched spec and the fan-out events: documents, pages, send requests (no Inngest).

`load_documents` is what both the Inngest function and `appsync preview` run on spec bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import pydantic_core

from appsync.openapi import Document, SpecDocuments, parse_spec, spec_documents

T = TypeVar("T")
E = TypeVar("E")

BATCH_SIZE = 100
# One Inngest event may be 3 MiB; keep each batch well under it, JSON overhead included.
MAX_BATCH_BYTES = 2 * 1024 * 1024
# One send request carries at most 5,000 events; keep requests to a few MiB as well.
MAX_SEND_EVENTS = 1_000
MAX_SEND_BYTES = 6 * 1024 * 1024


def load_documents(raw: bytes, url: str | None = None) -> SpecDocuments:
    """Spec bytes (read from `url`) → documents and cards; raises `appsync.openapi.SpecError`."""
    return spec_documents(parse_spec(raw), spec_url=url)


def document_json(document: Document) -> str:
    """The canonical one-line JSON of a document (what `appsync preview` prints)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def document_size(document: Document) -> int:
    """What a document weighs in a batch event: its JSON in UTF-8, plus a separator."""
    return len(document_json(document).encode("utf-8")) + 1


@dataclass(frozen=True, slots=True)
class Bin(Generic[T]):
    """Consecutive items packed together, and their total size in bytes."""

    items: list[T]
    size: int


def pack(items: Iterable[tuple[T, int]], *, max_count: int, max_bytes: int) -> list[Bin[T]]:
    """Pack `(item, size)` pairs, in order, into bins within `max_count` and `max_bytes`.

    An item bigger than `max_bytes` gets a bin of its own. The one bin-packer: documents into
    batch events, batch events into send requests.
    """
    bins: list[Bin[T]] = []
    current: list[T] = []
    size = 0
    for item, item_size in items:
        if current and (len(current) >= max_count or size + item_size > max_bytes):
            bins.append(Bin(current, size))
            current, size = [], 0
        current.append(item)
        size += item_size
    if current:
        bins.append(Bin(current, size))
    return bins


@dataclass(frozen=True, slots=True)
class Page:
    """One batch of a spec: its documents, their cards' JSON (same order), their size in bytes."""

    documents: list[Document]
    cards: list[dict[str, Any]]
    size: int


def batch_pages(
    spec: SpecDocuments,
    *,
    batch_size: int = BATCH_SIZE,
    max_bytes: int = MAX_BATCH_BYTES,
) -> list[Page]:
    """A spec's documents with their cards as pages (page n is item n-1) within both caps.

    A page's size counts each document's JSON and its card's: cards fill the same byte budget.
    """
    cards = [card.model_dump(mode="json") for card in spec.cards]
    sizes = (
        document_size(document) + len(pydantic_core.to_json(card)) + 1
        for document, card in zip(spec.documents, cards, strict=True)
    )
    bins = pack(
        zip(range(len(cards)), sizes, strict=True), max_count=batch_size, max_bytes=max_bytes
    )
    return [
        Page([spec.documents[i] for i in bin_.items], [cards[i] for i in bin_.items], bin_.size)
        for bin_ in bins
    ]


def batch_documents(
    documents: Iterable[Document],
    *,
    batch_size: int = BATCH_SIZE,
    max_bytes: int = MAX_BATCH_BYTES,
) -> list[Bin[Document]]:
    """A spec's documents as pages (page n is bin n-1) of at most `batch_size` and ~`max_bytes`."""
    return pack(
        ((document, document_size(document)) for document in documents),
        max_count=batch_size,
        max_bytes=max_bytes,
    )


def send_requests(
    events: Iterable[tuple[E, int]],
    *,
    max_events: int = MAX_SEND_EVENTS,
    max_bytes: int = MAX_SEND_BYTES,
) -> list[list[E]]:
    """`(event, size)` pairs grouped into send requests bounded in count and bytes."""
    return [bin_.items for bin_ in pack(events, max_count=max_events, max_bytes=max_bytes)]


def batch_event_id(run_id: str, spec_index: int, page: int) -> str:
    """A batch event's id: the same on every retry of a run, so the server can deduplicate."""
    return f"appsync-{run_id}-spec{spec_index}-page{page}"
