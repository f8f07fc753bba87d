"""Service configuration: how this process runs, read from the environment and `.env`.

The app settings that travel inside events live in `appsync.settings.app_settings`; nothing here
is ever put into an event. Names follow the Inngest SDK's own variables where they overlap
(`INNGEST_DEV`, `INNGEST_BASE_URL`, `INNGEST_EVENT_KEY`, `INNGEST_SIGNING_KEY`).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

import pydantic
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from appsync.index.urls import default_index_url, url_password
from appsync.settings.envfile import EnvFileError, read_env_file
from appsync.settings.errors import (
    SettingsError,
    custom_error,
    describe_validation_error,
    init_details,
)
from appsync.settings.keys import reveal, signing_key_bytes
from appsync.users import User

_FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})
_BOOLEAN_WORDS = {
    "1": "true",
    "yes": "true",
    "on": "true",
    "0": "false",
    "no": "false",
    "off": "false",
}


# Loopback Host values: a DNS-rebinding page never sends them (its Host is its own name).
LOOPBACK_HOSTS = ("127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]")
DEFAULT_REDELIVER_AFTER = 30.0  # seconds (APPSYNC_REDELIVER_AFTER unset, self-hosted production)


class Mode(enum.StrEnum):
    """Which kind of Inngest server the service talks to."""

    DEV = "dev"
    PRODUCTION = "production"


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
    confirm_stored: Literal["auto", "true", "false"] = Field(
        default="auto",
        validation_alias="APPSYNC_CONFIRM_STORED",
        description="Answer success only once the Inngest server lists the event as stored: "
        "'auto' (on unless the server is Inngest Cloud), 'true' or 'false'.",
    )
    stall_after: float = Field(
        default=600.0,
        validation_alias="APPSYNC_STALL_AFTER",
        gt=0,
        description="Seconds without progress after which a running sync is reported stalled.",
    )
    redeliver_after: float | None = Field(
        default=None,
        validation_alias="APPSYNC_REDELIVER_AFTER",
        ge=0,
        description="Seconds after which a sync event the Inngest server stored but never ran "
        "is sent again (appsync.sync.redelivery); unset: 30 in production mode against a "
        "self-hosted server, off otherwise; 0: off.",
    )
    send_timeout: float = Field(default=5.0, validation_alias="APPSYNC_SEND_TIMEOUT", gt=0, le=120)
    max_searches: int = Field(
        default=16,
        validation_alias="APPSYNC_MAX_SEARCHES",
        ge=1,
        le=1024,
        description="Searches in flight at once per process; more get 503 with Retry-After.",
    )
    api_docs: Literal["auto", "true", "false"] = Field(
        default="auto",
        validation_alias="APPSYNC_API_DOCS",
        description="Serve /docs, /redoc and /openapi.json: 'auto' (in dev mode, and in production "
        "mode only when the app settings sync this service's own /openapi.json), 'true', 'false'.",
    )
    # HTTP server limits (appsync.cli.http_server).
    max_header_bytes: int = Field(
        default=32 * 1024, validation_alias="APPSYNC_MAX_HEADER_BYTES", ge=1024, le=1024 * 1024
    )
    header_timeout: float = Field(
        default=10.0, validation_alias="APPSYNC_HEADER_TIMEOUT", gt=0, le=300
    )
    max_connections: int | None = Field(
        default=None, validation_alias="APPSYNC_MAX_CONNECTIONS", ge=1, le=1_000_000
    )

    # The MCP endpoint.
    mcp_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias="APPSYNC_MCP_ALLOWED_HOSTS",
        description="Host header values /mcp answers besides loopback and APPSYNC_PUBLIC_URL's "
        "(DNS-rebinding guard); `host`, `host:port` or `host:*`.",
    )

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
        description="The index store: sqlite:///<path> or postgresql://…; "
        "default <APPSYNC_DATA_DIR>/index.sqlite3.",
    )
    share_vectors: bool = Field(
        default=True,
        validation_alias="APPSYNC_SHARE_VECTORS",
        description="Share vectors between users through the store's cache (a text any user "
        "indexed is not embedded again); false keeps every user's vectors to themselves.",
    )

    # Where the app settings are read from on every POST.
    env_file_path: Path = Field(default=Path(".env"), validation_alias="APPSYNC_ENV_FILE")

    @pydantic.field_validator("allowed_spec_hosts", "mcp_allowed_hosts", mode="before")
    @classmethod
    def _parse_hosts(cls, value: object) -> object:
        return _split_hosts(value)

    @pydantic.field_validator("allowed_spec_hosts", "mcp_allowed_hosts")
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

    @pydantic.field_validator("confirm_stored", "api_docs", mode="before")
    @classmethod
    def _confirm_word(cls, value: object) -> object:
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, str):
            word = value.strip().lower()
            return _BOOLEAN_WORDS.get(word, word)
        return value

    @pydantic.field_validator("inngest_signing_key")
    @classmethod
    def _check_signing_key(cls, value: SecretStr | None) -> SecretStr | None:
        key = reveal(value)
        if key is not None:
            signing_key_bytes(key)
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
        return default_index_url(self.data_dir)

    @pydantic.model_validator(mode="wrap")
    @classmethod
    def _production_needs_secrets(
        cls, data: object, handler: pydantic.ModelWrapValidatorHandler[Self]
    ) -> Self:
        # Checked on the raw values, so that the message names the missing secrets even when
        # another variable is invalid too (the model would stop at that one).
        problem = _production_problem(data) if isinstance(data, Mapping) else None
        try:
            settings = handler(data)
        except pydantic.ValidationError as exc:
            if problem is None:
                raise
            details = [init_details(error) for error in exc.errors(include_url=False)]
            details.append(custom_error("production", problem, data))
            raise pydantic.ValidationError.from_exception_data(exc.title, details) from None
        if problem is not None:
            raise pydantic.ValidationError.from_exception_data(
                cls.__name__, [custom_error("production", problem, data)]
            )
        return settings

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
    def confirms_storage(self) -> bool:
        """Whether a POST waits until the server lists its event (`APPSYNC_CONFIRM_STORED`).

        `auto` confirms against the dev server and self-hosted `inngest start`, which lose queued
        events when they stop, and not against Inngest Cloud, whose acceptance is durable and
        whose REST API is rate-limited (production mode with no `INNGEST_BASE_URL`, or a host
        under inngest.com).
        """
        if self.confirm_stored != "auto":
            return self.confirm_stored == "true"
        url = self.inngest_url
        if url is None:
            return self.mode is Mode.DEV
        host = urlsplit(url).hostname or ""
        return not (host == "inngest.com" or host.endswith(".inngest.com"))

    @property
    def redelivery_delay(self) -> float | None:
        """Seconds before a stored sync event with no run is sent again; None: never.

        Unset (`APPSYNC_REDELIVER_AFTER`), 30 s in production mode against a self-hosted server
        (the one that stores an event before it schedules its runs and can stop in between), and
        off otherwise: Inngest Cloud does not lose stored events, and the dev server's events
        are for trying things.
        """
        if self.redeliver_after is not None:
            return self.redeliver_after or None
        if self.mode is Mode.PRODUCTION and self.confirms_storage:
            return DEFAULT_REDELIVER_AFTER
        return None

    @property
    def self_url(self) -> str:
        """Base URL at which this service reaches itself: `APPSYNC_PUBLIC_URL`, else loopback."""
        return self.public_url if self.public_url is not None else local_url(self.host, self.port)

    @property
    def mcp_hosts(self) -> list[str]:
        """Host header values /mcp answers: loopback, this service's public URL's, the listed."""
        public = urlsplit(self.self_url).netloc.lower()
        listed = [*LOOPBACK_HOSTS, public, *self.mcp_allowed_hosts]
        return list(dict.fromkeys(listed))

    def secrets(self) -> list[str]:
        """Every configured secret: the `SecretStr` fields and a password in APPSYNC_INDEX_URL."""
        values = (getattr(self, name) for name in SECRET_FIELDS)
        index_password = url_password(self.index_url) if self.index_url else None
        return [value for value in [*map(reveal, values), index_password] if value]


def local_url(host: str, port: int) -> str:
    """`http://host:port` as a client on this machine reaches a server bound to `host`.

    A wildcard bind (`0.0.0.0`, `::`, empty) is reached on loopback; IPv6 hosts are bracketed.
    """
    if host in {"", "0.0.0.0", "::"}:  # noqa: S104 - compares, binds nothing
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _mode(inngest_dev: str | None) -> Mode:
    if inngest_dev is None or inngest_dev.strip().lower() in _FALSE_WORDS:
        return Mode.PRODUCTION
    return Mode.DEV


def _secret_fields() -> frozenset[str]:
    """The names of the `SecretStr` fields: the one list of what is secret."""
    return frozenset(
        name
        for name, field in ServiceSettings.model_fields.items()
        if SecretStr in (field.annotation, *getattr(field.annotation, "__args__", ()))
    )


SECRET_FIELDS = _secret_fields()
# Settings whose values never appear in an error message: the secrets, and the index URL (it may
# hold a password).
_HIDDEN_INPUTS = SECRET_FIELDS | {"index_url"}
_ALIASES = {
    name: field.validation_alias
    for name, field in ServiceSettings.model_fields.items()
    if isinstance(field.validation_alias, str)
}
# Production mode needs one value of each group (field names).
PRODUCTION_REQUIRES: tuple[tuple[str, ...], ...] = (
    ("inngest_signing_key",),
    ("inngest_event_key",),
    ("jwt_secret", "nextauth_secret"),
)


def _raw(data: Mapping[Any, Any], name: str) -> str | None:
    """A field's raw value as text, given by alias (environment) or by name (overrides)."""
    value = data.get(_ALIASES.get(name, name), data.get(name))
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value if isinstance(value, str) and value.strip() else None


