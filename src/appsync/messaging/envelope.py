"""Give functions back the `user` and `v` the Python SDK drops from the triggering event.

`inngest.Event` (SDK 0.5.19) has only `name, data, id, ts`, so `ctx.event` never carries the
top-level `user` or `v` the server sends. This middleware re-reads the request body the SDK
already received (FastAPI caches it) and swaps `ctx.event` for a `WireEvent` with both fields —
`transform_input` is the SDK's documented hook for replacing a handler's arguments.

When the server sends `use_api: true` (very large run state) the body has no event; `ctx.event`
then stays an `inngest.Event` and functions fall back to the user carried in `data`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import inngest
import pydantic
from starlette.requests import Request

from appsync.events import EVENT_VERSION, SUPPORTED_VERSIONS, WireEvent
from appsync.users import User


async def _wire_event(raw_request: object) -> Mapping[str, Any] | None:
    if not isinstance(raw_request, Request):
        return None
    try:
        body = json.loads(await raw_request.body())
    except ValueError:
        return None
    event = body.get("event") if isinstance(body, dict) else None
    return event if isinstance(event, dict) and not body.get("use_api") else None


class EventEnvelope(inngest.Middleware):
    """Per-request middleware: `ctx.event` becomes a `WireEvent` with `user` and `v`."""

    async def transform_input(
        self,
        ctx: inngest.Context | inngest.ContextSync,
        function: inngest.Function[Any],  # noqa: ARG002 - the hook's signature
        steps: inngest.StepMemos,  # noqa: ARG002 - the hook's signature
    ) -> None:
        """Replace `ctx.event` with the full wire event when the request body holds it."""
        wire = await _wire_event(self.raw_request)
        if wire is None or wire.get("id", ctx.event.id) != ctx.event.id:
            return
        user = wire.get("user")
        version = wire.get("v")
        ctx.event = WireEvent(
            name=ctx.event.name,
            id=ctx.event.id,
            ts=ctx.event.ts,
            data=ctx.event.data,
            user=user if isinstance(user, dict) else {},
            v=version if isinstance(version, str) and version else "",
        )


def require_known_version(event: inngest.Event) -> None:
    """Raise `NonRetriableError` unless the event's `v` is one the functions read (none: "1")."""
    version = (event.v if isinstance(event, WireEvent) else "") or EVENT_VERSION
    if version not in SUPPORTED_VERSIONS:
        raise inngest.NonRetriableError(
            f"unsupported event version v={version!r}: this function reads "
            f"v={', '.join(sorted(SUPPORTED_VERSIONS))} (a missing v means '{EVENT_VERSION}')"
        )


def event_user(event: inngest.Event, data_user: User | None) -> User:
    """Who the event is for: its top-level `user`, else `data.user`; `NonRetriableError` if none."""
    top_level = event.user if isinstance(event, WireEvent) else {}
    try:
        user = User.model_validate(top_level) if top_level.get("id") else data_user
    except pydantic.ValidationError:
        user = data_user
    if user is None:
        raise inngest.NonRetriableError(
            "no user found: the event needs a top-level 'user' or 'data.user' with an 'id'"
        )
    return user


def malformed(event_name: str, exc: pydantic.ValidationError) -> inngest.NonRetriableError:
    """The error for an event whose `data` failed validation: which fields, and why.

    Fields are written as in the event (`data.vectors[0].uid`); at most five problems are named.
    """

    def where(loc: tuple[int | str, ...]) -> str:
        return "data" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)

    problems = "; ".join(
        f"{where(error['loc'])}: {error['msg']}"
        if error["loc"]
        else str(error["msg"]).removeprefix("Value error, ")
        for error in exc.errors(include_url=False)[:5]
    )
    return inngest.NonRetriableError(f"malformed {event_name} event: {problems}")
