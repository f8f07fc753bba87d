"""JSON error bodies a person can act on: `{"error": <code>, "message": <what to do>}`."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from appsync.auth import AuthError
from appsync.messaging.sender import EventNotSentError
from appsync.search.searcher import QueryError
from appsync.settings.app_settings import AppSettingsError
from appsync.sync.status import SyncNotFoundError


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: str
    message: str


def _answer(
    status: int, error: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        ErrorBody(error=error, message=message).model_dump(), status_code=status, headers=headers
    )


def install_error_handlers(app: FastAPI) -> None:
    """Map the domain's errors to HTTP answers."""

    async def on_auth(_: Request, exc: Exception) -> JSONResponse:
        return _answer(401, "unauthorized", str(exc), {"WWW-Authenticate": "Bearer"})

    async def on_not_sent(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, EventNotSentError)  # noqa: S101 - registered for this type only
        return _answer(exc.status, "event_not_sent", exc.message)

    async def on_app_settings(_: Request, exc: Exception) -> JSONResponse:
        return _answer(500, "invalid_app_settings", str(exc))

    async def on_no_sync(_: Request, exc: Exception) -> JSONResponse:
        return _answer(404, "not_found", f"no sync {exc} for this user")

    async def on_query(_: Request, exc: Exception) -> JSONResponse:
        return _answer(422, "invalid_query", str(exc))

    app.add_exception_handler(AuthError, on_auth)
    app.add_exception_handler(SyncNotFoundError, on_no_sync)
    app.add_exception_handler(QueryError, on_query)
    app.add_exception_handler(EventNotSentError, on_not_sent)
    app.add_exception_handler(AppSettingsError, on_app_settings)
