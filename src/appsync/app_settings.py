"""The app settings that travel in `openapi/app.sync` events (the original's `getAppSettings`).

They hold no secret. They are re-read on every POST, so an edit of the `.env` file takes effect
without a restart; the environment itself is fixed for a process's lifetime.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import pydantic
from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

OPENAPI_URLS_VARIABLE = "APPSYNC_OPENAPI_URLS"


def check_spec_url(url: str) -> str:
    """Accept an absolute http(s) URL with a host; raise `ValueError` saying why not."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise ValueError(f"{url!r} is not an http(s) URL")
    if not parts.hostname:
        raise ValueError(f"{url!r} has no host")
    return url


SpecUrl = Annotated[str, pydantic.AfterValidator(check_spec_url)]


class AppSettings(BaseModel):
    """What a sync needs to know about the app: the OpenAPI documents that describe it."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    openapi_urls: list[SpecUrl] = Field(alias="openapiUrls", min_length=1)

    def to_event(self) -> dict[str, list[str]]:
        """The JSON form carried in the event."""
        return {"openapiUrls": list(self.openapi_urls)}


class _AppSettingsEnv(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", env_file_encoding="utf-8")

    openapi_urls: list[SpecUrl] | None = Field(
        default=None, validation_alias="APPSYNC_OPENAPI_URLS", min_length=1
    )


class AppSettingsError(ValueError):
    """The app settings source holds something unusable; the message names the variable."""


class AppSettingsSource:
    """Reads the app settings from the environment and an env file, re-reading on change."""

    def __init__(self, env_file: Path, default_urls: list[str]) -> None:
        self._env_file = env_file
        self._default = AppSettings(openapi_urls=default_urls)
        self._lock = threading.Lock()
        self._cached: tuple[object, AppSettings] | None = None

    def _fingerprint(self) -> object:
        try:
            stat = self._env_file.stat()
        except OSError:
            file_key: tuple[int, ...] | None = None
        else:
            file_key = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        return (os.environ.get(OPENAPI_URLS_VARIABLE), file_key)

    def load(self) -> AppSettings:
        """Current app settings; raise `AppSettingsError` naming the variable when invalid."""
        fingerprint = self._fingerprint()
        with self._lock:
            if self._cached is not None and self._cached[0] == fingerprint:
                return self._cached[1]
            try:
                env = _AppSettingsEnv(_env_file=self._env_file)
            except pydantic.ValidationError as exc:
                reasons = "; ".join(
                    str(error["msg"]).removeprefix("Value error, ") for error in exc.errors()
                )
                raise AppSettingsError(
                    f"{OPENAPI_URLS_VARIABLE} (environment or {self._env_file}) must be a JSON "
                    f"list of http(s) URLs, e.g. '[\"https://api.example.com/openapi.json\"]': "
                    f"{reasons}"
                ) from None
            settings = (
                self._default
                if env.openapi_urls is None
                else AppSettings(openapi_urls=env.openapi_urls)
            )
            self._cached = (fingerprint, settings)
            return settings
