"""Batch pages of documents and their cards, within the count and byte caps of one event."""

from __future__ import annotations

import json
from typing import Any

from appsync.events import vectors_event
from appsync.openapi import spec_documents
from appsync.sync.batches import BATCH_SIZE, MAX_BATCH_BYTES, batch_pages, load_documents
from appsync.users import User
from harness.paths import SPECS_DIR

MAX_EVENT_BYTES = 3 * 1024 * 1024  # the Inngest server refuses a bigger event


def wide_spec(operations: int) -> dict[str, Any]:
    """A spec whose operations each take a body of 100 described fields (cards of ~35 KB)."""
    schema = {
        "type": "object",
        "properties": {
            f"field{n}": {"type": "string", "description": f"Field {n}: " + "words " * 40}
            for n in range(100)
        },
    }
    body = {"content": {"application/json": {"schema": schema}}}
    paths = {f"/things{n}": {"post": {"requestBody": body}} for n in range(operations)}
    return {"openapi": "3.0.3", "info": {"title": "Wide", "version": "1"}, "paths": paths}


def event_bytes(page_documents: list[Any], page_cards: list[Any]) -> int:
    """The JSON size of a batch event carrying these documents and cards."""
    event = vectors_event(
        event_id="e",
        user=User(id="u"),
        page=1,
        total=1,
        batch_size=BATCH_SIZE,
        vectors=page_documents,
        cards=page_cards,
        source={"url": "u", "service": "s", "version": "1"},
        sync={"id": "1-e", "urls": ["u"]},
    )
    return len(json.dumps(event.model_dump(mode="json"), ensure_ascii=False).encode())


def test_each_page_carries_its_documents_cards_in_order() -> None:
    """A page's cards are its documents' cards, uid for uid."""
    loaded = load_documents((SPECS_DIR / "stripe_spec3.json").read_bytes(), "http://s/stripe")

    pages = batch_pages(loaded)

    assert [d["uid"] for d in loaded.documents] == [d["uid"] for p in pages for d in p.documents]
    for page in pages:
        assert [d["uid"] for d in page.documents] == [card["uid"] for card in page.cards]
        assert len(page.documents) <= BATCH_SIZE
        assert page.size <= MAX_BATCH_BYTES
        assert event_bytes(page.documents, page.cards) < MAX_EVENT_BYTES


def test_card_bytes_count_against_the_page_cap() -> None:
    """Big cards fill a page's 2 MiB before 100 documents do, and no event passes 3 MiB."""
    loaded = spec_documents(wide_spec(150))

    pages = batch_pages(loaded)

    assert len(pages) > 2
    assert all(len(page.documents) < BATCH_SIZE for page in pages)
    assert 150 == sum(len(page.documents) for page in pages)
    assert all(page.size <= MAX_BATCH_BYTES for page in pages)
    assert all(event_bytes(p.documents, p.cards) < MAX_EVENT_BYTES for p in pages)
