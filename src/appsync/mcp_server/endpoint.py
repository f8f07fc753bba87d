"""The `/mcp` endpoint: the official SDK's `MCPServer` with the tools, behind `McpIdentity`.

Streamable HTTP, stateless, JSON answers: every request stands alone (no session id, no SSE
stream), so any replica answers any request and nothing is kept between them. The route is a
plain `POST /mcp` route of the FastAPI app (not a mounted sub-app, which would answer `/mcp`
with a redirect to `/mcp/` and not run its lifespan); GET and DELETE are 405, which clients read
as "no stream, no session". The SDK's session manager must run while the app serves (the app's
lifespan enters `McpEndpoint.running()`), even stateless. It also guards the transport: bodies
over `MAX_BODY_BYTES` get 413, a Content-Type other than JSON 400, and a Host or Origin not in
the allowed lists 421/403 (DNS rebinding).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pydantic
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import CallToolResult, InputRequiredResult
from starlette.routing import Route

import appsync
from appsync.mcp_server.identity import McpIdentity
from appsync.mcp_server.tools import register_tools
from appsync.services import Services

MCP_PATH = "/mcp"
METADATA_PATH = "/.well-known/oauth-protected-resource" + MCP_PATH
MAX_BODY_BYTES = 256 * 1024  # a tool call is a few hundred bytes; a 10 kB query fits well
INSTRUCTIONS = (
    "appsync searches the OpenAPI operations synced for you. search_operations finds "
    "operations by what they do; describe_operation gives the method, URL, parameters and body "
    "to call one; list_services shows the synced APIs; sync_specs and sync_status re-sync them."
)


class _AppsyncMCP(MCPServer[Any]):
    """`MCPServer` whose tool errors read as what to fix, without the SDK's prefix."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        """Run a tool; a deliberate failure's text is only its reason, bad arguments named."""
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError:
            raise  # a crash: the SDK answers a generic message and logs the trace
        except ToolError as exc:
            raise ToolError(_reason(name, exc)) from exc


def _reason(tool: str, exc: ToolError) -> str:
    cause = exc.__cause__
    if isinstance(cause, pydantic.ValidationError):
        problems = "; ".join(_problem(error) for error in cause.errors(include_url=False)[:5])
        return f"invalid arguments for {tool}: {problems}"
    if isinstance(cause, ToolError):
        return str(cause)
    if str(exc).startswith("Unknown tool"):
        return f"{exc}: tools/list names the tools of this server"
    return str(exc)


def _problem(error: Any) -> str:  # noqa: ANN401 - one of pydantic's ErrorDetails
    where = ".".join(str(part) for part in error["loc"]) or "arguments"
    given = error.get("input")
    if error["type"] == "missing":
        return f"{where} is required"
    if isinstance(given, str) and len(given) > 40:  # noqa: PLR2004 - a quotable length
        shown = f"{len(given)} characters"
    else:
        shown = repr(given)[:60]
    return f"{where}: {error['msg']} (got {shown})"


class McpEndpoint:
    """The MCP server of one app: its route, and what its lifespan must run."""

    def __init__(
        self,
        services: Callable[[], Services],
        *,
        public_url: str,
        allowed_hosts: Sequence[str],
    ) -> None:
        # MCPServer() calls logging.basicConfig on the root logger; the service configures its
        # own logging (`appsync serve`), so a placeholder handler makes that call do nothing.
        root = logging.getLogger()
        placeholder = logging.NullHandler()
        root.addHandler(placeholder)
        try:
            self.server = _AppsyncMCP(
                "appsync",
                title="appsync: the operations of your synced OpenAPI specs",
                version=appsync.__version__,
                instructions=INSTRUCTIONS,
                log_level="WARNING",
            )
        finally:
            root.removeHandler(placeholder)
        register_tools(self.server, services)
        origins = [f"{scheme}://{host}" for host in allowed_hosts for scheme in ("http", "https")]
        # Builds the session manager; the Starlette app it returns is not used (see above).
        self.server.streamable_http_app(
            json_response=True,
            stateless_http=True,
            max_request_body_size=MAX_BODY_BYTES,
            transport_security=TransportSecuritySettings(
                enable_dns_rebinding_protection=True,
                allowed_hosts=list(allowed_hosts),
                allowed_origins=origins,
            ),
        )
        self.metadata_url = public_url.rstrip("/") + METADATA_PATH
        self.route = Route(
            MCP_PATH,
            endpoint=McpIdentity(
                StreamableHTTPASGIApp(self.server.session_manager),
                services=services,
                resource_metadata_url=self.metadata_url,
            ),
            methods=["POST"],
            include_in_schema=False,
        )

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the SDK's session manager (once per endpoint) while the block runs."""
        async with self.server.session_manager.run():
            yield
