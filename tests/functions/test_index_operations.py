"""The index consumer without Inngest: batch validation, and `index_batch` on each real store."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import inngest
import pytest

from appsync.events import WireEvent
from appsync.index.base import OperationIndex
from appsync.index.factory import open_index
from appsync.search.embedding import Embedder
from appsync.search.searcher import Searcher
from appsync.sync.batches import load_documents
from functions.index_operations import IndexRequest, index_batch, parse_batch
from harness.paths import SPECS_DIR
from harness.stores import STORES, store_url

MUSEUM = "http://specs.test/museum.yaml"
USER = {"id": "u1", "email": "u1@example.com"}


@pytest.fixture(scope="module")
def museum_documents() -> list[dict[str, Any]]:
    """The eight documents of the Redocly museum spec."""
    loaded = load_documents((SPECS_DIR / "redocly_museum.yaml").read_bytes())
    return [dict(document) for document in loaded.documents]


@pytest.fixture(scope="module")
def museum_cards() -> list[dict[str, Any]]:
    """The eight documents' cards, as JSON."""
    loaded = load_documents((SPECS_DIR / "redocly_museum.yaml").read_bytes(), MUSEUM)
    return [card.model_dump(mode="json") for card in loaded.cards]


def batch_data(
    documents: list[dict[str, Any]],
    *,
    sync: str = "0001-a",
    page: int = 1,
    total: int | None = None,
    cards: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The `data` of one batch event of the museum spec (with `cards` when given)."""
    data = {
        "_page": page,
        "_total": len(documents) if total is None else total,
        "_batchSize": 100,
        "vectors": documents,
        "user": USER,
        "source": {"url": MUSEUM, "service": "Redocly Museum API", "version": "1.0.0"},
        "sync": {"id": sync, "urls": [MUSEUM]},
    }
    return data if cards is None else data | {"cards": cards}


def event(data: dict[str, Any], user: dict[str, Any] | None = None) -> WireEvent:
    """A batch event as the envelope middleware hands it over."""
    return WireEvent(id="e1", name="pinecone/vectors.upserted", data=data, user=user or {})


class Indexer:
    """A SQLite index with the session's model, driven on one event loop."""

    def __init__(self, index: OperationIndex, embedder: Embedder, runner: asyncio.Runner) -> None:
        self.index = index
        self.embedder = embedder
        self.runner = runner

    def deliver(self, data: dict[str, Any]) -> dict[str, Any]:
        """Run the consumer's step on one batch."""
        request = parse_batch(event(data, USER))
        return self.runner.run(index_batch(self.index, self.embedder, request))

    def operation_ids(self, q: str = "museum", user: str = "u1") -> list[str | None]:
        """The operationIds a search finds, best first (at most 100)."""
        searcher = Searcher(index=self.index, embedder=self.embedder)
        hits = self.runner.run(searcher.search(user, q, k=100))
        return [hit.operation_id for hit in hits]


@pytest.fixture(params=STORES)
def indexer(
    request: pytest.FixtureRequest, embedder: Embedder, tmp_path: Path
) -> Iterator[Indexer]:
    """An empty index of each store and the session's model."""
    url = store_url(request.param, request, tmp_path)
    with asyncio.Runner() as runner:
        index = runner.run(open_index(url, dimensions=384))
        try:
            yield Indexer(index, embedder, runner)
        finally:
            runner.run(index.close())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("vectors"), r"data\.vectors: Field required"),
        (lambda d: d.update(vectors="nope"), r"data\.vectors: Input should be a valid list"),
        (lambda d: d["vectors"][0].pop("text"), r"data\.vectors\[0\]\.text: Field required"),
        (
            lambda d: d["vectors"][1]["metadata"].update(deprecated="no"),
            r"data\.vectors\[1\]\.metadata\.deprecated: Input should be a valid boolean",
        ),
        (lambda d: d.update(_total="8"), r"data\._total: Input should be a valid integer"),
        (lambda d: d.pop("sync"), r"data\.sync: Field required"),
        (lambda d: d["source"].pop("url"), r"data\.source\.url: Field required"),
        (
            lambda d: d["sync"].update(urls=[]),
            r"data\.source\.url .* is not one of data\.sync\.urls",
        ),
    ],
)
def test_a_malformed_batch_fails_at_once_naming_the_field(
    museum_documents: list[dict[str, Any]], change: Any, message: str
) -> None:
    """A batch with missing vectors, wrong types or no sync is a NonRetriableError naming it."""
    data = copy.deepcopy(batch_data(museum_documents))
    change(data)

    with pytest.raises(inngest.NonRetriableError, match=message):
        parse_batch(event(data, USER))


