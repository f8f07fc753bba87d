"""`GET /health` (and `HEAD`): the process is up (what healthchecks and load balancers call)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    """Answer 200 while the process serves requests."""
    return {"status": "ok"}


# Load balancers check with HEAD; one route for both would document the operation twice.
router.add_api_route("/health", health, methods=["HEAD"], include_in_schema=False)
