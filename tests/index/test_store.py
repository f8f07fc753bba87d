"""The index port's contract, run against every store (`STORES` in conftest)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pytest

from appsync.index.base import (
    Hit,
    Ranking,
    SearchFilters,
    SearchQuery,
    UpsertBatch,
    UpsertResult,
)
from harness.stores import (
    AXES,
    MODEL,
    STRIPE,
    STRIPE_OPS,
    SYNC_1,
    SYNC_2,
    SYNC_3,
    XERO,
    StoreCase,
    batch,
    incompressible,
    open_store,
    record,
    store_url,
)


def search(  # noqa: PLR0913 - keyword-only knobs of one query
    store: StoreCase,
    text: str,
    *,
    user: str = "alice",
    axis: str | None = None,
    ranking: Ranking = Ranking.HYBRID,
    filters: SearchFilters | None = None,
    model: str = MODEL,
    k: int = 10,
) -> list[Hit]:
    """Search `user`'s operations."""
    query = SearchQuery(
        user_id=user,
        text=text,
        vector=AXES[axis] if axis else None,
        model_id=model,
        k=k,
        filters=filters or SearchFilters(),
        ranking=ranking,
    )
    return store.run(store.index.search(query))


def uids(hits: Sequence[Hit]) -> list[str]:
    """The uids of hits, in order."""
    return [hit.uid for hit in hits]


def everything(store: StoreCase, user: str = "alice") -> list[tuple[str, str, str, str]]:
    """(uid, service, source URL, summary) of every row of `user`, by uid."""
    hits = search(store, "operation", user=user, ranking=Ranking.LEXICAL, k=100)
    return sorted((hit.uid, hit.service, hit.source_url, hit.summary) for hit in hits)


def upsert(store: StoreCase, upsert_batch: UpsertBatch) -> UpsertResult:
    """Apply one batch."""
    return store.run(store.index.upsert(upsert_batch))


def test_upserted_operations_are_found_by_words_and_by_vector(store: StoreCase) -> None:
    """A fresh batch is written and found by the lexical half, the vector half and both."""
    result = upsert(store, batch(STRIPE_OPS))

    assert UpsertResult(written=3) == result
    assert "GetCustomer" == uids(search(store, "customers", ranking=Ranking.LEXICAL))[0]
    assert "ListInvoices" == uids(search(store, "zzz", axis="invoice", ranking=Ranking.VECTOR))[0]
    hybrid = search(store, "refund", axis="refund")
    assert "CreateRefund" == hybrid[0].uid
    assert ("Stripe API", "1", "post", "/v1/CreateRefund", STRIPE) == (
        hybrid[0].service,
        hybrid[0].version,
        hybrid[0].method,
        hybrid[0].path,
        hybrid[0].source_url,
    )


def test_search_sees_only_the_users_operations(store: StoreCase) -> None:
    """Another user's search finds nothing of alice's, by words or by vector."""
    upsert(store, batch(STRIPE_OPS))

    assert [] == search(store, "refund", user="bob", axis="refund")


def test_search_filters_by_service_method_and_tag(store: StoreCase) -> None:
    """Filters keep only matching operations in both halves."""
    upsert(store, batch(STRIPE_OPS))
    upsert(store, batch([record("XeroRefund", "create a refund")], url=XERO, total=1))

    by_service = search(store, "refund", axis="refund", filters=SearchFilters(service="Xero API"))
    by_method = search(store, "operation", axis="customer", filters=SearchFilters(method="GET"))
    by_tag = search(store, "operation", axis="refund", filters=SearchFilters(tag="Customers"))

    assert ["XeroRefund"] == uids(by_service)
    assert ["GetCustomer", "ListInvoices"] == sorted(uids(by_method))
    assert ["GetCustomer"] == uids(by_tag)


def test_search_returns_at_most_k_hits_best_first(store: StoreCase) -> None:
    """At most k hits come back and scores never increase down the list."""
    upsert(store, batch(STRIPE_OPS))

    hits = search(store, "operation", axis="refund", k=2)

    assert 2 == len(hits)
    assert hits[0].score >= hits[1].score


