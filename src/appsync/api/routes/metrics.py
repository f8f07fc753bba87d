"""`GET /metrics`: this process's metrics in the Prometheus text format (`appsync.metrics`)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from appsync.api.deps import MetricsDep
from appsync.metrics import CONTENT_TYPE

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response, include_in_schema=False)
async def metrics(metrics: MetricsDep) -> Response:
    """This replica's counters, histograms and gauges, for Prometheus to scrape."""
    return Response(metrics.render(), media_type=CONTENT_TYPE)
