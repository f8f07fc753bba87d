"""Who calls `/mcp`: the REST API's credentials, checked before any JSON-RPC is read.

An ASGI middleware in front of the MCP transport asks `appsync.auth.request_user` exactly as the
REST routes do (bearer JWT, else the next-auth session cookie; dev mode without a secret: the
local user) and puts the user into the request's state, where the tools find it. Missing or bad
credentials get `401` with the REST API's JSON body and the challenge the MCP authorization spec
asks for (RFC 6750, RFC 9728): `WWW-Authenticate: Bearer resource_metadata="<metadata URL>"`,
plus `error="invalid_token"` and why when credentials were sent but refused.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from appsync.auth import AuthError, request_user, session_cookie
from appsync.services import Services

USER_STATE = "appsync_user"  # the key of the caller in the request's state


def _quoted(text: str) -> str:
    """`text` as an RFC 7235 quoted-string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class McpIdentity:
    """Authenticates every request to the wrapped app (the MCP transport) or answers 401."""

    def __init__(
        self, app: ASGIApp, *, services: Callable[[], Services], resource_metadata_url: str
    ) -> None:
        self.app = app
        self.services = services
        self.resource_metadata_url = resource_metadata_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Let an authenticated request through, with its user in the request's state."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        running = self.services()
        authorization = connection.headers.get("authorization")
        try:
            user = request_user(
                running.authenticator,
                running.settings.local_user,
                authorization,
                connection.cookies,
            )
        except AuthError as exc:
            sent = bool(authorization) or session_cookie(connection.cookies) is not None
            await self._refuse(scope, receive, send, str(exc), credentials_sent=sent)
            return
        scope.setdefault("state", {})[USER_STATE] = user
        await self.app(scope, receive, send)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, reason: str, *, credentials_sent: bool
    ) -> None:
        challenge = f"Bearer resource_metadata={_quoted(self.resource_metadata_url)}"
        if credentials_sent:  # RFC 6750 3.1: no error code when no credentials came
            challenge += f', error="invalid_token", error_description={_quoted(reason)}'
        refusal = JSONResponse(
            {"error": "unauthorized", "message": reason},
            status_code=401,
            headers={"www-authenticate": challenge.encode("latin-1", "replace").decode("latin-1")},
        )
        await refusal(scope, receive, send)