def test_known_reports_stored_hashes_for_the_model_only(store: StoreCase) -> None:
    """`known` maps stored uids to their content hash, for the asked model id only."""
    upsert(store, batch(STRIPE_OPS))
    asked = ["CreateRefund", "Nope"]

    known = store.run(store.index.known("alice", STRIPE, SYNC_1, MODEL, asked))
    other_model = store.run(store.index.known("alice", STRIPE, SYNC_1, "model-b", asked))

    assert (False, {"CreateRefund": STRIPE_OPS[0].content_hash}) == (known.stale, known.hashes)
    assert {} == other_model.hashes


def test_an_unchanged_record_keeps_its_vector_and_moves_to_the_new_sync(store: StoreCase) -> None:
    """A record without vector whose hash matches is confirmed, not rewritten."""
    upsert(store, batch(STRIPE_OPS))
    confirmations = [record(op.uid, op.summary, vector=False) for op in STRIPE_OPS]
    confirmations[1] = record(
        "GetCustomer", "retrieve a customer", vector=False, tags=["Customers"]
    )

    result = upsert(store, batch(confirmations, sync=SYNC_2))

    assert UpsertResult(unchanged=3) == result
    assert "ListInvoices" == uids(search(store, "zzz", axis="invoice", ranking=Ranking.VECTOR))[0]


def test_a_changed_record_without_vector_is_sent_back(store: StoreCase) -> None:
    """A record without vector whose stored hash differs is not written and needs a vector."""
    upsert(store, batch(STRIPE_OPS))
    changed = record("CreateRefund", "create a refund for a charge", vector=False)

    result = upsert(store, batch([changed, record("New", "new thing", vector=False)], sync=SYNC_2))

    assert ("CreateRefund", "New") == result.needs_vectors
    assert (0, 0) == (result.written, result.unchanged)
    assert "create a refund" == search(store, "refund", ranking=Ranking.LEXICAL)[0].summary


def test_a_new_model_rewrites_and_old_vectors_are_not_searched(store: StoreCase) -> None:
    """Vectors of another model id are never mixed into a vector search."""
    upsert(store, batch(STRIPE_OPS))

    assert [] == search(store, "x", axis="refund", ranking=Ranking.VECTOR, model="model-b")
    upsert(store, batch(STRIPE_OPS, sync=SYNC_2, model="model-b"))
    assert "CreateRefund" == search(store, "x", axis="refund", model="model-b")[0].uid
    stats = store.run(store.index.stats("alice"))
    assert {"model-b": 3} == dict(stats.by_model)


def test_a_resync_prunes_dropped_operations_once_complete(store: StoreCase) -> None:
    """Operations a spec dropped go when the new sync's batches reach its total, not before."""
    upsert(store, batch(STRIPE_OPS))
    first = batch([record("CreateRefund", "create a refund", vector=False)], sync=SYNC_2, total=2)
    second = batch(
        [record("ListInvoices", "list all invoices", vector=False)], sync=SYNC_2, total=2
    )

    partial = upsert(store, first)
    after_first = everything(store)
    complete = upsert(store, second)

    assert (0, 3) == (partial.pruned, len(after_first))
    assert 1 == complete.pruned
    assert ["CreateRefund", "ListInvoices"] == [row[0] for row in everything(store)]


def test_a_late_batch_of_an_older_sync_is_ignored(store: StoreCase) -> None:
    """After a newer sync pruned an operation, an older sync's batch neither writes nor revives."""
    upsert(store, batch(STRIPE_OPS[:1], sync=SYNC_2, total=1))

    late = upsert(store, batch(STRIPE_OPS, sync=SYNC_1))
    known = store.run(store.index.known("alice", STRIPE, SYNC_1, MODEL, ["GetCustomer"]))

    assert UpsertResult(stale=True) == late
    assert known.stale
    assert ["CreateRefund"] == [row[0] for row in everything(store)]


def test_out_of_order_batches_converge_to_the_newest_sync(store: StoreCase) -> None:
    """Batches of two syncs, newest first, leave exactly the newest sync's operations."""
    newer = [record("CreateRefund", "create a refund v2")]
    upsert(store, batch(newer, sync=SYNC_2))
    upsert(store, batch(STRIPE_OPS, sync=SYNC_1))

    assert [("CreateRefund", "Stripe API", STRIPE, "create a refund v2")] == everything(store)


