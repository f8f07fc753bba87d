"""Choose the index adapter from `APPSYNC_INDEX_URL`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from appsync.index.base import Store, StoreConfigError

DEFAULT_FILE_NAME = "index.sqlite3"


def default_index_url(data_dir: Path) -> str:
    """The default store: a SQLite file in the data directory."""
    return f"sqlite:///{data_dir / DEFAULT_FILE_NAME}"


def url_password(url: str) -> str | None:
    """The password a database URL holds, as `user:password@` or as a `password=` parameter."""
    parts = urlsplit(url)
    if parts.password:
        return parts.password
    found = [value for key, value in parse_qsl(parts.query) if key.lower() == "password"]
    return found[0] if found and found[0] else None


def describe(url: str) -> str:
    """The URL without its password, for logs and errors."""
    password = url_password(url)
    return url if password is None else url.replace(password, "***")


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
