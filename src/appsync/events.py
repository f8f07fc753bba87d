"""Event names and payloads, shared by the route that sends and the function that consumes.

Wire shapes (the original Next.js service's):

- `openapi/app.sync`: `{"name", "v": "1", "ts": <ms>, "user": {...}, "data": {"appSettings": {...},
  "user": {...}}}`. The user also travels inside `data` because the Python SDK drops a top-level
  `user` when it parses the request that runs a function (see README, "Who the sync is for").
- `pinecone/vectors.upserted`: `{"id", "name", "v": "1", "ts", "user", "data": {"_page", "_total",
  "_batchSize", "vectors", "user", "source"}}`, one per batch of at most 100 documents.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import inngest
import pydantic
from pydantic import BaseModel, ConfigDict, Field

from appsync.app_settings import AppSettings
from appsync.users import User

APP_SYNC_EVENT = "openapi/app.sync"
VECTORS_UPSERTED_EVENT = "pinecone/vectors.upserted"
SYNC_FUNCTION_ID = "sync-openapi-specs"  # the consumer's id; its slug is "<app id>-<this>"
EVENT_VERSION = "1"
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


def vectors_event(
    *,
    event_id: str,
    user: User,
    page: int,
    total: int,
    batch_size: int,
    vectors: list[Any],
    source: Mapping[str, inngest.JSON],
) -> WireEvent:
    """Build one `pinecone/vectors.upserted` batch event."""
    user_json = user.to_event()
    return WireEvent(
        id=event_id,
        name=VECTORS_UPSERTED_EVENT,
        ts=now_ms(),
        v=EVENT_VERSION,
        user=user_json,
        data={
            "_page": page,
            "_total": total,
            "_batchSize": batch_size,
            "vectors": vectors,
            "user": user_json,
            "source": source,
        },
    )
