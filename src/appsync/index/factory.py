"""Choose the index adapter from `APPSYNC_INDEX_URL`; what its stores raise when unavailable."""

from __future__ import annotations

from urllib.parse import urlsplit

import apsw
import psycopg
from psycopg_pool import PoolTimeout

from appsync.index.base import Store, StoreConfigError
from appsync.index.urls import describe

# What the stores raise when their database is down or busy: the call can be retried.
STORE_UNAVAILABLE: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    PoolTimeout,
    apsw.BusyError,
)


async def open_index(url: str, *, dimensions: int) -> Store:
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
