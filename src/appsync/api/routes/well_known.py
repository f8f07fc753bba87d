"""`GET /.well-known/oauth-protected-resource/mcp`: the MCP endpoint's resource metadata.

RFC 9728, which the MCP authorization spec points clients to from a 401's `WWW-Authenticate`. It
names the resource and how to present a token (a bearer header). It lists no authorization
server: this service verifies tokens that the app minting them issues (HS256 JWTs, next-auth
sessions) and offers no OAuth flow, so a client is configured with its token (docs/mcp.md).
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from appsync.api.deps import ServicesDep
from appsync.mcp_server.endpoint import MCP_PATH, METADATA_PATH

router = APIRouter(tags=["mcp"])


class ProtectedResource(BaseModel):
    """An OAuth 2.0 protected resource's metadata (RFC 9728, section 2)."""

    resource: str
    resource_name: str
    bearer_methods_supported: list[str]


@router.get(METADATA_PATH, include_in_schema=False)
@router.get("/.well-known/oauth-protected-resource", include_in_schema=False)
async def mcp_resource_metadata(services: ServicesDep) -> ProtectedResource:
    """The `/mcp` endpoint as a protected resource: bearer tokens in the header."""
    return ProtectedResource(
        resource=services.settings.self_url + MCP_PATH,
        resource_name="appsync MCP server",
        bearer_methods_supported=["header"],
    )
