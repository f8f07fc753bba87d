"""Operation cards in the index, on every store: stored with their rows, gone with them."""

from __future__ import annotations

from appsync.index.base import OperationRecord, SourceSummary, UpsertBatch, UpsertResult
from harness.stores import (
    STRIPE,
    STRIPE_OPS,
    SYNC_1,
    SYNC_2,
    XERO,
    StoreCase,
    batch,
    record,
    with_card,
)

SYNC_EVENT = "01JAAAAAAAAAAAAAAAAAAAAAE1"  # the event of the sync whose run is SYNC_1
REFUND_CARD = '{"method":"POST","path":"/v1/refunds"}'
REFUND_CARD_V2 = '{"method":"POST","path":"/v1/refunds","deprecated":true}'


def upsert(store: StoreCase, upsert_batch: UpsertBatch) -> UpsertResult:
    """Apply one batch."""
    return store.run(store.index.upsert(upsert_batch))


def card(store: StoreCase, uid: str, user: str = "alice") -> str | None:
    """The stored card of `uid` for `user`."""
    return store.run(store.index.card(user, uid))


def carded(card_text: str | None = REFUND_CARD, *, vector: bool = True) -> list[OperationRecord]:
    """Stripe's operations, the refund one with `card_text`."""
    refund = record("CreateRefund", "create a refund", vector=vector)
    return [with_card(refund, card_text), *STRIPE_OPS[1:]]


def test_a_card_is_stored_with_its_row_and_read_by_its_user_only(store: StoreCase) -> None:
    """The card comes back as written, for its user; another user or uid has none."""
    upsert(store, batch(carded()))

    assert REFUND_CARD == card(store, "CreateRefund")
    assert None is card(store, "CreateRefund", user="bob")
    assert None is card(store, "GetCustomer")


def test_a_changed_card_is_a_changed_row(store: StoreCase) -> None:
    """A record whose card changed is not confirmed unchanged; written, it replaces the card."""
    upsert(store, batch(carded()))

    confirm = upsert(store, batch(carded(REFUND_CARD_V2, vector=False), sync=SYNC_2))
    rewrite = upsert(store, batch(carded(REFUND_CARD_V2), sync=SYNC_2))

    assert ("CreateRefund",) == confirm.needs_vectors
    assert REFUND_CARD_V2 == card(store, "CreateRefund")
    assert 3 == rewrite.written


def test_a_row_written_without_a_card_loses_its_card(store: StoreCase) -> None:
    """A batch from before cards (no card) rewrites the row and leaves no stale card behind."""
    upsert(store, batch(carded()))

    upsert(store, batch(carded(None), sync=SYNC_2))

    assert None is card(store, "CreateRefund")


def test_pruning_a_dropped_operation_deletes_its_card(store: StoreCase) -> None:
    """Once a newer sync is complete without the operation, its row and card are gone."""
    upsert(store, batch(carded()))

    result = upsert(store, batch(STRIPE_OPS[1:], sync=SYNC_2))

    assert 1 == result.pruned
    assert None is card(store, "CreateRefund")


def test_a_removed_spec_url_and_delete_take_the_cards(store: StoreCase) -> None:
    """A sync without the spec's URL removes its cards; `delete` removes the rest."""
    upsert(store, batch(carded()))
    xero = with_card(record("XeroInvoice", "create an invoice"), '{"x":1}')
    upsert(store, batch([xero], url=XERO, total=1))

    upsert(store, batch(STRIPE_OPS[1:], sync=SYNC_2, urls=[XERO, "http://other/"], total=2))
    after_removal = (card(store, "CreateRefund"), card(store, "XeroInvoice"))
    store.run(store.index.delete("alice"))

    assert (None, '{"x":1}') == after_removal
    assert None is card(store, "XeroInvoice")


def test_sources_list_the_users_specs_with_counts_and_their_sync(store: StoreCase) -> None:
    """Each synced spec URL: service, version, operation count, newest sync (run and event)."""
    upsert(store, batch(STRIPE_OPS))
    upsert(store, batch([record("XeroInvoice", "create an invoice")], url=XERO, total=1))
    upsert(store, batch([record("Other", "other")], user="bob", total=1))
    store.run(store.index.record_run(SYNC_EVENT, SYNC_1, "alice", ended=True))

    assert [
        SourceSummary(STRIPE, "Stripe API", "1", 3, SYNC_1, SYNC_EVENT),
        SourceSummary(XERO, "Xero API", "1", 1, SYNC_1, SYNC_EVENT),
    ] == store.run(store.index.sources("alice"))
    assert [] == store.run(store.index.sources("carol"))
