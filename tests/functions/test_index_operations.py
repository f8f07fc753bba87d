"""The index consumer without an Inngest server: validation, `index_batch`, the function.

`index_batch` runs on each real store; the function itself runs through the SDK's mocked executor
(its retries, a batch that fails for good, the event loop while a heavy batch is prepared).
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apsw
import inngest
import pytest
from inngest.experimental import mocked

from appsync.events import INDEX_FAILED_EVENT, IndexFailedData, VectorsBatchData, WireEvent
from appsync.index.base import Store
from appsync.index.factory import open_index
from appsync.metrics import Metrics
from appsync.search.embedding import Embedder
from appsync.search.searcher import Searcher
from appsync.search.vectors import Encoder
from appsync.sync.batches import load_documents
from appsync.sync.signing import BatchSigner
from functions import index_operations
from functions.index_operations import IndexOptions, IndexRequest, index_batch, parse_batch
from harness.encoders import CountingEncoder, HashEncoder
from harness.mocked import RecordingClient
from harness.paths import SPECS_DIR
from harness.stores import STORES, FailingWrites, StoreCase, store_url

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
    """An index of one store with the session's model, driven on one event loop."""

    def __init__(self, index: Store, embedder: Embedder, runner: asyncio.Runner) -> None:
        self.index = index
        self.embedder = embedder
        self.runner = runner

    def deliver(
        self, data: dict[str, Any], user: dict[str, Any] = USER, *, share: bool = True
    ) -> dict[str, Any]:
        """Run the consumer's work on one batch for `user`."""
        request = parse_batch(event(data | {"user": user}, user))
        return self.runner.run(index_batch(self.index, self.embedder, request, share_vectors=share))

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
    assert (0, 1) == (result["embedded"], result["reused"])  # its text is unchanged: the cache
    new = indexer.runner.run(indexer.index.card("u1", uid))
    assert new is not None
    assert "The hours, now with holidays." == json.loads(new)["responses"]["200"]["description"]


def test_a_second_user_reuses_every_vector_and_finds_the_same(
    indexer: Indexer, museum_documents: list[dict[str, Any]]
) -> None:
    """Another user's batch of the same spec embeds nothing: every vector comes from the cache."""
    first = indexer.deliver(batch_data(museum_documents))
    second = indexer.deliver(batch_data(museum_documents), {"id": "u2"})

    assert (8, 0) == (first["embedded"], first["reused"])
    assert (0, 8, 8) == (second["embedded"], second["reused"], second["written"])
    assert indexer.operation_ids() == indexer.operation_ids(user="u2")
    assert 8 == indexer.runner.run(indexer.index.stats()).cached_vectors


def test_with_sharing_off_every_user_embeds_their_own(
    indexer: Indexer, museum_documents: list[dict[str, Any]]
) -> None:
    """`APPSYNC_SHARE_VECTORS=false`: nothing is cached, and a second user embeds again."""
    indexer.deliver(batch_data(museum_documents), share=False)
    second = indexer.deliver(batch_data(museum_documents), {"id": "u2"}, share=False)

    assert (8, 0) == (second["embedded"], second["reused"])
    assert 0 == indexer.runner.run(indexer.index.stats()).cached_vectors


def test_two_users_at_once_embed_each_text_at_most_twice_and_store_one_vector(
    store: StoreCase, museum_documents: list[dict[str, Any]]
) -> None:
    """Both look in the cache before either writes: each embeds, one vector per text is kept."""
    encoder = CountingEncoder(HashEncoder(), meet=2)

    async def both() -> list[dict[str, Any]]:
        return list(
            await asyncio.gather(
                *(
                    index_batch(
                        store.index,
                        encoder,
                        parse_batch(event(batch_data(museum_documents) | {"user": u}, u)),
                    )
                    for u in ({"id": "ann"}, {"id": "bob"})
                )
            )
        )

    results = store.run(both())

    assert [8, 8] == [result["written"] for result in results]
    assert 16 == encoder.texts
    assert 8 == store.run(store.index.stats()).cached_vectors


