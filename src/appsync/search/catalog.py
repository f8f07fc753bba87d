"""What one user has synced, read from the index: an operation's card, and the specs.

Used by `GET /api/operations/{uid}` and the MCP tools `describe_operation` and `list_services`
alike, so that both answer the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from appsync.index.base import OperationIndex, SourceSummary
from appsync.messaging.storage_poller import ulid_time
from appsync.openapi import OperationCard


class OperationNotFoundError(LookupError):
    """No operation with this uid among the user's (whether another user has one is not said)."""

    def __init__(self, uid: str) -> None:
        super().__init__(uid)
        self.uid = uid

    def __str__(self) -> str:
        return (
            f"no operation {self.uid[:300]!r} among your synced operations: search_operations "
            "(GET /api/operations/search) gives the uids there are"
        )


class LastSync(BaseModel):
    """The newest sync that wrote a spec's operations."""

    id: str | None = Field(
        description="The sync's id as the POST (or sync_specs) answered it, for sync_status; "
        "null once the sync journal has forgotten it (after 7 days)."
    )
    at: str | None = Field(description="When the sync's run was scheduled (ISO 8601, UTC).")


def _last_sync(sync_id: str, event_id: str | None) -> LastSync:
    """A sync's ids and time from its run id (a ULID) or a pre-ULID `<ts ms>-<event id>` id."""
    stamp, dash, legacy_event = sync_id.partition("-")
    if dash and stamp.isdigit():
        seconds: float | None = int(stamp) / 1000
        event_id = event_id or legacy_event
    else:
        try:
            seconds = ulid_time(sync_id)
        except ValueError:
            seconds = None
    at = None
    if seconds is not None:
        at = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    return LastSync(id=event_id, at=at)


class SyncedSpec(BaseModel):
    """One spec in a user's index."""

    model_config = ConfigDict(
        validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )

    service: str
    version: str
    spec_url: str = Field(alias="specUrl")
    operations: int
    last_sync: LastSync = Field(alias="lastSync")

    @classmethod
    def of(cls, source: SourceSummary) -> SyncedSpec:
        """The API form of a source."""
        return cls(
            service=source.service,
            version=source.version,
            spec_url=source.url,
            operations=source.operations,
            last_sync=_last_sync(source.sync_id, source.sync_event_id),
        )


class SyncedSpecs(BaseModel):
    """The user's synced specs, by service name."""

    services: list[SyncedSpec]


@dataclass(frozen=True, slots=True)
class Catalog:
    """Reads a user's cards and specs from the operations index."""

    index: OperationIndex

    async def card(self, user_id: str, uid: str) -> OperationCard:
        """The card of one of the user's operations, or `OperationNotFoundError`."""
        text = await self.index.card(user_id, uid) if uid else None
        if text is None:
            raise OperationNotFoundError(uid)
        return OperationCard.model_validate_json(text)

    async def specs(self, user_id: str) -> SyncedSpecs:
        """The user's synced specs."""
        return SyncedSpecs(services=[SyncedSpec.of(s) for s in await self.index.sources(user_id)])
