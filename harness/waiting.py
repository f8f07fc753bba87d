"""Waiting for a condition, bounded in time: how tests synchronise with servers (no bare sleeps)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.05
) -> T:
    """The first truthy value of `condition()`; `AssertionError` naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not the case after {timeout:g} s (last: {value!r})")
        time.sleep(interval)


async def wait_for(
    condition: Callable[[], Awaitable[T | None]], *, within: float, what: str, interval: float = 0.2
) -> T:
    """`wait_until` for a coroutine condition (an async client's call), on the running loop."""
    deadline = time.monotonic() + within
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not the case after {within:g} s (last: {value!r})")
        await asyncio.sleep(interval)
