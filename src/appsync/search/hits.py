"""A search hit as every client sees it: the REST API, `appsync search` and the MCP tools."""

from __future__ import annotations

from pydantic import BaseModel, Field

from appsync.index.base import Hit


class OperationHit(BaseModel):
    """One operation found."""

    uid: str
    score: float
    service: str
    version: str
    method: str
    path: str
    operation_id: str | None = Field(serialization_alias="operationId")
    summary: str
    tags: list[str]
    deprecated: bool

    @classmethod
    def of(cls, hit: Hit) -> OperationHit:
        """The API form of an index hit (its fields by name; the source URL stays inside)."""
        return cls.model_validate(hit, from_attributes=True)
