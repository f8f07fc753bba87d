"""`prepare`: a sync's document → the stored record and the embedded text (pure, no model)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from appsync.index.prepare import MAX_TEXT_CHARS, embed_hash, prepare
from appsync.openapi.scalars import clean_text


def document(text: str, **metadata: Any) -> dict[str, Any]:
    """A document of the sentence form the sync writes."""
    return {
        "uid": "OpenApi_Test_1_op",
        "text": text,
        "metadata": {"service": "Test", "version": "1", "method": "GET", "path": "/op"} | metadata,
    }


def test_html_and_markdown_are_cleaned_away() -> None:
    """Tags, entities, links and marks go; the words stay, in single spaces."""
    assert "Create a refund for a charge & more" == clean_text(
        "<p>Create a <b>refund</b> for a [charge](https://x/y) &amp; **more**</p>"
    )


def test_the_summary_description_and_names_make_the_embedded_text() -> None:
    """Summary, operation words, tags, service and the description's first sentence."""
    prepared = prepare(
        document(
            "The `GetCharges` operation (GET /v1/charges) is List all charges. It has no tags. "
            "The description is Returns a list of charges. More here.",
            operationId="GetCharges",
            tags=["Charges"],
        )
    )

    assert "List all charges. get charges. Charges. Test. Returns a list of charges" == (
        prepared.embed_text
    )
    assert embed_hash(prepared.embed_text) == prepared.record.embed_hash
    assert "get" == prepared.record.method


@pytest.mark.parametrize("pattern", ["[", "<", "![", "[a](", "<a ", "`", "](", "[<"])
def test_cleaning_takes_time_linear_in_the_text(pattern: str) -> None:
    """A megabyte of one repeated markup character costs about what a megabyte of prose does."""
    hostile = pattern * (1_000_000 // len(pattern))
    prose = ("Returns a list of charges, most recent first. " * 25_000)[:1_000_000]

    def seconds(text: str) -> float:
        started = time.perf_counter()
        clean_text(text)
        return time.perf_counter() - started

    baseline = min(seconds(prose) for _ in range(3))
    assert seconds(hostile) < 10 * baseline + 0.05


def test_only_the_first_characters_of_a_huge_document_are_read() -> None:
    """Text past `MAX_TEXT_CHARS` is neither stored nor searched."""
    head = "The `op` operation (GET /op) is Get things. It has no tags. "
    prepared = prepare(document(head + "a " * MAX_TEXT_CHARS + "zebra"))

    assert len(prepared.record.text) <= MAX_TEXT_CHARS
    assert "zebra" not in prepared.record.text