def test_a_url_removed_from_the_settings_goes_with_the_next_sync(store: StoreCase) -> None:
    """A newer sync without a source's URL removes that source's operations for that user."""
    upsert(store, batch(STRIPE_OPS))
    upsert(store, batch([record("XeroInvoice", "create an invoice")], url=XERO, total=1))
    upsert(store, batch([record("Other", "other user")], user="bob", url=XERO, total=1))

    result = upsert(store, batch(STRIPE_OPS, sync=SYNC_2, urls=[STRIPE]))

    assert ((XERO,), 1) == (result.removed_sources, result.removed)
    assert {STRIPE} == {row[2] for row in everything(store)}
    assert ["Other"] == [row[0] for row in everything(store, user="bob")]


def test_a_removed_url_is_not_revived_by_an_older_sync(store: StoreCase) -> None:
    """An older sync's batch of a URL the newest sync dropped is stale, seen before or not."""
    upsert(store, batch(STRIPE_OPS[:1], sync=SYNC_2, urls=[STRIPE], total=1))

    late = upsert(store, batch([record("XeroInvoice", "create an invoice")], url=XERO, total=1))

    assert late.stale
    assert [STRIPE] == [row[2] for row in everything(store)]


def test_a_newer_sync_can_bring_a_removed_url_back(store: StoreCase) -> None:
    """Tombstones only stop older syncs: a URL added again is indexed by the next sync."""
    upsert(store, batch([record("XeroInvoice", "create an invoice")], url=XERO, total=1))
    upsert(store, batch(STRIPE_OPS[:1], sync=SYNC_2, urls=[STRIPE], total=1))

    again = upsert(
        store, batch([record("XeroInvoice", "create an invoice")], url=XERO, sync=SYNC_3, total=1)
    )

    assert UpsertResult(written=1) == again
    assert ["CreateRefund", "XeroInvoice"] == [row[0] for row in everything(store)]


def test_a_replayed_batch_leaves_the_index_as_one_delivery(store: StoreCase) -> None:
    """Delivering the same batch twice gives the same rows, scores and counts as once."""
    upsert(store, batch(STRIPE_OPS))
    once = (everything(store), search(store, "refund", axis="refund"))
    stats_once = store.run(store.index.stats())

    upsert(store, batch(STRIPE_OPS))
    twice = (everything(store), search(store, "refund", axis="refund"))

    assert once == twice
    assert stats_once == store.run(store.index.stats())


def test_stats_count_operations_users_and_sources(store: StoreCase) -> None:
    """Stats count rows, users and sources, overall or for one user."""
    upsert(store, batch(STRIPE_OPS))
    upsert(store, batch([record("XeroInvoice", "create an invoice")], url=XERO, total=1))
    upsert(store, batch([record("Other", "other")], user="bob", total=1))

    overall = store.run(store.index.stats())
    alice = store.run(store.index.stats("alice"))

    assert (5, 2, 3) == (overall.operations, overall.users, overall.sources)
    assert (4, 1, 2, {MODEL: 4}) == (alice.operations, alice.users, alice.sources, alice.by_model)


def test_delete_removes_a_source_or_all_of_a_users_rows(store: StoreCase) -> None:
    """Deleting one source leaves the others; deleting the user leaves other users."""
    upsert(store, batch(STRIPE_OPS))
    upsert(store, batch([record("XeroInvoice", "create an invoice")], url=XERO, total=1))
    upsert(store, batch([record("Other", "other")], user="bob", total=1))

    one_source = store.run(store.index.delete("alice", source_url=XERO))
    rest = store.run(store.index.delete("alice"))

    assert (1, 3) == (one_source, rest)
    assert [] == everything(store)
    assert 1 == store.run(store.index.stats()).operations


def test_a_query_without_words_or_vector_finds_nothing(store: StoreCase) -> None:
    """Punctuation alone matches nothing and does not reach the full-text syntax."""
    upsert(store, batch(STRIPE_OPS))

    assert [] == search(store, '"*:() OR')


