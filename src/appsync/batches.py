"""The sync's domain steps between a fetched spec and the fan-out events, free of Inngest.

`load_documents` is what both the Inngest function and `appsync preview` run on spec bytes.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from appsync.openapi import Document, SpecDocuments, parse_spec, spec_documents

BATCH_SIZE = 100
# One Inngest event may be 3 MiB; keep each batch well under it, JSON overhead included.
MAX_BATCH_BYTES = 2 * 1024 * 1024
# One send request carries at most 5,000 events; keep requests to a few MiB as well.
MAX_SEND_EVENTS = 1_000
MAX_SEND_BYTES = 6 * 1024 * 1024


def load_documents(raw: bytes) -> SpecDocuments:
    """Spec bytes → documents; raises `appsync.openapi.SpecError` with the reason."""
    return spec_documents(parse_spec(raw))


def document_json(document: Document) -> str:
    """The canonical one-line JSON of a document (what `appsync preview` prints)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def pack_documents(documents: Sequence[Document]) -> str:
    """Documents → a compact string for a step's output (compressed: 4 MiB is the step limit)."""
    payload = json.dumps(list(documents), ensure_ascii=False, separators=(",", ":"))
    return base64.b64encode(zlib.compress(payload.encode("utf-8"), 6)).decode("ascii")


def unpack_documents(packed: str) -> list[Document]:
    """The inverse of `pack_documents`."""
    payload = zlib.decompress(base64.b64decode(packed.encode("ascii")))
    return cast("list[Document]", json.loads(payload))


@dataclass(frozen=True, slots=True)
class Batch:
    """One page of a spec's documents, as one `pinecone/vectors.upserted` event carries it."""

    page: int
    documents: list[Document]
    size: int


def batch_documents(
    documents: Sequence[Document],
    *,
    batch_size: int = BATCH_SIZE,
    max_bytes: int = MAX_BATCH_BYTES,
) -> list[Batch]:
    """Split documents into pages of at most `batch_size` documents and about `max_bytes`."""
    batches: list[Batch] = []
    current: list[Document] = []
    size = 0
    for document in documents:
        doc_size = len(document_json(document).encode("utf-8")) + 1
        if current and (len(current) >= batch_size or size + doc_size > max_bytes):
            batches.append(Batch(len(batches) + 1, current, size))
            current, size = [], 0
        current.append(document)
        size += doc_size
    if current:
        batches.append(Batch(len(batches) + 1, current, size))
    return batches


def chunk_for_sending(
    items: Sequence[tuple[Any, int]],
    *,
    max_events: int = MAX_SEND_EVENTS,
    max_bytes: int = MAX_SEND_BYTES,
) -> Iterator[list[Any]]:
    """Group `(event, size)` pairs into send requests bounded in count and bytes."""
    chunk: list[Any] = []
    size = 0
    for item, item_size in items:
        if chunk and (len(chunk) >= max_events or size + item_size > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += item_size
    if chunk:
        yield chunk


def batch_event_id(run_id: str, spec_index: int, page: int) -> str:
    """A batch event's id: the same on every retry of a run, so the server can deduplicate."""
    return f"appsync-{run_id}-spec{spec_index}-page{page}"
