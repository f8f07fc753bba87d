"""Production-mode guard in front of the Inngest endpoint: no unsigned syncs, no stale signatures.

The SDK (0.5.19) verifies the HMAC of `X-Inngest-Signature` but not how old its `t=` is, and by
default lets an unsigned `PUT` re-register the app at a URL built from the request's `Host` header.
So, in production mode, every `PUT` and `POST` to the serve path must carry a signature whose
timestamp is within `max_age` of now; the HMAC itself is still checked by the SDK behind this guard
(the timestamp is part of what it signs, so it cannot be changed without breaking the HMAC).

Five minutes, as Inngest's TypeScript SDK allows: the Inngest server signs each call when it sends
it, so a genuine call is seconds old; the rest is room for clock skew between the two machines.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from urllib.parse import parse_qs

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = b"x-inngest-signature"
MAX_SIGNATURE_AGE = 300.0


def signature_problem(header: str | None, now: float, max_age: float) -> str | None:
    """Why a signature header is unacceptable before its HMAC is checked; None when it is fine."""
    if not header:
        return "the request is not signed (X-Inngest-Signature is missing)"
    values = parse_qs(header)
    stamp = values.get("t", [""])[0]
    # ASCII digits only: str.isdigit() also accepts "²", which int() then refuses.
    if not (stamp.isascii() and stamp.isdigit()) or not values.get("s"):
        return "X-Inngest-Signature is malformed: expected 't=<unix seconds>&s=<hex HMAC>'"
    age = now - int(stamp)
    if abs(age) > max_age:
        when = "old" if age > 0 else "in the future"
        return (
            f"the signature is {abs(age):.0f} s {when}; signatures older than {max_age:.0f} s are "
            "refused (a captured call cannot be replayed)"
        )
    return None


class SignedInngestCalls:
    """ASGI middleware: refuse unsigned or stale `PUT`/`POST` calls to `path` with 401."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        path: str,
        max_age: float = MAX_SIGNATURE_AGE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._app = app
        self._path = path
        self._max_age = max_age
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the call on, unless it is an unsigned or stale call to the Inngest endpoint."""
        if (
            scope["type"] != "http"
            or scope["method"] not in {"PUT", "POST"}
            or scope["path"].rstrip("/") != self._path
        ):
            await self._app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(SIGNATURE_HEADER)
        problem = signature_problem(
            header.decode("latin-1") if header is not None else None,
            self._clock(),
            self._max_age,
        )
        if problem is None:
            await self._app(scope, receive, send)
            return
        logger.warning("refused %s %s: %s", scope["method"], scope["path"], problem)
        refusal = JSONResponse({"error": "unauthorized", "message": problem}, status_code=401)
        await refusal(scope, receive, send)
