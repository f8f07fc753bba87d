"""This host's clock against the Inngest server's, checked once at start.

Events carry `ts` from the sending app's clock (the original's wire shape), and the server holds
back the runs of events stamped in the future: an app whose clock runs 30 s ahead makes every sync
wait 30 s. Syncs are ordered by their run's id, which the server makes with its own clock, so a
clock running behind harms nothing but the events' `ts`. The start logs a warning when the two
clocks disagree by more than `MAX_SKEW_S`.
"""

from __future__ import annotations

import logging
import time
from email.utils import parsedate_to_datetime

import httpx

MAX_SKEW_S = 5.0
CHECK_TIMEOUT_S = 2.0  # the start waits at most this long for the server's answer
logger = logging.getLogger(__name__)


async def clock_offset(api_origin: str) -> float | None:
    """Seconds this host's clock is ahead of the server's (negative: behind), or None if unknown.

    Read from the `Date` header of the server's `/health` (whole seconds, so within about a
    second); None when the server does not answer or sends no usable date.
    """
    async with httpx.AsyncClient(
        base_url=api_origin, timeout=CHECK_TIMEOUT_S, trust_env=False
    ) as http:
        try:
            before = time.time()
            response = await http.get("/health")
            after = time.time()
        except httpx.HTTPError:
            return None
    date = response.headers.get("date")
    try:
        server = parsedate_to_datetime(date).timestamp() if date else None
    except (TypeError, ValueError):
        server = None
    return None if server is None else (before + after) / 2 - server


async def warn_if_skewed(api_origin: str) -> float | None:
    """Check the clocks once; log a warning saying what it costs when they disagree."""
    offset = await clock_offset(api_origin)
    if offset is not None and abs(offset) > MAX_SKEW_S:
        direction = "ahead of" if offset > 0 else "behind"
        cost = (
            "the server holds back the runs of the events this app sends until their time "
            f"comes, so every sync starts about {offset:.0f} s late"
            if offset > 0
            else "the events this app sends carry a `ts` that far in the past (syncs are ordered "
            "by the server's run ids, so nothing is lost)"
        )
        logger.warning(
            "this host's clock is %.0f s %s the Inngest server's at %s: %s. Synchronise the "
            "clocks (NTP).",
            abs(offset),
            direction,
            api_origin,
            cost,
        )
    return offset