def test_another_model_never_reuses_a_vector(
    store: StoreCase, museum_documents: list[dict[str, Any]]
) -> None:
    """Vectors cached under one model id are not reused by a model with another id."""
    first, other = HashEncoder(), HashEncoder(model_id="hash-encoder-v2")
    request = parse_batch(event(batch_data(museum_documents), USER))
    store.run(index_batch(store.index, first, request))

    again = store.run(index_batch(store.index, other, request))

    assert (8, 0) == (again["embedded"], again["reused"])
    assert (8, 8) == (first.texts, other.texts)


SIGNER = BatchSigner(b"s" * 32)


@dataclass(frozen=True)
class ConsumerServices:
    """What the index function uses, without the rest of the app."""

    index: Store
    embedder: Encoder
    batch_signer: BatchSigner = SIGNER
    metrics: Metrics = field(default_factory=Metrics)


def signed(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with the signature the sync function would give it for its user."""
    batch = VectorsBatchData.model_validate(data)
    return data | {"signature": SIGNER.signature(data["user"]["id"], batch)}


def trigger(services: ConsumerServices, data: dict[str, Any], retries: int) -> Any:
    """Run the index function through the SDK's mocked executor, with its retries."""
    client = RecordingClient()
    function = index_operations.create(
        client, lambda: services, options=IndexOptions(retries=retries)
    )
    return mocked.trigger(function, event(data, USER), client), client


@pytest.fixture
def small_store(tmp_path: Path) -> Iterator[Store]:
    """A SQLite store of 4-dimensional vectors (the hash encoder's)."""
    store = asyncio.run(open_index(f"sqlite:///{tmp_path / 'index.sqlite3'}", dimensions=4))
    yield store
    asyncio.run(store.close())


def test_a_retry_after_a_failed_write_embeds_nothing_again(
    small_store: Store, museum_documents: list[dict[str, Any]]
) -> None:
    """The first write fails (the disk is full); the retry writes the vectors embedded before."""
    encoder = HashEncoder()
    full = FailingWrites(small_store, apsw.FullError("database or disk is full"), failures=1)

    result, _ = trigger(ConsumerServices(full, encoder), signed(batch_data(museum_documents)), 2)

    assert (1, 8) == (full.refused, encoder.texts)
    assert (0, 8, 8) == (
        result.output["embedded"],
        result.output["reused"],
        result.output["written"],
    )


def test_a_batch_that_fails_for_good_is_logged_and_reported(
    small_store: Store, museum_documents: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    """After the last retry: an ERROR naming the cause, and a signed notice for the status."""
    full = FailingWrites(small_store, apsw.FullError("database or disk is full"))

    result, client = trigger(
        ConsumerServices(full, HashEncoder()), signed(batch_data(museum_documents)), 1
    )

    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    (notice,) = [sent for sent in client.sent if sent.name == INDEX_FAILED_EVENT]
    data = IndexFailedData.model_validate(notice.data)
    assert "Failed" == result.status.value.title()
    assert 1 == len(errors)
    assert "failed after 2 attempts: FullError: database or disk is full" in errors[0]
    assert "POST the sync again" in errors[0]
    assert (8, MUSEUM, "FullError: database or disk is full") == (
        data.operations,
        data.source.url,
        data.error,
    )
    assert SIGNER.is_notice_signed(data)


def test_a_heavy_batch_never_blocks_the_event_loop(
    small_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """100 documents of 20,000 `[` and `<` each are checked and prepared off the event loop."""
    heavy = [
        {
            "uid": f"OpenApi_Heavy_1_op{n}",
            "text": f"The `op{n}` operation (GET /op{n}) is " + "[<" * 10_000,
            "metadata": {"service": "Heavy", "version": "1", "method": "get", "path": f"/op{n}"},
        }
        for n in range(100)
    ]
    loop = asyncio.new_event_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = 0.25
    asyncio.set_event_loop(loop)
    try:
        with caplog.at_level(logging.WARNING, logger="asyncio"):
            result, _ = trigger(
                ConsumerServices(small_store, HashEncoder()), signed(batch_data(heavy)), 0
            )
    finally:
        asyncio.set_event_loop(None)
        loop.close()

    blocked = [
        r.getMessage() for r in caplog.records if r.name == "asyncio" and "took" in r.getMessage()
    ]
    assert 100 == result.output["written"]
    assert [] == blocked
