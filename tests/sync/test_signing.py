"""Batch signatures: what they cover, what they refuse, and that they survive the server's JSON."""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Callable
from typing import Any

import pytest

from appsync.events import VectorsBatchData, WireEvent, vectors_event
from appsync.openapi import spec_documents
from appsync.sync.signing import BatchSignatureError, BatchSigner, signed_bytes
from appsync.users import User
from harness.wire import through_the_server

SIGNER = BatchSigner(secrets.token_bytes(32))
DOCUMENT = {
    "uid": "OpenApi_Museum_1_buyTickets",
    "text": "Buy museum tickets",
    "metadata": {"service": "Museum", "version": "1", "method": "post", "path": "/tickets"},
}


CARD_SPEC = {
    "openapi": "3.1.0",
    "info": {"title": "Museum", "version": "1"},
    "paths": {
        "/tickets": {
            "post": {
                "operationId": "buyTickets",
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "count": {"type": "integer", "maximum": 9223372036854775807},
                                    "price": {"type": "number", "default": 1.0, "minimum": 0.5},
                                },
                            }
                        }
                    }
                },
            }
        }
    },
}


def museum_card() -> dict[str, Any]:
    """The card of CARD_SPEC's one operation, with an int64-max maximum and a 1.0 default."""
    (card,) = spec_documents(CARD_SPEC, spec_url="http://specs/museum.yaml").cards
    return card.model_copy(update={"uid": DOCUMENT["uid"]}).model_dump(mode="json")


def batch(user: str = "ada", *, cards: bool = True) -> WireEvent:
    """A signed batch event of one document (and its card) for `user`."""
    return SIGNER.signed(
        vectors_event(
            event_id="e1",
            user=User(id=user),
            page=1,
            total=1,
            batch_size=100,
            vectors=[DOCUMENT],
            cards=[museum_card()] if cards else None,
            source={"url": "http://specs/museum.yaml", "service": "Museum", "version": "1"},
            sync={"id": "0001-a", "urls": ["http://specs/museum.yaml"]},
        )
    )


def parsed(data: Any) -> VectorsBatchData:
    """The batch's data as the consumer validates it."""
    return VectorsBatchData.model_validate(data)


def test_a_signed_batch_passes_for_its_user() -> None:
    """The sync function's batch is accepted for the user it was made for."""
    SIGNER.check("ada", parsed(batch().data))


def test_a_batch_survives_the_servers_float64_numbers() -> None:
    """Read back as the Inngest server writes it (int64 max as its float, 1.0 as 1), it checks."""
    data = through_the_server(dict(batch().data))
    schema = data["cards"][0]["requestBody"]["schema"]["properties"]

    assert (9223372036854775808, 1) == (schema["count"]["maximum"], schema["price"]["default"])
    SIGNER.check("ada", parsed(data))


def test_a_batch_without_cards_is_signed_as_before_cards() -> None:
    """A batch of an appsync that made no cards: the signed bytes have no `cards` key, and check."""
    data = parsed(batch(cards=False).data)

    assert b'"cards"' not in signed_bytes("ada", data)
    SIGNER.check("ada", data)


def test_a_batch_survives_being_re_encoded() -> None:
    """Re-encoded JSON (other key order, escapes, spacing), as a server stores it, still checks."""
    original = dict(batch().data)
    reordered = dict(reversed(list(original.items())))
    data = json.loads(json.dumps(reordered, ensure_ascii=True, separators=(", ", ": ")))

    SIGNER.check("ada", parsed(data))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("signature"), "missing"),
        (lambda d: d.update(signature="v1=" + "00" * 32), "does not match"),
        (lambda d: d["vectors"][0].update(text="Buy tickets elsewhere"), "does not match"),
        (lambda d: d["vectors"][0]["metadata"].update(path="/evil"), "does not match"),
        (lambda d: d["sync"].update(id="999999999999999-zzz"), "does not match"),
        (lambda d: d["sync"]["urls"].append("http://evil/"), "does not match"),
        (lambda d: d.update(_total=1000), "does not match"),
        (lambda d: d.update(_page=2), "does not match"),
        (lambda d: d["source"].update(version="2"), "does not match"),
        (lambda d: d["cards"][0].update(url="http://evil/tickets"), "does not match"),
        (lambda d: d["cards"][0]["requestBody"].update(schema={}), "does not match"),
        (lambda d: d.pop("cards"), "does not match"),
    ],
    ids=[
        "unsigned",
        "forged",
        "text",
        "path",
        "sync-id",
        "sync-urls",
        "total",
        "page",
        "source",
        "card-url",
        "card-schema",
        "cards-dropped",
    ],
)
def test_a_changed_or_unsigned_batch_is_refused(
    change: Callable[[dict[str, Any]], object], message: str
) -> None:
    """Whatever part of a batch changes after signing, or no signature: refused for good."""
    data = copy.deepcopy(dict(batch().data))
    change(data)

    with pytest.raises(BatchSignatureError, match=message):
        SIGNER.check("ada", parsed(data))


def test_a_batch_of_one_user_is_refused_for_another() -> None:
    """A real batch re-addressed to another user does not check for that user."""
    with pytest.raises(BatchSignatureError, match="for user 'eve'"):
        SIGNER.check("eve", parsed(batch("ada").data))


def test_another_key_refuses_the_batch() -> None:
    """A signature made with another key (another deployment, a guess) is refused."""
    with pytest.raises(BatchSignatureError):
        BatchSigner(secrets.token_bytes(32)).check("ada", parsed(batch().data))


def test_the_key_from_the_signing_key_ignores_its_prefix() -> None:
    """`signkey-prod-<hex>` and `<hex>` are the same signing key, so the same batch key."""
    hex_key = secrets.token_hex(32)
    data = parsed(batch().data)

    plain = BatchSigner.from_signing_key(hex_key).signature("ada", data)
    prefixed = BatchSigner.from_signing_key(f"signkey-prod-{hex_key}").signature("ada", data)
    other = BatchSigner.from_signing_key(secrets.token_hex(32)).signature("ada", data)

    assert plain == prefixed != other
