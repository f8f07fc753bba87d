"""`POST /api/openapi/sync` (and the original's `/api/route`): ask Inngest to sync the specs."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from appsync.api.deps import AppSettingsDep, CurrentUser, EventSenderDep, SyncStatusesDep
from appsync.api.errors import ErrorBody
from appsync.events import app_sync_event
from appsync.sync.status import SyncStatus

router = APIRouter(prefix="/api", tags=["sync"])


class SyncAccepted(BaseModel):
    """The event was accepted by the Inngest server."""

    success: Literal["true"] = "true"
    ids: list[str]


_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorBody, "description": "Missing or invalid credentials; no event sent."},
    500: {"model": ErrorBody, "description": "The app settings are invalid; no event sent."},
    502: {"model": ErrorBody, "description": "The Inngest server refused or was unreachable."},
    504: {"model": ErrorBody, "description": "The Inngest server did not answer in time."},
}


@router.post("/openapi/sync", responses=_ERRORS)
async def sync_openapi(
    app_settings: AppSettingsDep, user: CurrentUser, sender: EventSenderDep
) -> SyncAccepted:
    """Send one `openapi/app.sync` event for the signed-in user; the request body is not used."""
    ids = await sender.send(app_sync_event(app_settings, user))
    return SyncAccepted(ids=ids)


@router.get(
    "/openapi/sync/{sync_id}",
    responses={
        401: _ERRORS[401],
        404: {"model": ErrorBody, "description": "No such sync for the signed-in user."},
    },
    response_model_by_alias=True,
)
async def sync_status(sync_id: str, user: CurrentUser, statuses: SyncStatusesDep) -> SyncStatus:
    """Where the sync with this id (the POST's) stands: run status, specs so far, totals."""
    return await statuses.status(sync_id, user.id)


router.add_api_route(
    "/route",
    sync_openapi,
    methods=["POST"],
    responses=_ERRORS,
    summary="Sync Openapi (the original's path)",
    operation_id="sync_openapi_route_alias",
)
