"""A sync's document `{uid, text, metadata}` → what the index stores and what the model embeds.

Pure functions. The document's text is the sentence form `appsync.openapi.documents` writes
("The `op` operation (GET /path) is <summary>. ... The description is <description>."); the
summary, parameter names and description are read back from it, HTML and markdown are stripped,
and identifiers are split into words ("GetCheckoutSessions" → "get checkout sessions").

- the **embedded text** is short and dense: summary, operation words, tags, service name, and
  the description's first sentence (measured with `benchmarks/quality.py`: path words and the
  whole description made the vectors worse, the service name made them better);
- the lexical **keywords** (weighted above the rest) hold the same names; the lexical **text** is
  the whole cleaned document, parameters included;
- the **content hash** covers everything stored for the row except the vector, its card
  included, so any change of what is shown or searched rewrites the row; the **embed hash**
  (sha256 of the embedded text) is the key of its vector in the shared cache, so a row whose card
  changed but whose embedded text did not gets its vector from the cache, never from the model;
- the **card** is stored as canonical JSON (sorted keys, numbers as a float64 reads them back),
  the same bytes however the batch's JSON was re-encoded on its way.

The cleaning (`appsync.openapi.scalars.clean_text`) is linear in its input and bounded: every
pattern stops at the next delimiter it looks for (`<`, `[`, `(`), so no input makes it backtrack
over the text again and again (a megabyte of `[` once cost seconds), and only the first
`MAX_TEXT_CHARS` of a document and `MAX_NAME_CHARS` of a name are read. It is still CPU work:
callers on an event loop run it in a worker thread.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from appsync.index.base import OperationRecord
from appsync.openapi.cards import OperationCard, json_safe
from appsync.openapi.scalars import clean_text

MAX_SUMMARY_CHARS = 200
MAX_EMBED_CHARS = 600
_CARD_VALUES = 1_000_000  # more than a card within MAX_CARD_BYTES can hold
# What is read of a document's text (real operations stay under 5,000 characters) and of a name
# (operationId, path, tag, service).
MAX_TEXT_CHARS = 20_000
MAX_NAME_CHARS = 1_000
_HEAD = re.compile(r"^The `(?P<label>[^`]*)` operation \((?P<method>\S+) (?P<path>[^)]*)\) is ")
_HEAD_END = re.compile(
    r"\. (?:This operation is deprecated\.|The important tags are |It has no tags\.)"
)
_PARAM = re.compile(r"`([^`]{1,200})` is a property in the")
_DESCRIPTION = re.compile(r"The description is (?P<text>.*?)\.?$", re.DOTALL)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^0-9A-Za-z]+")
_VERSION_SEGMENT = re.compile(r"^v\d+(?:\.\d+)*$", re.IGNORECASE)


def identifier_words(identifier: str) -> str:
    """`GetCheckoutSessions`, `get_checkout-sessions` → `get checkout sessions`."""
    spaced = _CAMEL.sub(" ", identifier)
    return " ".join(_NON_WORD.sub(" ", spaced).lower().split())


def path_words(path: str) -> str:
    """`/v1/checkout/sessions/{session}` → `checkout sessions session` (versions dropped)."""
    segments = [s.strip("{}") for s in path.split("/") if s and not _VERSION_SEGMENT.match(s)]
    return " ".join(identifier_words(s) for s in segments if s).strip()


def _first_sentence(text: str, limit: int) -> str:
    head = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    return head if len(head) <= limit else head[: limit - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class Prepared:
    """One document ready to index: the record (without vector) and the text to embed."""

    record: OperationRecord
    embed_text: str


def _summary_and_description(text: str) -> tuple[str, str]:
    head = _HEAD.match(text)
    summary = ""
    if head is not None:
        rest = text[head.end() :]
        end = _HEAD_END.search(rest)
        summary = rest[: end.start()] if end else rest
    found = _DESCRIPTION.search(text)
    description = found.group("text") if found else ""
    if description == "not provided":
        description = ""
    if summary == "not described":
        summary = ""
    return clean_text(summary), clean_text(description)


def stored_card(card: OperationCard) -> str:
    """A card as the index stores it: canonical JSON, numbers as they survive a float64."""
    return json.dumps(
        json_safe(card.model_dump(mode="json"), max_nodes=_CARD_VALUES),
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )


def prepare(document: Mapping[str, Any], card: str | None = None) -> Prepared:
    """A validated document (`uid`, `text`, `metadata`) and its stored card → record, embed text."""
    uid: str = document["uid"]
    text: str = document["text"][:MAX_TEXT_CHARS]
    metadata: Mapping[str, Any] = document["metadata"]
    method = str(metadata["method"]).lower()[:MAX_NAME_CHARS]
    path = str(metadata["path"])[:MAX_NAME_CHARS]
    operation_id = str(metadata.get("operationId") or "")[:MAX_NAME_CHARS] or None
    tags = tuple(str(tag)[:MAX_NAME_CHARS] for tag in metadata.get("tags", ()))
    deprecated = bool(metadata.get("deprecated", False))
    service = str(metadata.get("service", ""))[:MAX_NAME_CHARS]

    summary, description = _summary_and_description(text)
    short_summary = _first_sentence(summary or description, MAX_SUMMARY_CHARS)
    op_words = identifier_words(operation_id) if operation_id else ""
    route_words = path_words(path)
    tag_words = ", ".join(tags)
    params = " ".join(dict.fromkeys(identifier_words(p) for p in _PARAM.findall(text)))

    description_head = _first_sentence(description, MAX_SUMMARY_CHARS)
    embed_parts = [
        short_summary,
        op_words,
        tag_words,
        service,
        description_head if description_head != short_summary else "",
    ]
    embed_text = ". ".join(p.rstrip(". ") for p in embed_parts if p.rstrip(". "))[:MAX_EMBED_CHARS]
    keywords = " ".join(
        part for part in (short_summary, op_words, route_words, tag_words, service) if part
    )
    lexical_text = " ".join(part for part in (clean_text(text), params) if part)

    fields = {
        "uid": uid,
        "method": method,
        "path": path,
        "operation_id": operation_id,
        "summary": short_summary,
        "tags": tags,
        "deprecated": deprecated,
        "service": service,
        "version": metadata.get("version"),
        "keywords": keywords,
        "text": lexical_text,
        "embed": embed_text,
    }
    if card is not None:  # a record without a card hashes as it did before cards
        fields["card"] = card
    digest = hashlib.sha256(
        json.dumps(fields, ensure_ascii=False, sort_keys=True).encode("utf-8", "surrogatepass")
    ).hexdigest()
    record = OperationRecord(
        uid=uid,
        method=method,
        path=path,
        operation_id=operation_id,
        summary=short_summary,
        tags=tags,
        deprecated=deprecated,
        keywords=keywords,
        text=lexical_text,
        content_hash=digest,
        card=card,
        embed_hash=embed_hash(embed_text),
    )
    return Prepared(record=record, embed_text=embed_text)


def embed_hash(text: str) -> str:
    """The shared vector cache's key of an embedded text (with the model id): its sha256."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
