"""Batch signatures: what they cover, what they refuse, and that they survive the server's JSON."""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Callable
from typing import Any

import pytest

from appsync.events import VectorsBatchData, WireEvent, vectors_event
from appsync.sync.signing import BatchSignatureError, BatchSigner
from appsync.users import User

SIGNER = BatchSigner(secrets.token_bytes(32))
DOCUMENT = {
    "uid": "OpenApi_Museum_1_buyTickets",
    "text": "Buy museum tickets",
    "metadata": {"service": "Museum", "version": "1", "method": "post", "path": "/tickets"},
}


def batch(user: str = "ada") -> WireEvent:
    """A signed batch event of one document for `user`."""
    return SIGNER.signed(
        vectors_event(
            event_id="e1",
            user=User(id=user),
            page=1,
            total=1,
            batch_size=100,
            vectors=[DOCUMENT],
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
    ],
    ids=["unsigned", "forged", "text", "path", "sync-id", "sync-urls", "total", "page", "source"],
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
