"""Batch events the index trusts: the sync function signs each one, the index consumer checks it.

Anyone who can send events (the dev server's open event endpoint, a holder of the event key) can
send a `pinecone/vectors.upserted` event. Without a check, one forged batch for a victim's user id
could delete the victim's operations, plant others, or claim a sync id that makes every later real
sync look stale. So the sync function puts an HMAC-SHA256 into each batch's `data.signature`, over
the user id and everything the consumer reads of `data` (documents, their cards, source, page,
total, sync id and URLs); the consumer refuses a batch whose signature is missing or wrong,
without retries.

The key never leaves the service: derived (HKDF-SHA256) from `INNGEST_SIGNING_KEY` when one is set
(production always has one, and every replica shares it), otherwise generated once and kept in the
operations index itself (the SQLite file, or a table of the PostgreSQL database), which every
replica of one index shares. The signature is one more field of `data`: consumers that ignore it,
such as the original's downstream, read the events as before.

The signed bytes are the canonical JSON (sorted keys, no spaces) of what the consumer validated,
with numbers written as they survive the Inngest server's JSON round trip (it reads numbers as
64-bit floats): integral floats as integers, integers beyond 2**53 as floats.

The index consumer signs its `appsync/index.failed` notices with the same key (over other bytes,
which start with their own label, so a notice's signature is never a batch's): the status shows
only notices this service sent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping

import inngest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from appsync.events import (
    VECTORS_UPSERTED_EVENT,
    IndexFailedData,
    VectorsBatchData,
    WireEvent,
)
from appsync.settings.keys import signing_key_bytes

SIGNATURE_FIELD = "signature"
_SCHEME = "v1="
_HKDF_INFO = b"appsync batch signature v1"
_NOTICE_LABEL = b"appsync index failure notice v1\n"
_MAX_EXACT = 2**53  # the largest integer a 64-bit float holds exactly
KEY_BYTES = 32


class BatchSignatureError(inngest.NonRetriableError):
    """A batch that this service's sync function did not make; retrying cannot change that."""


def _wire_number(value: float) -> int | float:
    """A number as it reads after a round trip through a JSON parser of 64-bit floats."""
    if isinstance(value, int):
        return value if abs(value) <= _MAX_EXACT else float(value)
    return int(value) if value.is_integer() and abs(value) <= _MAX_EXACT else value


def _canonical(value: object) -> object:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return _wire_number(value)
    if isinstance(value, Mapping):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    raise TypeError(f"cannot sign a value of type {type(value).__name__}")


def _canonical_json(payload: Mapping[str, object]) -> bytes:
    text = json.dumps(
        _canonical(payload),
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        allow_nan=False,
    )
    return text.encode("utf-8", "surrogatepass")


def signed_bytes(user_id: str, data: VectorsBatchData) -> bytes:
    """The bytes a batch's signature covers: the user id and the batch as the consumer reads it."""
    # A batch without cards (made before cards existed) is signed as it was then.
    unsigned = {"user", "signature"} | ({"cards"} if data.cards is None else set())
    return _canonical_json(
        {"user": user_id, "data": data.model_dump(mode="json", by_alias=True, exclude=unsigned)}
    )


def notice_bytes(data: IndexFailedData) -> bytes:
    """The bytes a failure notice's signature covers: its label, then the notice as read."""
    return _NOTICE_LABEL + _canonical_json(
        data.model_dump(mode="json", exclude={"signature"}) | {"user": data.user.id}
    )


class BatchSigner:
    """Signs batch events and checks their signatures with one key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < KEY_BYTES // 2:
            raise ValueError("a batch signing key needs at least 16 bytes")
        self._key = key

    @classmethod
    def from_signing_key(cls, signing_key: str) -> BatchSigner:
        """The signer whose key is derived from `INNGEST_SIGNING_KEY` (HKDF-SHA256)."""
        key = HKDF(
            algorithm=hashes.SHA256(), length=KEY_BYTES, salt=b"appsync", info=_HKDF_INFO
        ).derive(signing_key_bytes(signing_key))
        return cls(key)

    def signature(self, user_id: str, data: VectorsBatchData) -> str:
        """The signature of one batch for one user."""
        digest = hmac.new(self._key, signed_bytes(user_id, data), hashlib.sha256).hexdigest()
        return _SCHEME + digest

    def signed(self, event: WireEvent) -> WireEvent:
        """A copy of a batch event with `data.signature` set; the event's user is the signer's."""
        user_id = str(event.user.get("id", ""))
        data = VectorsBatchData.model_validate(event.data)
        return event.model_copy(
            update={"data": {**event.data, SIGNATURE_FIELD: self.signature(user_id, data)}}
        )

    def signed_notice(self, event: WireEvent) -> WireEvent:
        """A copy of an `appsync/index.failed` notice with `data.signature` set."""
        data = IndexFailedData.model_validate(event.data)
        digest = hmac.new(self._key, notice_bytes(data), hashlib.sha256).hexdigest()
        return event.model_copy(update={"data": {**event.data, SIGNATURE_FIELD: _SCHEME + digest}})

    def is_notice_signed(self, data: IndexFailedData) -> bool:
        """Whether a failure notice carries this key's signature."""
        expected = _SCHEME + hmac.new(self._key, notice_bytes(data), hashlib.sha256).hexdigest()
        return bool(data.signature) and hmac.compare_digest(str(data.signature), expected)

    def check(self, user_id: str, data: VectorsBatchData) -> None:
        """Raise `BatchSignatureError` unless the batch carries this key's signature."""
        where = (
            f"{VECTORS_UPSERTED_EVENT} batch for user {user_id!r} (sync {data.sync.id!r}, "
            f"page {data.page} of {data.source.url})"
        )
        if not data.signature:
            raise BatchSignatureError(
                f"refused the {where}: data.signature is missing. Only batches made by this "
                "service's sync function are indexed."
            )
        if not hmac.compare_digest(data.signature, self.signature(user_id, data)):
            raise BatchSignatureError(
                f"refused the {where}: data.signature does not match. The batch was changed or "
                "not made by this service's sync function (replicas must share "
                "INNGEST_SIGNING_KEY, or without one the same operations index)."
            )