def _production_problem(data: Mapping[Any, Any]) -> str | None:
    """What production mode lacks, naming every missing variable; None when nothing."""
    if _mode(_raw(data, "inngest_dev")) is Mode.DEV:
        return None
    missing = [
        " or ".join(_ALIASES[name] for name in group)
        for group in PRODUCTION_REQUIRES
        if not any(_raw(data, name) for name in group)
    ]
    if not missing:
        return None
    return (
        "production mode (INNGEST_DEV unset) needs "
        + ", ".join(missing)
        + "; set them, or set INNGEST_DEV=1 to run against a dev server"
    )


def load_service_settings(**overrides: Any) -> ServiceSettings:  # noqa: ANN401 - field values
    """Build the settings from the environment, `.env` and overrides; raise `SettingsError`."""
    env_file = overrides.get("_env_file", ServiceSettings.model_config.get("env_file"))
    if isinstance(env_file, str | Path):
        try:  # python-dotenv would skip a broken line, or fail with UnicodeDecodeError
            read_env_file(Path(env_file))
        except EnvFileError as exc:
            raise SettingsError(f"invalid settings:\n  {exc}") from None
    try:
        return ServiceSettings(**overrides)
    except pydantic.ValidationError as exc:
        raise SettingsError(
            describe_validation_error(exc, ServiceSettings, _HIDDEN_INPUTS)
        ) from None
