"""Choose the index adapter from `APPSYNC_INDEX_URL`."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from appsync.index.base import (
    Hit,
    IndexStats,
    Known,
    OperationIndex,
    SearchQuery,
    StoreConfigError,
    UpsertBatch,
    UpsertResult,
)

DEFAULT_FILE_NAME = "index.sqlite3"


def default_index_url(data_dir: Path) -> str:
    """The default store: a SQLite file in the data directory."""
    return f"sqlite:///{data_dir / DEFAULT_FILE_NAME}"


def describe(url: str) -> str:
    """The URL without a password, for logs and errors."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


async def open_index(url: str, *, dimensions: int) -> OperationIndex:
    """Open the store that `url` names: `sqlite:///<path>` or `postgresql://…`."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "sqlite":
        from appsync.index.sqlite import SqliteIndex, sqlite_path  # noqa: PLC0415 - per store

        return await SqliteIndex.open(sqlite_path(url), dimensions=dimensions)
    if scheme in {"postgresql", "postgres"}:
        from appsync.index.postgres import PostgresIndex  # noqa: PLC0415 - per store

        return await PostgresIndex.open(url, dimensions=dimensions)
    raise StoreConfigError(
        f"APPSYNC_INDEX_URL {describe(url)!r}: unknown store; use sqlite:///<path> "
        "(the default, under APPSYNC_DATA_DIR) or postgresql://user:password@host/db"
    )


class IndexHandle:
    """The process's index: opened once (at app start, or on first use), closed at stop.

    The composition root builds it before any event loop runs; the store opens on the app's loop.
    """

    def __init__(self, url: str, *, dimensions: int) -> None:
        self.url = url
        self.dimensions = dimensions
        self._index: OperationIndex | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> OperationIndex:
        """The open store (opening it the first time)."""
        if self._index is None:
            async with self._lock:
                if self._index is None:
                    self._index = await open_index(self.url, dimensions=self.dimensions)
        return self._index

    async def known(
        self, user_id: str, source_url: str, sync_id: str, model_id: str, uids: Sequence[str]
    ) -> Known:
        """See `OperationIndex.known`."""
        return await (await self.open()).known(user_id, source_url, sync_id, model_id, uids)

    async def upsert(self, batch: UpsertBatch) -> UpsertResult:
        """See `OperationIndex.upsert`."""
        return await (await self.open()).upsert(batch)

    async def delete(self, user_id: str, *, source_url: str | None = None) -> int:
        """See `OperationIndex.delete`."""
        return await (await self.open()).delete(user_id, source_url=source_url)

    async def search(self, query: SearchQuery) -> list[Hit]:
        """See `OperationIndex.search`."""
        return await (await self.open()).search(query)

    async def stats(self, user_id: str | None = None) -> IndexStats:
        """See `OperationIndex.stats`."""
        return await (await self.open()).stats(user_id)

    async def close(self) -> None:
        """Close the store if it was opened; a later call opens it again."""
        async with self._lock:
            index, self._index = self._index, None
        if index is not None:
            await index.close()
