"""The `store` fixture: every index test runs against each store adapter in `STORES`."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from appsync.index.base import OperationIndex
from appsync.index.factory import open_index

T = TypeVar("T")

# Small vectors keep store tests independent of the model.
DIMENSIONS = 4
STORES = ["sqlite"]


@dataclass
class StoreCase:
    """An open index and the event loop its calls run on."""

    name: str
    index: OperationIndex
    runner: asyncio.Runner

    def run(self, call: Coroutine[Any, Any, T]) -> T:
        """Run one index call to completion."""
        return self.runner.run(call)


async def open_store(name: str, tmp_path: Path, dimensions: int = DIMENSIONS) -> OperationIndex:
    """A new, empty index of the named store."""
    if name == "sqlite":
        return await open_index(f"sqlite:///{tmp_path / 'index.sqlite3'}", dimensions=dimensions)
    raise ValueError(f"unknown store {name!r}")


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreCase]:
    """An empty index of each store, closed after the test."""
    name: str = request.param
    with asyncio.Runner() as runner:
        index = runner.run(open_store(name, tmp_path))
        try:
            yield StoreCase(name=name, index=index, runner=runner)
        finally:
            runner.run(index.close())
