"""JSON error bodies a person can act on: `{"error": <code>, "message": <what to do>}`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import apsw
import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from pydantic import BaseModel

from appsync.auth import AuthError
from appsync.messaging.sender import EventNotSentError
from appsync.search.searcher import OverloadedError, QueryError
from appsync.settings.app_settings import AppSettingsError
from appsync.sync.status import InngestUnavailableError, SyncNotFoundError

logger = logging.getLogger(__name__)
# What the index's stores raise when their database is down or busy: the search can be retried.
_STORE_UNAVAILABLE = (psycopg.OperationalError, PoolTimeout, apsw.BusyError)


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: str
    message: str


@dataclass(frozen=True, slots=True)
class ErrorAnswer:
    """An error as HTTP: status, `{"error", "message"}` body, and headers."""

    status: int
    error: str
    message: str
    headers: Mapping[str, str] = field(default_factory=dict)

    def response(self) -> JSONResponse:
        """The JSON response."""
        body = ErrorBody(error=self.error, message=self.message).model_dump()
        return JSONResponse(body, status_code=self.status, headers=dict(self.headers))


def _describe(exc: Exception) -> ErrorAnswer:
    """The answer to one of the domain's errors (its type was checked by the registration)."""
    match exc:
        case AuthError():
            answer = ErrorAnswer(401, "unauthorized", str(exc), {"WWW-Authenticate": "Bearer"})
        case EventNotSentError():
            answer = ErrorAnswer(exc.status, "event_not_sent", exc.message)
        case InngestUnavailableError():
            answer = ErrorAnswer(exc.status, "inngest_unavailable", exc.message)
        case AppSettingsError():
            answer = ErrorAnswer(500, "invalid_app_settings", str(exc))
        case SyncNotFoundError():
            answer = ErrorAnswer(404, "not_found", f"no sync {exc} for this user")
        case QueryError():
            answer = ErrorAnswer(422, "invalid_query", str(exc))
        case OverloadedError():
            answer = ErrorAnswer(503, "overloaded", str(exc), {"Retry-After": "1"})
        case _:
            message = f"the operations index is unavailable ({type(exc).__name__}); try again"
            answer = ErrorAnswer(503, "index_unavailable", message, {"Retry-After": "5"})
    return answer


_DOMAIN_ERRORS: tuple[type[Exception], ...] = (
    AuthError,
    EventNotSentError,
    InngestUnavailableError,
    AppSettingsError,
    SyncNotFoundError,
    QueryError,
    OverloadedError,
    *_STORE_UNAVAILABLE,
)


def install_error_handlers(app: FastAPI) -> None:
    """Map every error to a JSON answer: the domain's by type, anything else as a JSON 500."""

    async def on_domain_error(request: Request, exc: Exception) -> JSONResponse:
        answer = _describe(exc)
        if answer.error == "index_unavailable":
            logger.warning(
                "the operations index failed %s %s: %r", request.method, request.url, exc
            )
        return answer.response()

    async def on_anything_else(request: Request, exc: Exception) -> JSONResponse:
        logger.error("unexpected error in %s %s", request.method, request.url, exc_info=exc)
        message = f"unexpected {type(exc).__name__}; the service log has the details"
        return ErrorAnswer(500, "internal_error", message).response()

    for error_type in _DOMAIN_ERRORS:
        app.add_exception_handler(error_type, on_domain_error)
    app.add_exception_handler(Exception, on_anything_else)
