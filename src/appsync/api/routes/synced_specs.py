"""`GET /api/services`: the specs the signed-in user has synced (what the page lists)."""

from __future__ import annotations

from fastapi import APIRouter

from appsync.api.deps import CatalogDep, CurrentUser
from appsync.api.errors import ErrorBody
from appsync.search.catalog import SyncedSpecs

router = APIRouter(prefix="/api", tags=["search"])


@router.get(
    "/services",
    responses={401: {"model": ErrorBody, "description": "Missing or invalid credentials."}},
    response_model_by_alias=True,
)
async def list_services(user: CurrentUser, catalog: CatalogDep) -> SyncedSpecs:
    """The signed-in user's synced specs: service, version, URL, operations, last sync."""
    return await catalog.specs(user.id)
