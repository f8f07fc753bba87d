"""`GET /api/operations/{uid}`: the card of one of the signed-in user's operations."""

from __future__ import annotations

from fastapi import APIRouter

from appsync.api.deps import CatalogDep, CurrentUser
from appsync.api.errors import ErrorBody
from appsync.openapi import OperationCard

router = APIRouter(prefix="/api/operations", tags=["search"])


@router.get(
    "/{uid:path}",
    responses={
        401: {"model": ErrorBody, "description": "Missing or invalid credentials."},
        404: {"model": ErrorBody, "description": "No such operation for the signed-in user."},
    },
)
async def describe_operation(uid: str, user: CurrentUser, catalog: CatalogDep) -> OperationCard:
    """How to call one operation (a search hit's uid): URL, parameters, body, responses."""
    return await catalog.card(user.id, uid)
