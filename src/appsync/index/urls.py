"""Index URLs (`APPSYNC_INDEX_URL`): the default, and a URL's password kept out of logs.

A leaf: settings, the store factory and the adapters use it; it imports nothing of appsync.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

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
