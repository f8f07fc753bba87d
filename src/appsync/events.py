"""Event names and payloads, shared by the route that sends and the function that consumes.

Wire shapes (the original Next.js service's):

- `openapi/app.sync`: `{"name", "v": "1", "ts": <ms>, "user": {...}, "data": {"appSettings": {...},
  "user": {...}}}` (plus `"redeliveryOf": <the original's id>` when the redelivery sweep sends a
  stored event that never ran again: `appsync.sync.redelivery`; so does a batch event it sends
  again). The user also travels inside
  `data` because the Python SDK drops a top-level `user` when it parses the request that runs a
  function (docs/architecture.md, "Who the sync is for").
- `pinecone/vectors.upserted`: `{"id", "name", "v": "1", "ts", "user", "data": {"_page", "_total",
  "_batchSize", "vectors", "cards", "user", "source", "sync"}}`, one per batch of at most 100
  documents; `_total` is the number of documents of that spec, `cards` the documents' cards
  (`appsync.openapi.cards`, each with its document's uid, beside the documents so that these stay
  the original's `{uid, text, metadata}`), `source` is `{"url", "service", "version"}`
  and `sync` is `{"id": <the sync's run id>, "urls": [every spec URL of that sync]}`
  (what the index consumer's re-sync rules read), and `signature`, the sync function's HMAC of
  the batch (`appsync.sync.signing`), without which the index consumer refuses it.
- `appsync/index.failed`: `{"id", "name", "v": "1", "ts", "data": {"user", "sync": {"id"},
  "source": {"url"}, "page", "operations", "error", "signature"}}`, sent by the index consumer
  when a batch failed for good (after its last retry), signed like batches; the sync's status
  reads it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import Any

import inngest
import pydantic
from pydantic import BaseModel, ConfigDict, Field

from appsync.openapi.cards import OperationCard
from appsync.settings.app_settings import AppSettings
from appsync.users import User

APP_SYNC_EVENT = "openapi/app.sync"
VECTORS_UPSERTED_EVENT = "pinecone/vectors.upserted"
INDEX_FAILED_EVENT = "appsync/index.failed"
SYNC_FUNCTION_ID = "sync-openapi-specs"  # the consumer's id; its slug is "<app id>-<this>"
EVENT_VERSION = "1"
REDELIVERY_OF = "redeliveryOf"  # in `data` of a redelivered event: the original's id
SUPPORTED_VERSIONS = frozenset({EVENT_VERSION})


class WireEvent(inngest.Event):
    """`inngest.Event` plus the top-level `user` and `v` that the SDK's model lacks.

    The SDK serialises events with pydantic's `model_dump`, so these fields reach the server;
    `tests/test_events.py` pins that against the pinned SDK version.
    """

    user: Mapping[str, inngest.JSON] = {}
    v: str = EVENT_VERSION


def now_ms() -> int:
    """Current time as the epoch milliseconds Inngest uses for `ts`."""
    return time.time_ns() // 1_000_000


def app_sync_event(app_settings: AppSettings, user: User) -> WireEvent:
    """Build the `openapi/app.sync` event the route sends."""
    user_json = user.to_event()
    return WireEvent(
        name=APP_SYNC_EVENT,
        ts=now_ms(),
        v=EVENT_VERSION,
        user=user_json,
        data={"appSettings": app_settings.to_event(), "user": user_json},
    )


def redelivered_event(stored: Mapping[str, Any], original: str) -> WireEvent:
    """A stored event (as the server's REST API lists it) again, redelivering `original`.

    A sync event or a batch event: the same name, user and `data` (a batch's signature covers
    only what the index consumer reads of `data`, so it still holds). Its id makes the server run
    it once however many replicas send it: the server runs each event id once per function.
    """
    data = stored.get("data")
    data = dict(data) if isinstance(data, Mapping) else {}
    user = stored.get("user") or data.get("user")
    name = stored.get("name")
    return WireEvent(
        id=f"appsync-redelivery-{original}",
        name=name if isinstance(name, str) and name else APP_SYNC_EVENT,
        ts=now_ms(),
        v=EVENT_VERSION,
        user=dict(user) if isinstance(user, Mapping) else {},
        data={**data, REDELIVERY_OF: original},
    )


class AppSyncData(BaseModel):
    """The `data` of an `openapi/app.sync` event, as the function accepts it.

    `appSettings.openapiUrls` is this service's shape; `urls` is the original consumer's.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    app_settings: AppSettings | None = Field(default=None, alias="appSettings")
    urls: list[str] | None = None
    user: User | None = None

    @pydantic.model_validator(mode="after")
    def _has_urls(self) -> AppSyncData:
        if self.app_settings is None and self.urls is None:
            raise ValueError("data needs appSettings.openapiUrls (or the original's data.urls)")
        return self

    def spec_urls(self) -> list[str]:
        """The spec URLs to sync, first occurrence first, without duplicates."""
        urls = self.app_settings.openapi_urls if self.app_settings is not None else []
        return list(dict.fromkeys([*urls, *(self.urls or [])]))


def vectors_event(  # noqa: PLR0913 - keyword-only fields of the wire event
    *,
    event_id: str,
    user: User,
    page: int,
    total: int,
    batch_size: int,
    vectors: list[Any],
    source: Mapping[str, inngest.JSON],
    sync: Mapping[str, inngest.JSON],
    cards: list[Any] | None = None,
) -> WireEvent:
    """Build one `pinecone/vectors.upserted` batch event (`cards`: the documents' cards' JSON)."""
    user_json = user.to_event()
    data: dict[str, Any] = {
        "_page": page,
        "_total": total,
        "_batchSize": batch_size,
        "vectors": vectors,
        "user": user_json,
        "source": source,
        "sync": sync,
    }
    if cards is not None:
        data["cards"] = cards
    return WireEvent(
        id=event_id,
        name=VECTORS_UPSERTED_EVENT,
        ts=now_ms(),
        v=EVENT_VERSION,
        user=user_json,
        data=data,
    )


class BatchDocumentMetadata(BaseModel):
    """A batch document's metadata, as the index consumer reads it."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, strict=True)

    service: str
    version: str
    method: str = Field(min_length=1)
    path: str
    tags: list[str] = Field(default_factory=list)
    deprecated: bool = False
    operation_id: str | None = Field(default=None, alias="operationId")


class BatchDocument(BaseModel):
    """One document of a batch: `{uid, text, metadata}`."""

    model_config = ConfigDict(extra="ignore", strict=True)

    uid: str = Field(min_length=1, max_length=1024)
    text: str
    metadata: BatchDocumentMetadata


class BatchSource(BaseModel):
    """The spec a batch was made from."""

    model_config = ConfigDict(extra="ignore", strict=True)

    url: str = Field(min_length=1)
    service: str
    version: str


class BatchSync(BaseModel):
    """The sync a batch belongs to."""

    model_config = ConfigDict(extra="ignore", strict=True)

    id: str = Field(min_length=1)
    urls: list[str]


class VectorsBatchData(BaseModel):
    """The `data` of a `pinecone/vectors.upserted` event, as the index consumer accepts it."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, strict=True)

    page: int = Field(alias="_page", ge=1)
    total: int = Field(alias="_total", ge=1)
    vectors: list[BatchDocument]
    # The documents' cards, by uid; None in batches of an appsync that made no cards.
    cards: list[OperationCard] | None = None
    source: BatchSource
    sync: BatchSync
    user: User | None = None
    signature: str | None = None  # the sync function's HMAC (appsync.sync.signing)

    @pydantic.model_validator(mode="after")
    def _cards_are_the_documents(self) -> VectorsBatchData:
        uids = {document.uid for document in self.vectors}
        for index, card in enumerate(self.cards or ()):
            if card.uid not in uids:
                raise ValueError(f"cards[{index}].uid {card.uid!r} is no document of this batch")
        return self


class BatchSyncId(BaseModel):
    """The sync a failed batch belonged to."""

    model_config = ConfigDict(extra="ignore", strict=True)

    id: str = Field(min_length=1)


class BatchSourceUrl(BaseModel):
    """The spec a failed batch came from."""

    model_config = ConfigDict(extra="ignore", strict=True)

    url: str = Field(min_length=1)


class IndexFailedData(BaseModel):
    """The `data` of an `appsync/index.failed` notice, as the status reads it."""

    model_config = ConfigDict(extra="ignore", strict=True)

    user: User
    sync: BatchSyncId
    source: BatchSourceUrl
    page: int = Field(ge=1)
    operations: int = Field(ge=0)
    error: str
    signature: str | None = None


def index_failed_event(
    *, user: User, data: VectorsBatchData, operations: int, error: str
) -> WireEvent:
    """The notice that one batch of a sync could not be indexed (the status reads it)."""
    key = hashlib.sha256(
        "\n".join([user.id, data.sync.id, data.source.url, str(data.page)]).encode(
            "utf-8", "surrogatepass"
        )
    ).hexdigest()[:32]
    return WireEvent(
        id=f"appsync-index-failed-{key}",
        name=INDEX_FAILED_EVENT,
        ts=now_ms(),
        v=EVENT_VERSION,
        data={
            "user": user.to_event(),
            "sync": {"id": data.sync.id},
            "source": {"url": data.source.url},
            "page": data.page,
            "operations": operations,
            "error": error,
        },
    )
