"""`GET /health`: the process is up (what container healthchecks call)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    """Answer 200 while the process serves requests."""
    return {"status": "ok"}
