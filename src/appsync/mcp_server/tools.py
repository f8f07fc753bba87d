"""The five MCP tools: search, describe, list the specs, start a sync, follow it.

Each tool is a thin shell over the service the matching REST route uses (the searcher, the
catalog, the event sender with the app settings, the sync statuses), reached through the app's
registry, for the user `appsync.mcp_server.identity` authenticated. Each answers structured
content (its output schema is the REST answer's model) and a short text form for clients that
read text only. An anticipated failure (bad arguments, an unknown uid or sync, the Inngest server
refusing the event) is a `ToolError`: a result with `isError: true` whose text says what to fix.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Annotated, Literal, Protocol

from mcp.server.mcpserver import Context, MCPServer, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field
from starlette.requests import Request

from appsync.events import app_sync_event
from appsync.index.base import DEFAULT_K, MAX_K
from appsync.index.factory import STORE_UNAVAILABLE
from appsync.mcp_server.identity import USER_STATE
from appsync.messaging.sender import EventNotSentError, EventSender
from appsync.openapi import OperationCard
from appsync.search.catalog import Catalog, OperationNotFoundError, SyncedSpecs
from appsync.search.hits import OperationHit, SearchResults
from appsync.search.searcher import MAX_QUERY_CHARS, OverloadedError, QueryError, Searcher
from appsync.settings.app_settings import AppSettingsError, AppSettingsSource
from appsync.sync.status import (
    InngestUnavailableError,
    SyncNotFoundError,
    SyncStatus,
    SyncStatuses,
)
from appsync.users import User

HttpMethod = Literal["get", "put", "post", "delete", "options", "head", "patch", "trace"]
_READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)
_SYNC = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)
_TEXT_ITEMS = 10  # fields, parameters or responses named in a text form


class ToolServices(Protocol):
    """What the tools use of the running app (`appsync.services.Services` has it all)."""

    @property
    def searcher(self) -> Searcher:
        """Search over the operations index."""
        ...

    @property
    def catalog(self) -> Catalog:
        """The users' cards and specs."""
        ...

    @property
    def sender(self) -> EventSender:
        """The bounded-time event sender."""
        ...

    @property
    def app_settings(self) -> AppSettingsSource:
        """The spec URLs a sync covers."""
        ...

    @property
    def sync_statuses(self) -> SyncStatuses:
        """What a sync's status is read from."""
        ...


class SyncStarted(BaseModel):
    """The sync event the Inngest server stored."""

    id: str = Field(description="The sync's id: pass it to sync_status.")


async def current_user(ctx: Context) -> User:
    """The caller, as `McpIdentity` authenticated them."""
    request = ctx.request_context.request
    user = request.scope.get("state", {}).get(USER_STATE) if isinstance(request, Request) else None
    if not isinstance(user, User):  # only the HTTP transport behind McpIdentity serves tools
        raise ToolError("no authenticated user: call this server over HTTP at /mcp")
    return user


CurrentUser = Annotated[User, Resolve(current_user)]


def _result(text: str, structured: BaseModel) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=structured.model_dump(mode="json", by_alias=True),
    )


