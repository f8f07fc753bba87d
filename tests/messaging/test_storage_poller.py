"""The storage poller: event ids read as send times, and confirmation despite a skewed clock."""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
import pytest

from appsync.messaging.storage_poller import CLOCK_MARGIN, StoragePoller, ulid_time
from harness.inngest_api import InngestApi
from harness.inngest_server import InngestServer

EVENT = "appsync-test/poller"
T = TypeVar("T")


def test_a_ulid_gives_the_time_it_was_made() -> None:
    """The first ten characters of a ULID are its millisecond Unix time (ulid's README)."""
    assert 1469918176.385 == ulid_time("01ARYZ6S41TSV4RRFFQ69G5FAV")


@pytest.mark.parametrize("text", ["", "01ARZ3NDE", "01ARZ3NDEU-SV4RRFFQ69G5FAV"])
def test_a_string_that_is_no_ulid_is_refused(text: str) -> None:
    """Too short or outside Crockford's alphabet: a ValueError naming the text."""
    with pytest.raises(ValueError, match="is not a ULID"):
        ulid_time(text)


def _send_stamped(server_url: str, millis: int) -> str:
    """Send an event whose id the server seeds with `millis`, as the SDK seeds it with its clock."""
    seed = f"{millis},{base64.b64encode(secrets.token_bytes(10)).decode()}"
    response = httpx.post(
        f"{server_url}/e/test",
        json={"name": EVENT, "data": {}},
        headers={"x-inngest-event-id-seed": seed},
        trust_env=False,
    )
    response.raise_for_status()
    (event_id,) = response.json()["ids"]
    return str(event_id)


@pytest.fixture
def stored_pair(dev_server: InngestServer, dev_api: InngestApi) -> tuple[str, str]:
    """Two stored events: one sent now, one whose id is stamped a minute ahead of the server."""
    (now_id,) = dev_api.send({"name": EVENT, "data": {}}, key="test")
    ahead_id = _send_stamped(dev_server.url, round((ulid_time(now_id) + 60) * 1000))
    assert round(ulid_time(now_id) + 60, 3) == ulid_time(ahead_id)
    dev_api.event(now_id)
    dev_api.event(ahead_id)  # both stored: only the poller's filter can hide one now
    return now_id, ahead_id


async def _with_poller(server_url: str, use: Callable[[StoragePoller], Awaitable[T]]) -> T:
    poller = StoragePoller(server_url, EVENT)
    try:
        return await use(poller)
    finally:
        await poller.aclose()


@pytest.mark.e2e
def test_recent_reads_skip_events_received_before_the_oldest_was_sent(
    dev_server: InngestServer, stored_pair: tuple[str, str]
) -> None:
    """Recent-only reads start at the oldest id's time less the margin; full reads do not."""
    now_id, ahead_id = stored_pair
    assert 60 > CLOCK_MARGIN

    async def read(poller: StoragePoller) -> list[set[str]]:
        return [
            await poller.stored_since(now_id, 2, recent_only=True),
            await poller.stored_since(ahead_id, 1, recent_only=True),
            await poller.stored_since(ahead_id, 1, recent_only=False),
        ]

    from_now, from_ahead, everything = asyncio.run(_with_poller(dev_server.url, read))
    assert {now_id, ahead_id} <= from_now
    assert ahead_id not in from_ahead
    assert {now_id, ahead_id} <= everything


@pytest.mark.e2e
def test_an_event_stamped_by_a_clock_running_ahead_is_still_confirmed(
    dev_server: InngestServer, stored_pair: tuple[str, str]
) -> None:
    """An id a minute ahead escapes the recent-only reads; full reads after SETTLE confirm it."""
    _, ahead_id = stored_pair

    async def confirm(poller: StoragePoller) -> None:
        await asyncio.wait_for(poller.wait(ahead_id), timeout=10)

    asyncio.run(_with_poller(dev_server.url, confirm))