def test_nul_in_any_text_is_stored_and_read_back_alike(store: StoreCase) -> None:
    """U+0000 in a summary, the text or a tag is indexed, found, and reads back as U+FFFD."""
    odd = record("CreateRefund", "create a\x00refund", tags=["Re\x00funds"])

    result = upsert(store, batch([odd, *STRIPE_OPS[1:]]))
    (hit,) = search(store, "refund", ranking=Ranking.LEXICAL)

    assert 3 == result.written
    assert ("create a\ufffdrefund", ("Re\ufffdfunds",)) == (hit.summary, hit.tags)
    by_tag = search(store, "x", axis="refund", filters=SearchFilters(tag="Re\x00funds"))
    assert ["CreateRefund"] == uids(by_tag)


def test_nul_in_a_filter_or_the_user_finds_nothing_and_fails_nothing(store: StoreCase) -> None:
    """Filters and user ids with U+0000 are searched like any other value."""
    upsert(store, batch(STRIPE_OPS))

    for filters in (
        SearchFilters(service="Stripe\x00API"),
        SearchFilters(method="get\x00"),
        SearchFilters(tag="\x00"),
    ):
        assert [] == search(store, "refund", axis="refund", filters=filters)
    assert [] == search(store, "refund", axis="refund", user="alice\x00")


def test_users_that_differ_only_by_a_nul_are_kept_apart(store: StoreCase) -> None:
    """A user id with U+0000 is its own user, apart from the one with U+FFFD in its place."""
    upsert(store, batch(STRIPE_OPS[:1], user="ada\x00x", total=1))
    upsert(store, batch(STRIPE_OPS[1:2], user="ada\ufffdx", total=1))

    assert ["CreateRefund"] == uids(search(store, "operation", user="ada\x00x", axis="refund"))
    assert ["GetCustomer"] == uids(search(store, "operation", user="ada\ufffdx", axis="refund"))
    assert 2 == store.run(store.index.stats()).users


def test_a_very_long_user_id_is_indexed_and_searched(store: StoreCase) -> None:
    """A 4,000-character user id (a JWT `sub`) is a user like any other."""
    user = incompressible(4_000)

    result = upsert(store, batch(STRIPE_OPS, user=user))
    known = store.run(store.index.known(user, STRIPE, SYNC_1, MODEL, ["CreateRefund"]))

    assert 3 == result.written
    assert ["CreateRefund"] == uids(search(store, "refund", user=user, axis="refund", k=1))
    assert {"CreateRefund": STRIPE_OPS[0].content_hash} == dict(known.hashes)
    assert 3 == store.run(store.index.stats(user)).operations


def test_a_very_long_spec_url_follows_every_resync_rule(store: StoreCase) -> None:
    """A 3,000-character spec URL is indexed, pruned and removed like a short one."""
    long_url = f"http://specs.test/{incompressible(3_000)}.json"
    upsert(store, batch(STRIPE_OPS, url=long_url, urls=[long_url, XERO]))

    shrunk = upsert(store, batch(STRIPE_OPS[:2], url=long_url, urls=[long_url], sync=SYNC_2))
    gone = upsert(store, batch(STRIPE_OPS[:1], url=XERO, urls=[XERO], sync=SYNC_3))

    assert (2, 1) == (shrunk.unchanged + shrunk.written, shrunk.pruned)
    assert ((long_url,), 2) == (gone.removed_sources, gone.removed)
    assert [XERO] == [row[2] for row in everything(store)]


def test_a_long_uid_of_wide_characters_is_a_key_like_any_other(store: StoreCase) -> None:
    """A 1,024-character uid of 4-byte characters (the longest a batch allows) is stored once."""
    digits = incompressible(5 * 1_024)
    uid = "".join(chr(0x10000 + int(digits[i : i + 5], 16) % 0xF0000) for i in range(0, 5_120, 5))
    wide = record("Wide", "create a wide refund")

    upsert(store, batch([dataclasses.replace(wide, uid=uid)]))
    upsert(store, batch([dataclasses.replace(wide, uid=uid, vector=None)], sync=SYNC_2))

    assert [uid] == uids(search(store, "wide", ranking=Ranking.LEXICAL))


