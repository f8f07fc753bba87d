"""The `store` fixture: every index test runs against each store adapter in `STORES`."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from appsync.index.base import Store
from appsync.index.factory import open_index

T = TypeVar("T")

# Small vectors keep store tests independent of the model.
DIMENSIONS = 4
STORES = ["sqlite", "postgres"]


@dataclass
class StoreCase:
    """An open index and the event loop its calls run on."""

    name: str
    index: Store
    runner: asyncio.Runner

    def run(self, call: Coroutine[Any, Any, T]) -> T:
        """Run one index call to completion."""
        return self.runner.run(call)


def store_url(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a new, empty index of the named store (PostgreSQL: a new database)."""
    if name == "sqlite":
        return f"sqlite:///{tmp_path / 'index.sqlite3'}"
    if name == "postgres":
        url: str = request.getfixturevalue("postgres_database")
        return url
    raise ValueError(f"unknown store {name!r}")


async def open_store(url: str, dimensions: int = DIMENSIONS) -> Store:
    """Open the index at `url`."""
    return await open_index(url, dimensions=dimensions)


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