def test_a_card_of_no_document_of_the_batch_fails_at_once(
    museum_documents: list[dict[str, Any]], museum_cards: list[dict[str, Any]]
) -> None:
    """A card whose uid is none of the batch's documents: a NonRetriableError naming it."""
    data = batch_data(museum_documents[:2], cards=museum_cards[:3])

    with pytest.raises(inngest.NonRetriableError, match=r"cards\[2\]\.uid .* is no document"):
        parse_batch(event(data, USER))


def test_a_batch_without_any_user_fails_at_once(museum_documents: list[dict[str, Any]]) -> None:
    """No top-level user and no data.user: a NonRetriableError saying where the user goes."""
    data = batch_data(museum_documents)
    del data["user"]

    with pytest.raises(inngest.NonRetriableError, match=r"top-level 'user' or 'data\.user'"):
        parse_batch(event(data))


def test_the_user_comes_from_the_top_level_then_data(
    museum_documents: list[dict[str, Any]],
) -> None:
    """The top-level user wins; without it `data.user` is the user (a UI replay's shape)."""
    data = batch_data(museum_documents)

    top: IndexRequest = parse_batch(event(data, {"id": "top"}))
    fallback = parse_batch(event(data))

    assert ("top", "u1") == (top.user.id, fallback.user.id)


def test_a_new_batch_is_embedded_once_and_a_replay_embeds_nothing(
    indexer: Indexer, museum_documents: list[dict[str, Any]]
) -> None:
    """The first delivery embeds every document; the same batch again embeds none, changes none."""
    first = indexer.deliver(batch_data(museum_documents))
    found = indexer.operation_ids()
    again = indexer.deliver(batch_data(museum_documents))

    assert (8, 8, 0) == (first["embedded"], first["written"], first["unchanged"])
    assert (0, 0, 8) == (again["embedded"], again["written"], again["unchanged"])
    assert found == indexer.operation_ids()
    assert "buyMuseumTickets" == indexer.operation_ids("purchase an entry pass")[0]


def test_a_resync_of_a_new_sync_embeds_only_what_changed(
    indexer: Indexer, museum_documents: list[dict[str, Any]]
) -> None:
    """A newer sync with one changed document embeds that one only."""
    indexer.deliver(batch_data(museum_documents))
    changed = copy.deepcopy(museum_documents)
    changed[0]["text"] = changed[0]["text"].replace("The description is", "Now: new. The desc is")

    result = indexer.deliver(batch_data(changed, sync="0002-b"))

    assert (1, 1, 7) == (result["embedded"], result["written"], result["unchanged"])


def test_a_spec_that_dropped_operations_loses_them_on_resync(
    indexer: Indexer, museum_documents: list[dict[str, Any]]
) -> None:
    """Shrink and re-sync: dropped operations go, and a late old batch cannot revive them."""
    indexer.deliver(batch_data(museum_documents))
    kept = museum_documents[:5]

    shrunk = indexer.deliver(batch_data(kept, sync="0002-b"))
    late = indexer.deliver(batch_data(museum_documents, sync="0001-a"))

    assert (0, 3) == (shrunk["embedded"], shrunk["pruned"])
    assert late["stale"]
    assert 0 == late["embedded"]
    expected = sorted(d["metadata"]["operationId"] for d in kept)
    assert expected == sorted(str(op) for op in indexer.operation_ids())


def test_pages_delivered_out_of_order_and_twice_index_each_document_once(
    indexer: Indexer, museum_documents: list[dict[str, Any]]
) -> None:
    """Two pages, second first, each twice: every document indexed once, nothing pruned early."""
    page_1 = batch_data(museum_documents[:4], page=1, total=8)
    page_2 = batch_data(museum_documents[4:], page=2, total=8)

    results = [indexer.deliver(data) for data in (page_2, page_2, page_1, page_1)]

    assert [4, 0, 4, 0] == [result["embedded"] for result in results]
    assert 8 == len(indexer.operation_ids())
    assert 8 == indexer.runner.run(indexer.index.stats("u1")).operations


def test_cards_are_stored_and_a_changed_card_rewrites_only_its_row(
    indexer: Indexer, museum_documents: list[dict[str, Any]], museum_cards: list[dict[str, Any]]
) -> None:
    """Each document's card is stored; a card changed alone rewrites that row, the rest stay."""
    indexer.deliver(batch_data(museum_documents, cards=museum_cards))
    uid = museum_cards[0]["uid"]
    stored = indexer.runner.run(indexer.index.card("u1", uid))
    changed = copy.deepcopy(museum_cards)
    changed[0]["responses"]["200"]["description"] = "The hours, now with holidays."

    result = indexer.deliver(batch_data(museum_documents, sync="0002-b", cards=changed))

    assert stored is not None
    assert museum_cards[0] == json.loads(stored)
    assert (1, 7) == (result["written"], result["unchanged"])
    new = indexer.runner.run(indexer.index.card("u1", uid))
    assert new is not None
    assert "The hours, now with holidays." == json.loads(new)["responses"]["200"]["description"]
