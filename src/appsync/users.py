"""Who a sync runs for: the user model shared by settings, auth, events and functions."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class User(BaseModel):
    """The person a sync runs for: verified claims, or the configured local user."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1)
    email: str | None = None
    name: str | None = None

    def to_event(self) -> dict[str, str]:
        """The JSON form carried in events, without empty fields."""
        return self.model_dump(mode="json", exclude_none=True)
