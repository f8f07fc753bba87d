"""A search hit as every client sees it: the REST API, `appsync search` and the MCP tools."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from appsync.index.base import Hit


class OperationHit(BaseModel):
    """One operation found."""

    # Named `operationId` both ways, so that a JSON Schema of it (an MCP tool's output) names
    # what the JSON holds.
    model_config = ConfigDict(
        validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )

    uid: str
    score: float
    service: str
    version: str
    method: str
    path: str
    operation_id: str | None = Field(alias="operationId")
    summary: str
    tags: list[str]
    deprecated: bool

    @classmethod
    def of(cls, hit: Hit) -> OperationHit:
        """The API form of an index hit (its fields by name; the source URL stays inside)."""
        return cls.model_validate(hit, from_attributes=True)


class SearchResults(BaseModel):
    """The hits, best first."""

    results: list[OperationHit]
