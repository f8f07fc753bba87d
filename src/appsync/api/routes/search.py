"""`GET /api/operations/search`: the signed-in user's synced operations that answer a query."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from appsync.api.deps import CurrentUser, SearcherDep
from appsync.api.errors import ErrorBody
from appsync.index.base import DEFAULT_K, MAX_K
from appsync.search.hits import OperationHit, SearchResults
from appsync.search.searcher import QueryError

router = APIRouter(prefix="/api/operations", tags=["search"])


_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorBody, "description": "Missing or invalid credentials."},
    422: {"model": ErrorBody, "description": "q empty or too long, or k outside 1..100."},
}


@router.get("/search", responses=_ERRORS, response_model_by_alias=True)
async def search_operations(
    user: CurrentUser,
    searcher: SearcherDep,
    q: Annotated[str, Query(description="What the operation should do, in words.")] = "",
    k: Annotated[str, Query(description="How many results, 1..100 (default 10).")] = "",
    service: Annotated[str | None, Query(description="Only this service (spec title).")] = None,
    method: Annotated[str | None, Query(description="Only this HTTP method.")] = None,
    tag: Annotated[str | None, Query(description="Only operations with this tag.")] = None,
) -> SearchResults:
    """Hybrid (full-text and vector) search of the operations synced for the signed-in user."""
    count = DEFAULT_K
    if k.strip():
        try:
            count = int(k)
        except ValueError:
            raise QueryError(f"k must be an integer within 1..{MAX_K}, got {k!r}") from None
    hits = await searcher.search(user.id, q, k=count, service=service, method=method, tag=tag)
    return SearchResults(results=[OperationHit.of(hit) for hit in hits])
