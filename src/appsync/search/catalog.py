"""What one user has synced, read from the index: an operation's card, and the specs.

Used by `GET /api/operations/{uid}` and the MCP tools `describe_operation` and `list_services`
alike, so that both answer the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from appsync.index.base import OperationIndex, SourceSummary
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

    id: str = Field(description="The sync's id, as the POST (or sync_specs) answered it.")
    at: str | None = Field(description="When that sync was sent (ISO 8601, UTC).")


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
        """The API form of a source, its sync id (`<ts ms>-<event id>`) split in two."""
        stamp, _, event_id = source.sync_id.partition("-")
        at = None
        if stamp.isdigit():
            at = datetime.fromtimestamp(int(stamp) / 1000, UTC).isoformat(timespec="milliseconds")
        return cls(
            service=source.service,
            version=source.version,
            spec_url=source.url,
            operations=source.operations,
            last_sync=LastSync(id=event_id or source.sync_id, at=at),
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