def cached(store: StoreCase, model: str = MODEL) -> dict[str, tuple[float, ...]]:
    """The shared cache's vectors of every record text these tests use, for `model`."""
    texts = [op.embed_hash for op in STRIPE_OPS] + [record("X", "create an invoice").embed_hash]
    return dict(store.run(store.index.cached_vectors(model, texts)))


def test_written_vectors_are_cached_once_by_model_and_text(store: StoreCase) -> None:
    """Two users writing the same texts leave one cached vector per text, for that model only."""
    upsert(store, batch(STRIPE_OPS))
    upsert(store, batch(STRIPE_OPS, user="bob"))

    assert {op.embed_hash: op.vector for op in STRIPE_OPS} == cached(store)
    assert {} == cached(store, "model-b")
    assert 3 == store.run(store.index.stats()).cached_vectors


def test_a_batch_that_does_not_share_caches_nothing(store: StoreCase) -> None:
    """With sharing off (`APPSYNC_SHARE_VECTORS=false`) no vector reaches the cache."""
    upsert(store, dataclasses.replace(batch(STRIPE_OPS), share_vectors=False))

    assert ({}, 3) == (cached(store), store.run(store.index.stats()).operations)


def test_deleting_a_users_rows_keeps_the_vectors_another_user_holds(store: StoreCase) -> None:
    """A cached vector stays while any user's row holds its text, and goes with the last one."""
    upsert(store, batch(STRIPE_OPS))
    upsert(store, batch(STRIPE_OPS[:1], user="bob", total=1))

    store.run(store.index.delete("alice"))
    after_alice = set(cached(store))
    store.run(store.index.delete("bob"))

    assert {STRIPE_OPS[0].embed_hash} == after_alice
    assert {} == cached(store)


def test_pruned_removed_and_rewritten_rows_release_their_vectors(store: StoreCase) -> None:
    """Pruning, a removed spec URL and a row rewritten with another text each release theirs."""
    upsert(store, batch(STRIPE_OPS))
    upsert(store, batch([record("XeroInvoice", "create an invoice")], url=XERO, total=1))
    upsert(store, batch(STRIPE_OPS[:1], user="bob", total=1))

    pruned = upsert(store, batch(STRIPE_OPS[:2], sync=SYNC_2, urls=[STRIPE]))
    rewritten = record("GetCustomer", "retrieve one customer", axis="customer")
    upsert(store, batch([STRIPE_OPS[0], rewritten], sync=SYNC_3, urls=[STRIPE]))

    assert (1, 1, (XERO,)) == (pruned.pruned, pruned.removed, pruned.removed_sources)
    assert {STRIPE_OPS[0].embed_hash, rewritten.embed_hash} == set(
        store.run(
            store.index.cached_vectors(MODEL, [STRIPE_OPS[0].embed_hash, rewritten.embed_hash])
        )
    )
    assert 2 == store.run(store.index.stats()).cached_vectors


def test_a_new_model_releases_the_old_models_vectors(store: StoreCase) -> None:
    """Rows rewritten by another model leave only that model's vectors in the cache."""
    upsert(store, batch(STRIPE_OPS))

    upsert(store, batch(STRIPE_OPS, sync=SYNC_2, model="model-b"))

    assert ({}, 3) == (cached(store), len(cached(store, "model-b")))
    assert 3 == store.run(store.index.stats()).cached_vectors


def test_the_last_two_holders_released_at_once_leave_no_vector(
    store: StoreCase, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Two handles delete the only two rows holding a text at the same moment: the vector goes."""
    url = store_url(store.name, request, tmp_path)

    async def rounds() -> list[int]:
        second = await open_store(url)
        left: list[int] = []
        try:
            for n in range(8):
                shared = record(f"Op{n}", f"create refund number {n}")
                await store.index.upsert(batch([shared], user="ann", total=1))
                await second.upsert(batch([shared], user="bob", total=1))
                await asyncio.gather(store.index.delete("ann"), second.delete("bob"))
                left.append((await store.index.stats()).cached_vectors)
        finally:
            await second.close()
        return left

    assert [0] * 8 == store.run(rounds())
