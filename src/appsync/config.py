"""Service configuration: how this process runs, read from the environment and `.env`.

The app settings that travel inside events live in `appsync.app_settings`; nothing here is ever
put into an event. Names follow the Inngest SDK's own variables where they overlap
(`INNGEST_DEV`, `INNGEST_BASE_URL`, `INNGEST_EVENT_KEY`, `INNGEST_SIGNING_KEY`).
"""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated, Any, Self
from urllib.parse import urlsplit

import pydantic
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from appsync.events import User

_FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})


class Mode(enum.StrEnum):
    """Which kind of Inngest server the service talks to."""

    DEV = "dev"
    PRODUCTION = "production"


class SettingsError(ValueError):
    """Settings that cannot start the service; the message names every bad variable."""


def _http_url(value: str, variable: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"{variable} must be an absolute http(s) URL, got {value!r}")
    return value.rstrip("/")


def _split_hosts(value: object) -> object:
    """Accept a JSON list or a comma-separated string for host lists."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class ServiceSettings(BaseSettings):
    """Configuration of one appsync process; built by the composition root, never at import."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    # Inngest: the SDK's own variable names.
    inngest_dev: str | None = Field(
        default=None,
        validation_alias="INNGEST_DEV",
        description="Dev mode when truthy ('1', 'true') or a dev server URL; else production mode.",
    )
    inngest_base_url: str | None = Field(default=None, validation_alias="INNGEST_BASE_URL")
    inngest_event_key: SecretStr | None = Field(default=None, validation_alias="INNGEST_EVENT_KEY")
    inngest_signing_key: SecretStr | None = Field(
        default=None, validation_alias="INNGEST_SIGNING_KEY"
    )
    app_id: str = Field(default="appsync", validation_alias="APPSYNC_APP_ID", min_length=1)

    # HTTP service.
    host: str = Field(default="127.0.0.1", validation_alias="APPSYNC_HOST")
    port: int = Field(default=8000, validation_alias="APPSYNC_PORT", ge=1, le=65535)
    public_url: str | None = Field(
        default=None,
        validation_alias="APPSYNC_PUBLIC_URL",
        description="This service's base URL as its own function can reach it.",
    )
    send_concurrency: int = Field(
        default=8,
        validation_alias="APPSYNC_SEND_CONCURRENCY",
        ge=1,
        le=256,
        description="Event sends in flight at once per process; more POSTs wait their turn.",
    )
    confirm_stored: bool = Field(
        default=True,
        validation_alias="APPSYNC_CONFIRM_STORED",
        description="Answer success only once the Inngest server lists the event as stored.",
    )
    send_timeout: float = Field(default=5.0, validation_alias="APPSYNC_SEND_TIMEOUT", gt=0, le=120)

    # The sync function.
    fetch_timeout: float = Field(
        default=30.0, validation_alias="APPSYNC_FETCH_TIMEOUT", gt=0, le=600
    )
    max_spec_bytes: int = Field(
        default=32 * 1024 * 1024, validation_alias="APPSYNC_MAX_SPEC_BYTES", gt=0
    )
    max_redirects: int = Field(default=5, validation_alias="APPSYNC_MAX_REDIRECTS", ge=0, le=20)
    allowed_spec_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias="APPSYNC_ALLOWED_SPEC_HOSTS",
        description="Hosts the function may fetch specs from, besides the configured URLs' hosts.",
    )
    retries: int = Field(default=4, validation_alias="APPSYNC_RETRIES", ge=0, le=20)
    retry_delay: float = Field(default=2.0, validation_alias="APPSYNC_RETRY_DELAY", ge=0, le=3600)

    # Who may trigger a sync.
    jwt_secret: SecretStr | None = Field(default=None, validation_alias="APPSYNC_JWT_SECRET")
    nextauth_secret: SecretStr | None = Field(default=None, validation_alias="NEXTAUTH_SECRET")
    local_user: Annotated[User, NoDecode] = Field(
        default=User(id="local-dev", email="dev@localhost", name="Local Developer"),
        validation_alias="APPSYNC_LOCAL_USER",
        description='The user anonymous dev-mode POSTs run as, e.g. {"id": "me", "email": ...}.',
    )

    # The operations index.
    data_dir: Path = Field(
        default=Path("data"),
        validation_alias="APPSYNC_DATA_DIR",
        description="Where the service keeps its files (the index's SQLite file by default).",
    )
    index_url: str | None = Field(
        default=None,
        validation_alias="APPSYNC_INDEX_URL",
        description="The index store: sqlite:///<path>; default <APPSYNC_DATA_DIR>/index.sqlite3.",
    )

    # Where the app settings are read from on every POST.
    env_file_path: Path = Field(default=Path(".env"), validation_alias="APPSYNC_ENV_FILE")

    @pydantic.field_validator("allowed_spec_hosts", mode="before")
    @classmethod
    def _parse_hosts(cls, value: object) -> object:
        return _split_hosts(value)

    @pydantic.field_validator("allowed_spec_hosts")
    @classmethod
    def _lower_hosts(cls, value: list[str]) -> list[str]:
        return [host.lower() for host in value]

    @pydantic.field_validator("local_user", mode="before")
    @classmethod
    def _parse_user(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise ValueError('must be a JSON object such as {"id": "me"}') from None
        return value

    @pydantic.field_validator("inngest_dev")
    @classmethod
    def _check_dev_url(cls, value: str | None) -> str | None:
        if value is not None and "://" in value:
            _http_url(value.strip(), "INNGEST_DEV")
        return value

    @pydantic.field_validator("inngest_base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value, "INNGEST_BASE_URL")

    @pydantic.field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value, "APPSYNC_PUBLIC_URL")

    @pydantic.field_validator("index_url")
    @classmethod
    def _check_index_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        scheme = urlsplit(value).scheme.lower()
        if scheme not in {"sqlite", "postgresql", "postgres"}:
            raise ValueError(
                "must be sqlite:///<path> (relative) or sqlite:////<absolute path>, or a "
                "postgresql:// URL"
            )
        return value.strip()

    @property
    def resolved_index_url(self) -> str:
        """`APPSYNC_INDEX_URL`, or the SQLite file under `APPSYNC_DATA_DIR`."""
        if self.index_url is not None:
            return self.index_url
        return f"sqlite:///{self.data_dir / 'index.sqlite3'}"

    @pydantic.model_validator(mode="after")
    def _production_needs_secrets(self) -> Self:
        problem = _production_problem(self)
        if problem:
            raise ValueError(problem)
        return self

    @property
    def mode(self) -> Mode:
        """Dev mode when `INNGEST_DEV` is truthy or a URL, as the SDK reads it."""
        return _mode(self.inngest_dev)

    @property
    def inngest_url(self) -> str | None:
        """The Inngest server's base URL: `INNGEST_BASE_URL`, else a URL given in `INNGEST_DEV`."""
        if self.inngest_base_url is not None:
            return self.inngest_base_url
        if self.mode is Mode.DEV and self.inngest_dev is not None:
            dev = self.inngest_dev.strip()
            if "://" in dev:
                return _http_url(dev, "INNGEST_DEV")
        return None

    @property
    def auth_enabled(self) -> bool:
        """Whether any authentication secret is configured (and so enforced)."""
        return any(map(reveal, (self.jwt_secret, self.nextauth_secret)))

    @property
    def self_url(self) -> str:
        """Base URL at which this service reaches itself."""
        if self.public_url is not None:
            return self.public_url
        host = "127.0.0.1" if self.host in {"0.0.0.0", "::", ""} else self.host  # noqa: S104 - compares, binds nothing
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def secrets(self) -> list[str]:
        """Every configured secret value, for scrubbing logs and error bodies."""
        values = (
            self.inngest_event_key,
            self.inngest_signing_key,
            self.jwt_secret,
            self.nextauth_secret,
        )
        index_password = urlsplit(self.index_url).password if self.index_url else None
        return [value for value in [*map(reveal, values), index_password] if value]


def reveal(secret: SecretStr | None) -> str | None:
    """A secret's value, or None when it is unset or empty."""
    return None if secret is None else secret.get_secret_value() or None


def _mode(inngest_dev: str | None) -> Mode:
    if inngest_dev is None or inngest_dev.strip().lower() in _FALSE_WORDS:
        return Mode.PRODUCTION
    return Mode.DEV


class _ModeAndSecrets(BaseSettings):
    """Only the settings the production check reads; all optional text, so reading cannot fail."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    inngest_dev: str | None = Field(default=None, validation_alias="INNGEST_DEV")
    inngest_signing_key: SecretStr | None = Field(None, validation_alias="INNGEST_SIGNING_KEY")
    inngest_event_key: SecretStr | None = Field(None, validation_alias="INNGEST_EVENT_KEY")
    jwt_secret: SecretStr | None = Field(default=None, validation_alias="APPSYNC_JWT_SECRET")
    nextauth_secret: SecretStr | None = Field(default=None, validation_alias="NEXTAUTH_SECRET")


def _production_problem(settings: ServiceSettings | _ModeAndSecrets) -> str | None:
    """What production mode lacks, naming every missing variable; None when nothing."""
    if _mode(settings.inngest_dev) is Mode.DEV:
        return None

    missing = [
        name
        for name, value in (
            ("INNGEST_SIGNING_KEY", settings.inngest_signing_key),
            ("INNGEST_EVENT_KEY", settings.inngest_event_key),
        )
        if reveal(value) is None
    ]
    if not any(map(reveal, (settings.jwt_secret, settings.nextauth_secret))):
        missing.append("APPSYNC_JWT_SECRET or NEXTAUTH_SECRET")
    if not missing:
        return None
    return (
        "production mode (INNGEST_DEV unset) needs "
        + ", ".join(missing)
        + "; set them, or set INNGEST_DEV=1 to run against a dev server"
    )


def load_service_settings(**overrides: Any) -> ServiceSettings:  # noqa: ANN401 - field values
    """Build the settings from the environment, `.env` and overrides; raise `SettingsError`."""
    try:
        return ServiceSettings(**overrides)
    except pydantic.ValidationError as exc:
        message = describe_validation_error(exc, ServiceSettings)
    # A bad value stops validation before the production check: name those settings too.
    keys = set(_ModeAndSecrets.model_fields) | {"_env_file"}
    try:
        lenient = _ModeAndSecrets(**{k: v for k, v in overrides.items() if k in keys})
    except pydantic.ValidationError:
        lenient = None
    problem = _production_problem(lenient) if lenient is not None else None
    if problem and problem not in message:
        message += f"\n  {problem}"
    raise SettingsError(message)


def describe_validation_error(exc: pydantic.ValidationError, model: type[BaseSettings]) -> str:
    """Turn a validation error into lines that name each variable and what is wrong with it."""
    aliases = {
        name: field.validation_alias
        for name, field in model.model_fields.items()
        if isinstance(field.validation_alias, str)
    }
    lines = []
    for error in exc.errors(include_url=False):
        loc = [str(part) for part in error["loc"]]
        head = loc[0] if loc else ""
        variable = aliases.get(head, head.upper()) if head else ""
        where = ".".join([variable, *loc[1:]]) if variable else "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        shown = error.get("input")
        if variable and not isinstance(shown, dict) and head not in _SECRET_FIELDS:
            lines.append(f"{where}: {message} (got {shown!r})")
        else:
            lines.append(f"{where}: {message}" if variable else message)
    return "invalid settings:\n  " + "\n  ".join(lines)


_SECRET_FIELDS = frozenset(
    {"inngest_event_key", "inngest_signing_key", "jwt_secret", "nextauth_secret", "index_url"}
    | {"INNGEST_EVENT_KEY", "INNGEST_SIGNING_KEY", "APPSYNC_JWT_SECRET", "NEXTAUTH_SECRET"}
    | {"APPSYNC_INDEX_URL"}
)
