"""The app settings that travel in `openapi/app.sync` events (the original's `getAppSettings`).

They hold no secret. They are re-read on every POST, so an edit of the `.env` file takes effect
without a restart; the environment itself is fixed for a process's lifetime.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from appsync.settings.envfile import EnvFileError, read_env_file

OPENAPI_URLS_VARIABLE = "APPSYNC_OPENAPI_URLS"

logger = logging.getLogger(__name__)


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


class AppSettingsError(ValueError):
    """The app settings source holds something unusable; the message names the variable."""


class AppSettingsSource:
    """Reads the app settings from the environment and an env file, re-reading on change.

    A broken env file is an error for `load()` (the POST answers 500 naming the file and line),
    while `last_valid()` keeps the last settings that loaded (what the function builds its host
    allow-list from, so that a run accepted earlier never fails on a later edit).
    """

    def __init__(self, env_file: Path, default_urls: list[str]) -> None:
        self._env_file = env_file
        self._default = AppSettings(openapi_urls=default_urls)
        self._lock = threading.Lock()
        self._cached: tuple[object, AppSettings | str] | None = None
        self._last_valid: AppSettings | None = None
        self._reported: object = None

    def _fingerprint(self) -> object:
        try:
            stat = self._env_file.stat()
        except OSError:
            file_key: tuple[int, ...] | None = None
        else:
            file_key = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        return (_environment_value(), file_key)

    def _current(self) -> tuple[object, AppSettings | str]:
        fingerprint = self._fingerprint()
        with self._lock:
            if self._cached is None or self._cached[0] != fingerprint:
                result = self._read()
                self._cached = (fingerprint, result)
                if isinstance(result, AppSettings):
                    self._last_valid = result
            return self._cached

    def load(self) -> AppSettings:
        """Current app settings; raise `AppSettingsError` naming the variable or line if invalid."""
        _, result = self._current()
        if isinstance(result, str):
            raise AppSettingsError(result)
        return result

    def last_valid(self) -> AppSettings:
        """The current app settings, or while they are invalid the last valid ones (logged once).

        Raises `AppSettingsError` only when they were never valid.
        """
        fingerprint, result = self._current()
        if isinstance(result, AppSettings):
            return result
        if self._last_valid is None:
            raise AppSettingsError(result)
        if self._reported != fingerprint:
            self._reported = fingerprint
            logger.error(
                "%s; until it is fixed, syncs already accepted keep the last valid spec URLs "
                "%s for their allowed hosts (new POSTs are refused)",
                result,
                self._last_valid.openapi_urls,
            )
        return self._last_valid

    def _read(self) -> AppSettings | str:
        """The settings, or the message saying why they are invalid."""
        try:
            file_values = read_env_file(self._env_file, watched=(OPENAPI_URLS_VARIABLE,))
        except EnvFileError as exc:
            return f"invalid app settings file {exc}"
        value, where = _environment_value(), "environment"
        if value is None:
            value = next(
                (v for k, v in reversed(file_values.items()) if k.upper() == OPENAPI_URLS_VARIABLE),
                None,
            )
            where = str(self._env_file)
        if value is None:
            return self._default
        try:
            return AppSettings.model_validate({"openapi_urls": json.loads(value)})
        except ValueError as exc:
            if isinstance(exc, pydantic.ValidationError):
                reasons = "; ".join(
                    str(error["msg"]).removeprefix("Value error, ") for error in exc.errors()
                )
            else:
                reasons = f"not JSON ({exc})"
            return (
                f"{OPENAPI_URLS_VARIABLE} ({where}) must be a JSON list of http(s) URLs, "
                f"e.g. '[\"https://api.example.com/openapi.json\"]': {reasons}"
            )


def _environment_value() -> str | None:
    """APPSYNC_OPENAPI_URLS from the process environment, its name in any case."""
    value = os.environ.get(OPENAPI_URLS_VARIABLE)
    if value is not None:
        return value
    return next((v for k, v in os.environ.items() if k.upper() == OPENAPI_URLS_VARIABLE), None)