def register_tools(server: MCPServer, services: Callable[[], ToolServices]) -> None:  # noqa: C901 - the five tools, each a few lines
    """Add the five tools to `server`; `services()` gives the running app's services."""

    async def search_operations(
        query: Annotated[
            str,
            Field(
                min_length=1,
                max_length=MAX_QUERY_CHARS,
                description="What the operation should do, in words, e.g. 'refund a payment'.",
            ),
        ],
        user: CurrentUser,
        k: Annotated[int, Field(ge=1, le=MAX_K, description="How many results.")] = DEFAULT_K,
        service: Annotated[
            str | None, Field(description="Only this service (a spec's title).")
        ] = None,
        method: Annotated[HttpMethod | None, Field(description="Only this HTTP method.")] = None,
        tag: Annotated[str | None, Field(description="Only operations with this tag.")] = None,
    ) -> Annotated[CallToolResult, SearchResults]:
        """Find API operations in the user's synced OpenAPI specs that do what the query says.

        Best first (hybrid full-text and semantic ranking). Each result has a uid: pass it to
        describe_operation to learn how to call that operation.
        """
        if not query.strip():
            raise ToolError("query is blank: say what the operation should do")
        try:
            hits = await services().searcher.search(
                user.id, query, k=k, service=service, method=method, tag=tag
            )
        except (QueryError, OverloadedError) as exc:
            raise ToolError(str(exc)) from None
        except STORE_UNAVAILABLE as exc:
            raise ToolError(_unavailable(exc)) from None
        found = SearchResults(results=[OperationHit.of(hit) for hit in hits])
        return _result(_search_text(query, found), found)

    async def describe_operation(
        uid: Annotated[
            str,
            Field(min_length=1, max_length=1024, description="A uid from search_operations."),
        ],
        user: CurrentUser,
    ) -> Annotated[CallToolResult, OperationCard]:
        """How to call one operation: method, full URL, parameters, body, responses, auth.

        The request body comes with its top-level fields and its JSON Schema (local $refs
        inlined, capped in depth and size; `notes` says what was cut).
        """
        try:
            card = await services().catalog.card(user.id, uid)
        except OperationNotFoundError as exc:
            raise ToolError(str(exc)) from None
        except STORE_UNAVAILABLE as exc:
            raise ToolError(_unavailable(exc)) from None
        return _result(_card_text(card), card)

    async def list_services(user: CurrentUser) -> Annotated[CallToolResult, SyncedSpecs]:
        """The user's synced OpenAPI specs: service, version, spec URL, operations, last sync."""
        try:
            specs = await services().catalog.specs(user.id)
        except STORE_UNAVAILABLE as exc:
            raise ToolError(_unavailable(exc)) from None
        return _result(_specs_text(specs), specs)

    async def sync_specs(user: CurrentUser) -> Annotated[CallToolResult, SyncStarted]:
        """Sync the app's configured OpenAPI specs into the user's index (POST /api/openapi/sync).

        Answers once the Inngest server has stored the sync's event; the sync then runs in the
        background. A newer sync of the same user cancels a running one. Follow it with
        sync_status.
        """
        running = services()
        try:
            (sync_id, *_) = await running.sender.send(
                app_sync_event(running.app_settings.load(), user)
            )
        except EventNotSentError as exc:
            raise ToolError(f"the sync was not started: {exc.message}") from None
        except AppSettingsError as exc:
            raise ToolError(f"the sync was not started: {exc}") from None
        started = SyncStarted(id=sync_id)
        return _result(f"Sync {sync_id} started: call sync_status with this id.", started)

    async def sync_status(
        id: Annotated[  # noqa: A002 - the tool's argument name
            str, Field(min_length=1, max_length=100, description="The id sync_specs answered.")
        ],
        user: CurrentUser,
    ) -> Annotated[CallToolResult, SyncStatus]:
        """Where a sync stands (as GET /api/openapi/sync/{id}): status, specs so far, totals.

        status is queued, running, completed, failed, cancelled, skipped or stalled.
        """
        try:
            status = await services().sync_statuses.status(id, user.id)
        except SyncNotFoundError:
            raise ToolError(
                f"no sync {id[:100]!r} for you: pass an id that sync_specs answered"
            ) from None
        except InngestUnavailableError as exc:
            raise ToolError(f"the sync's status is unknown for now: {exc.message}") from None
        return _result(_status_text(status), status)

    for tool, title, hints in (
        (search_operations, "Search API operations", _READ),
        (describe_operation, "Describe an API operation", _READ),
        (list_services, "List synced APIs", _READ),
        (sync_specs, "Sync the OpenAPI specs", _SYNC),
        (sync_status, "Status of a sync", _READ),
    ):
        # The docstring is the description an assistant chooses by, without its indentation.
        description = inspect.cleandoc(tool.__doc__ or "")
        server.add_tool(tool, title=title, description=description, annotations=hints)


def _unavailable(exc: Exception) -> str:
    return f"the operations index is unavailable ({type(exc).__name__}); try again in a few seconds"


# -- text forms ------------------------------------------------------------------------------


def _search_text(query: str, found: SearchResults) -> str:
    if not found.results:
        return f"No operation found for {query!r}: list_services shows what is synced."
    lines = [f"{len(found.results)} operation(s) for {query!r}, best first:"]
    lines += [
        f"{n}. {hit.method.upper()} {hit.path} ({hit.service}) {hit.summary} [uid: {hit.uid}]"
        for n, hit in enumerate(found.results, start=1)
    ]
    return "\n".join(lines)


def _card_text(card: OperationCard) -> str:
    lines = [f"{card.method} {card.url}" + (" (deprecated)" if card.deprecated else "")]
    if card.summary or card.description:
        lines.append(card.summary or card.description)
    if card.parameters:
        named = [
            f"{p.name} ({p.location}, {p.type}{', required' if p.required else ''})"
            for p in card.parameters[:_TEXT_ITEMS]
        ]
        lines.append("Parameters: " + "; ".join(named) + _more(card.parameters))
    body = card.request_body
    if body is not None:
        fields = [
            f"{f.name}{'*' if f.required else ''} ({f.type})" for f in body.fields[:_TEXT_ITEMS]
        ]
        kinds = ", ".join(body.media_types) or "no media type"
        described = "; ".join(fields) + _more(body.fields) if fields else "see its schema"
        lines.append(
            f"Body ({kinds}{', required' if body.required else ''}): {described}"
            + (" (* required)" if any(f.required for f in body.fields) else "")
        )
    if card.responses:
        lines.append(
            "Responses: "
            + "; ".join(
                f"{code} {response.description}".rstrip()
                for code, response in list(card.responses.items())[:_TEXT_ITEMS]
            )
        )
    if card.security:
        lines.append("Auth: " + ", ".join(card.security))
    return "\n".join(lines)


def _more(items: Sequence[object]) -> str:
    return f" and {len(items) - _TEXT_ITEMS} more" if len(items) > _TEXT_ITEMS else ""


def _specs_text(specs: SyncedSpecs) -> str:
    if not specs.services:
        return "Nothing synced yet: sync_specs syncs the app's configured specs."
    return "\n".join(
        f"{s.service} {s.version}: {s.operations} operations from {s.spec_url} "
        f"(last sync {s.last_sync.id}{', ' + s.last_sync.at if s.last_sync.at else ''})"
        for s in specs.services
    )


def _status_text(status: SyncStatus) -> str:
    totals = ", ".join(f"{key} {value}" for key, value in status.totals.items())
    text = f"Sync {status.id}: {status.status}" + (f" ({totals})" if totals else "")
    return text + (f". {status.message}" if status.message else ".")
