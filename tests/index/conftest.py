"""The `store` fixture: every index test runs against each store adapter in `STORES`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.stores import STORES, StoreCase, open_store, store_url


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreCase]:
    """An empty index of each store, closed after the test."""
    name: str = request.param
    url = store_url(name, request, tmp_path)
    with asyncio.Runner() as runner:
        index = runner.run(open_store(url))
        try:
            yield StoreCase(name=name, index=index, runner=runner)
        finally:
            runner.run(index.close())
