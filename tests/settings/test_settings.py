"""Service settings (`ServiceSettings`) and app settings (`AppSettingsSource`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from appsync.app import create_app
from appsync.auth import Authenticator
from appsync.services import Registry
from appsync.settings.app_settings import AppSettingsError, AppSettingsSource
from appsync.settings.errors import SettingsError
from appsync.settings.service import Mode, ServiceSettings, load_service_settings
from harness.settings import make_settings, write_spec_urls

SIGNING_KEY = "signkey-prod-" + "5ec2e7" * 10  # hex after the prefix, as Inngest issues them
EVENT_KEY = "evtkey-0123456789abcdefEVENT"
JWT_SECRET = "jwt-0123456789abcdefJWT"
NEXTAUTH_SECRET = "nextauth-0123456789abcdefNEXTAUTH"
SPEC_A = "https://specs.example.com/a/openapi.json"
SPEC_B = "https://specs.example.com/bb/openapi.json"
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - a configured value to map, nothing binds it


def load(monkeypatch: pytest.MonkeyPatch, **env: str) -> ServiceSettings:
    """Settings from the environment `env` (and no `.env` file)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_service_settings(_env_file=None)


def settings_error(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    """The `SettingsError` message that loading with the environment `env` raises."""
    with pytest.raises(SettingsError) as info:
        load(monkeypatch, **env)
    return str(info.value)


def set_production_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set everything production mode needs."""
    monkeypatch.setenv("INNGEST_SIGNING_KEY", SIGNING_KEY)
    monkeypatch.setenv("INNGEST_EVENT_KEY", EVENT_KEY)
    monkeypatch.setenv("APPSYNC_JWT_SECRET", JWT_SECRET)


def source_for(env_file: Path) -> AppSettingsSource:
    """App settings from `env_file`, defaulting to a local spec URL."""
    return AppSettingsSource(env_file, default_urls=["http://127.0.0.1:8000/openapi.json"])


# Service settings: defaults and modes.


def test_defaults_in_dev_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """With only INNGEST_DEV=1, every other setting has its documented default."""
    settings = load(monkeypatch, INNGEST_DEV="1")

    assert Mode.DEV is settings.mode
    assert "appsync" == settings.app_id
    assert "127.0.0.1" == settings.host
    assert 8000 == settings.port
    assert "http://127.0.0.1:8000" == settings.self_url
    assert settings.inngest_url is None
    assert 30.0 == settings.fetch_timeout
    assert 32 * 1024 * 1024 == settings.max_spec_bytes
    assert 5 == settings.max_redirects
    assert [] == settings.allowed_spec_hosts
    assert 4 == settings.retries
    assert Path(".env") == settings.env_file_path
    assert Authenticator.from_settings(settings).enabled is False
    assert [] == settings.secrets()


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        ("1", Mode.DEV),
        ("true", Mode.DEV),
        ("TRUE", Mode.DEV),
        ("0", Mode.PRODUCTION),
        ("false", Mode.PRODUCTION),
        ("", Mode.PRODUCTION),
    ],
)
def test_inngest_dev_value_selects_the_mode(
    monkeypatch: pytest.MonkeyPatch, value: str, mode: Mode
) -> None:
    """INNGEST_DEV "1"/"true" selects dev mode; "0"/"false"/empty selects production mode."""
    set_production_secrets(monkeypatch)

    settings = load(monkeypatch, INNGEST_DEV=value)

    assert mode is settings.mode
    assert settings.inngest_url is None


def test_unset_inngest_dev_is_production(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without INNGEST_DEV the service runs in production mode."""
    set_production_secrets(monkeypatch)

    settings = load(monkeypatch)

    assert Mode.PRODUCTION is settings.mode
    assert Authenticator.from_settings(settings).enabled is True
    assert sorted([SIGNING_KEY, EVENT_KEY, JWT_SECRET]) == sorted(settings.secrets())


def test_inngest_dev_url_is_dev_mode_with_that_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """INNGEST_DEV set to a URL is dev mode, and that URL (no trailing /) is `inngest_url`."""
    settings = load(monkeypatch, INNGEST_DEV="http://127.0.0.1:8288/")

    assert Mode.DEV is settings.mode
    assert "http://127.0.0.1:8288" == settings.inngest_url


def test_inngest_base_url_wins_over_dev_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """INNGEST_BASE_URL is the Inngest server even when INNGEST_DEV holds a URL."""
    settings = load(
        monkeypatch, INNGEST_DEV="http://127.0.0.1:8288", INNGEST_BASE_URL="http://10.0.0.5:8288/"
    )

    assert "http://10.0.0.5:8288" == settings.inngest_url


def test_invalid_inngest_dev_url_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """An INNGEST_DEV that is a URL but not http(s) is a SettingsError at load, naming it."""
    message = settings_error(monkeypatch, INNGEST_DEV="ftp://127.0.0.1:8288")

    assert "INNGEST_DEV" in message
    assert "ftp://127.0.0.1:8288" in message


# Service settings: invalid values.


@pytest.mark.parametrize("value", ["abc", "0", "70000", "80.5"])
def test_invalid_port_stops_the_start_naming_it(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """An invalid APPSYNC_PORT is a SettingsError naming the variable and the bad value."""
    message = settings_error(monkeypatch, INNGEST_DEV="1", APPSYNC_PORT=value)

    assert "APPSYNC_PORT" in message
    assert repr(value) in message


def test_every_invalid_variable_is_named_in_one_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several invalid variables are all named in the same SettingsError."""
    message = settings_error(
        monkeypatch,
        INNGEST_DEV="1",
        APPSYNC_PORT="abc",
        APPSYNC_FETCH_TIMEOUT="-1",
        APPSYNC_PUBLIC_URL="not-a-url",
    )

    assert "APPSYNC_PORT" in message
    assert "APPSYNC_FETCH_TIMEOUT" in message
    assert "APPSYNC_PUBLIC_URL" in message


def test_production_with_nothing_set_names_all_missing_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Production mode with no secrets names all three missing settings in one message."""
    message = settings_error(monkeypatch)

    assert "production mode" in message
    assert "INNGEST_SIGNING_KEY" in message
    assert "INNGEST_EVENT_KEY" in message
    assert "APPSYNC_JWT_SECRET or NEXTAUTH_SECRET" in message
    assert "INNGEST_DEV=1" in message


def test_production_names_only_the_missing_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the signing key and NEXTAUTH_SECRET set, only INNGEST_EVENT_KEY is missing."""
    message = settings_error(
        monkeypatch, INNGEST_SIGNING_KEY=SIGNING_KEY, NEXTAUTH_SECRET=NEXTAUTH_SECRET
    )

    assert "INNGEST_EVENT_KEY" in message
    assert "INNGEST_SIGNING_KEY" not in message
    assert "APPSYNC_JWT_SECRET or NEXTAUTH_SECRET" not in message


def test_empty_secret_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty INNGEST_SIGNING_KEY is missing, not set."""
    set_production_secrets(monkeypatch)

    message = settings_error(monkeypatch, INNGEST_SIGNING_KEY="")

    assert "INNGEST_SIGNING_KEY" in message


def test_nextauth_secret_satisfies_production_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    """NEXTAUTH_SECRET alone is enough authentication for production mode."""
    settings = load(
        monkeypatch,
        INNGEST_SIGNING_KEY=SIGNING_KEY,
        INNGEST_EVENT_KEY=EVENT_KEY,
        NEXTAUTH_SECRET=NEXTAUTH_SECRET,
    )

    assert Mode.PRODUCTION is settings.mode
    assert Authenticator.from_settings(settings).enabled is True


def test_invalid_setting_and_missing_secrets_are_named_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In production mode, an invalid APPSYNC_PORT and the missing secrets share one message."""
    message = settings_error(monkeypatch, APPSYNC_PORT="abc")

    assert "APPSYNC_PORT" in message
    assert "INNGEST_SIGNING_KEY" in message
    assert "INNGEST_EVENT_KEY" in message
    assert "APPSYNC_JWT_SECRET or NEXTAUTH_SECRET" in message


def test_invalid_local_user_is_a_settings_error_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """APPSYNC_LOCAL_USER that is not JSON is a SettingsError naming APPSYNC_LOCAL_USER."""
    message = settings_error(monkeypatch, INNGEST_DEV="1", APPSYNC_LOCAL_USER="not json")

    assert "APPSYNC_LOCAL_USER" in message


# Service settings: secrets stay out of messages.


def test_secret_not_in_message_next_to_invalid_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """A SettingsError about APPSYNC_PORT does not show the INNGEST_SIGNING_KEY that is set."""
    message = settings_error(monkeypatch, INNGEST_SIGNING_KEY=SIGNING_KEY, APPSYNC_PORT="abc")

    assert "APPSYNC_PORT" in message
    assert SIGNING_KEY not in message


def test_secrets_not_in_production_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """The production-mode message names what is missing, never the values that are set."""
    message = settings_error(
        monkeypatch, INNGEST_SIGNING_KEY=SIGNING_KEY, APPSYNC_JWT_SECRET=JWT_SECRET
    )

    assert "INNGEST_EVENT_KEY" in message
    assert SIGNING_KEY not in message
    assert JWT_SECRET not in message


def test_secrets_not_in_message_with_all_set_and_several_invalid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With every secret set and several invalid values, no secret value is in the message."""
    set_production_secrets(monkeypatch)

    message = settings_error(
        monkeypatch,
        NEXTAUTH_SECRET=NEXTAUTH_SECRET,
        APPSYNC_PORT="abc",
        APPSYNC_MAX_REDIRECTS="99",
        INNGEST_BASE_URL="nowhere",
    )

    for secret in (SIGNING_KEY, EVENT_KEY, JWT_SECRET, NEXTAUTH_SECRET):
        assert secret not in message


def test_secret_of_wrong_type_is_not_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret override that fails validation is named without its value."""
    monkeypatch.setenv("INNGEST_DEV", "1")

    with pytest.raises(SettingsError) as info:
        load_service_settings(_env_file=None, inngest_signing_key=["sekrit-list-value"])

    assert "INNGEST_SIGNING_KEY" in str(info.value)
    assert "sekrit-list-value" not in str(info.value)


@pytest.mark.parametrize("key", ["not-hex-at-all", "signkey-prod-abc", "signkey-prod-"])
def test_a_signing_key_that_is_not_hex_is_a_settings_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    """A non-hex INNGEST_SIGNING_KEY stops the start with a message naming it, not a traceback."""
    monkeypatch.setenv("INNGEST_DEV", "1")

    message = settings_error(monkeypatch, INNGEST_SIGNING_KEY=key)

    assert "INNGEST_SIGNING_KEY: must be an even number of hex digits" in message
    assert key not in message.replace("signkey-<env>-", "")


def test_a_signing_key_is_accepted_with_or_without_its_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Plain hex (as `inngest start` wants) and `signkey-<env>-<hex>` (Inngest Cloud) load."""
    monkeypatch.setenv("INNGEST_DEV", "1")

    plain = load(monkeypatch, INNGEST_SIGNING_KEY="ab" * 32)
    prefixed = load(monkeypatch, INNGEST_SIGNING_KEY=SIGNING_KEY)

    assert ("ab" * 32, SIGNING_KEY) == (
        plain.secrets()[0],
        prefixed.secrets()[0],
    )


def test_secrets_from_env_file_not_in_message(tmp_path: Path) -> None:
    """Secrets read from a `.env` file stay out of the message about another variable."""
    env_file = tmp_path / ".env"
    env_file.write_text(
        f"INNGEST_SIGNING_KEY={SIGNING_KEY}\nINNGEST_EVENT_KEY={EVENT_KEY}\n"
        f"APPSYNC_JWT_SECRET={JWT_SECRET}\nAPPSYNC_PORT=abc\n"
    )

    with pytest.raises(SettingsError) as info:
        load_service_settings(_env_file=env_file)

    message = str(info.value)
    assert "APPSYNC_PORT" in message
    for secret in (SIGNING_KEY, EVENT_KEY, JWT_SECRET):
        assert secret not in message


# Service settings: lists and `.env`.


@pytest.mark.parametrize(
    "value",
    [
        '["Specs.Example.com", "mirror.example.net:8443"]',
        "Specs.Example.com, mirror.example.net:8443",
        "Specs.Example.com,mirror.example.net:8443,",
    ],
)
def test_allowed_spec_hosts_accepts_json_list_and_comma_string(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """APPSYNC_ALLOWED_SPEC_HOSTS is a JSON list or a comma-separated string; hosts are lowered."""
    settings = load(monkeypatch, INNGEST_DEV="1", APPSYNC_ALLOWED_SPEC_HOSTS=value)

    assert ["specs.example.com", "mirror.example.net:8443"] == settings.allowed_spec_hosts


def test_allowed_spec_hosts_invalid_json_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A JSON list that does not parse is a SettingsError naming APPSYNC_ALLOWED_SPEC_HOSTS."""
    message = settings_error(monkeypatch, INNGEST_DEV="1", APPSYNC_ALLOWED_SPEC_HOSTS="[oops")

    assert "APPSYNC_ALLOWED_SPEC_HOSTS" in message


def test_env_file_values_are_read(tmp_path: Path) -> None:
    """Values in the given `.env` file are read."""
    env_file = tmp_path / ".env"
    env_file.write_text(
        "INNGEST_DEV=1\nAPPSYNC_PORT=9123\nAPPSYNC_ALLOWED_SPEC_HOSTS=a.example.com,b.example.com\n"
        "APPSYNC_MAX_REDIRECTS=2\n"
    )

    settings = ServiceSettings(_env_file=env_file)

    assert Mode.DEV is settings.mode
    assert 9123 == settings.port
    assert ["a.example.com", "b.example.com"] == settings.allowed_spec_hosts
    assert 2 == settings.max_redirects


def test_dotenv_of_working_directory_is_read_by_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`load_service_settings()` reads `.env` in the working directory."""
    (tmp_path / ".env").write_text("INNGEST_DEV=true\nAPPSYNC_PORT=9124\n")
    monkeypatch.chdir(tmp_path)

    settings = load_service_settings()

    assert Mode.DEV is settings.mode
    assert 9124 == settings.port


def test_environment_wins_over_env_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A variable set in the environment overrides the same one in `.env`."""
    env_file = tmp_path / ".env"
    env_file.write_text("INNGEST_DEV=1\nAPPSYNC_PORT=9123\n")
    monkeypatch.setenv("APPSYNC_PORT", "9200")

    settings = ServiceSettings(_env_file=env_file)

    assert 9200 == settings.port


def test_invalid_value_in_env_file_names_the_variable(tmp_path: Path) -> None:
    """An invalid value read from `.env` is named like one from the environment."""
    env_file = tmp_path / ".env"
    env_file.write_text("INNGEST_DEV=1\nAPPSYNC_PORT=eighty\n")

    with pytest.raises(SettingsError) as info:
        load_service_settings(_env_file=env_file)

    assert "APPSYNC_PORT" in str(info.value)
    assert "'eighty'" in str(info.value)


# App settings.


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (ALL_INTERFACES, "http://127.0.0.1:8123/openapi.json"),
        ("::", "http://127.0.0.1:8123/openapi.json"),
        ("127.0.0.1", "http://127.0.0.1:8123/openapi.json"),
        ("::1", "http://[::1]:8123/openapi.json"),
        ("api.internal", "http://api.internal:8123/openapi.json"),
    ],
)
def test_default_app_settings_point_at_own_openapi(
    tmp_path: Path, host: str, expected: str
) -> None:
    """Without APPSYNC_OPENAPI_URLS the app syncs `<self_url>/openapi.json` (0.0.0.0 → loopback)."""
    settings = make_settings(inngest_dev="1", host=host, port=8123)
    source = AppSettingsSource(
        tmp_path / "missing.env", default_urls=[f"{settings.self_url}/openapi.json"]
    )

    assert [expected] == source.load().openapi_urls


def test_create_app_defaults_to_own_openapi(tmp_path: Path) -> None:
    """`create_app` with no APPSYNC_OPENAPI_URLS syncs its own `/openapi.json` via 127.0.0.1."""
    settings = make_settings(
        inngest_dev="1", host=ALL_INTERFACES, port=8124, env_file_path=tmp_path / ".env"
    )

    with TestClient(create_app(settings)) as client:
        registry: Registry = client.app.state.registry  # type: ignore[attr-defined]
        urls = registry.services.app_settings.load().openapi_urls

    assert ["http://127.0.0.1:8124/openapi.json"] == urls


def test_public_url_is_the_default_base(tmp_path: Path) -> None:
    """APPSYNC_PUBLIC_URL, when set, is the base of the default spec URL."""
    settings = make_settings(
        inngest_dev="1", host=ALL_INTERFACES, public_url="https://app.example.com/"
    )
    source = AppSettingsSource(
        tmp_path / ".env", default_urls=[f"{settings.self_url}/openapi.json"]
    )

    assert ["https://app.example.com/openapi.json"] == source.load().openapi_urls


def test_app_settings_from_env_file(tmp_path: Path) -> None:
    """APPSYNC_OPENAPI_URLS in the env file is the list of spec URLs."""
    env_file = tmp_path / ".env"
    write_spec_urls(env_file, [SPEC_A, SPEC_B])

    assert [SPEC_A, SPEC_B] == source_for(env_file).load().openapi_urls


def test_app_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """APPSYNC_OPENAPI_URLS in the environment overrides the env file."""
    env_file = tmp_path / ".env"
    write_spec_urls(env_file, [SPEC_A])
    monkeypatch.setenv("APPSYNC_OPENAPI_URLS", json.dumps([SPEC_B]))

    assert [SPEC_B] == source_for(env_file).load().openapi_urls


INVALID_OPENAPI_URLS = [
    pytest.param("not json", id="invalid-json"),
    pytest.param('["https://specs.example.com/a.json"', id="unclosed-json"),
    pytest.param('"https://specs.example.com/a.json"', id="json-string"),
    pytest.param('{"url": "https://specs.example.com/a.json"}', id="json-object"),
    pytest.param('["ftp://specs.example.com/a.json"]', id="ftp-url"),
    pytest.param('["file:///etc/passwd"]', id="file-url"),
    pytest.param('["/openapi.json"]', id="relative-url"),
    pytest.param('["https://specs.example.com/a.json", 42]', id="not-a-string"),
    pytest.param("[]", id="empty-list"),
]


@pytest.mark.parametrize("value", INVALID_OPENAPI_URLS)
def test_invalid_openapi_urls_in_env_file_name_the_variable(tmp_path: Path, value: str) -> None:
    """An unusable APPSYNC_OPENAPI_URLS in the env file raises AppSettingsError naming it."""
    env_file = tmp_path / ".env"
    env_file.write_text(f"APPSYNC_OPENAPI_URLS='{value}'\n")

    with pytest.raises(AppSettingsError) as info:
        source_for(env_file).load()

    assert "APPSYNC_OPENAPI_URLS" in str(info.value)
    assert str(env_file) in str(info.value)


@pytest.mark.parametrize("value", INVALID_OPENAPI_URLS)
def test_invalid_openapi_urls_in_environment_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str
) -> None:
    """An unusable APPSYNC_OPENAPI_URLS in the environment raises AppSettingsError naming it."""
    monkeypatch.setenv("APPSYNC_OPENAPI_URLS", value)

    with pytest.raises(AppSettingsError) as info:
        source_for(tmp_path / "missing.env").load()

    assert "APPSYNC_OPENAPI_URLS" in str(info.value)


def test_env_file_edit_is_picked_up_without_restart(tmp_path: Path) -> None:
    """An edit of the env file (different length) is seen by the next `load()`."""
    env_file = tmp_path / ".env"
    write_spec_urls(env_file, [SPEC_A])
    source = source_for(env_file)
    first = source.load().openapi_urls

    write_spec_urls(env_file, [SPEC_B])
    second = source.load().openapi_urls

    assert [SPEC_A] == first
    assert [SPEC_B] == second


def test_same_length_edit_with_new_mtime_is_picked_up(tmp_path: Path) -> None:
    """A same-size edit is seen once the file's mtime changes."""
    env_file = tmp_path / ".env"
    spec_c = SPEC_A.replace("/a/", "/c/")
    write_spec_urls(env_file, [SPEC_A])
    source = source_for(env_file)
    first = source.load().openapi_urls
    before = env_file.stat()

    write_spec_urls(env_file, [spec_c])
    os.utime(env_file, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    second = source.load().openapi_urls

    assert before.st_size == env_file.stat().st_size
    assert [SPEC_A] == first
    assert [spec_c] == second


def test_unchanged_env_file_is_served_from_cache(tmp_path: Path) -> None:
    """Two loads of an unchanged file return the same settings object."""
    env_file = tmp_path / ".env"
    write_spec_urls(env_file, [SPEC_A])
    source = source_for(env_file)

    assert source.load() is source.load()


def test_env_file_created_removed_and_broken_later(tmp_path: Path) -> None:
    """Creating, breaking, fixing and deleting the env file each take effect on the next load."""
    env_file = tmp_path / ".env"
    source = source_for(env_file)
    default = source.load().openapi_urls

    write_spec_urls(env_file, [SPEC_A])
    created = source.load().openapi_urls
    env_file.write_text("APPSYNC_OPENAPI_URLS='[]'\n")
    with pytest.raises(AppSettingsError):
        source.load()
    write_spec_urls(env_file, [SPEC_B])
    fixed = source.load().openapi_urls
    env_file.unlink()
    removed = source.load().openapi_urls

    assert ["http://127.0.0.1:8000/openapi.json"] == default
    assert [SPEC_A] == created
    assert [SPEC_B] == fixed
    assert default == removed


def test_environment_change_is_picked_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A change of APPSYNC_OPENAPI_URLS in the process environment is seen by the next load."""
    source = source_for(tmp_path / "missing.env")
    monkeypatch.setenv("APPSYNC_OPENAPI_URLS", json.dumps([SPEC_A]))
    first = source.load().openapi_urls

    monkeypatch.setenv("APPSYNC_OPENAPI_URLS", json.dumps([SPEC_B]))
    second = source.load().openapi_urls

    assert [SPEC_A] == first
    assert [SPEC_B] == second


def test_create_app_with_invalid_openapi_urls_stops_the_start(tmp_path: Path) -> None:
    """`create_app` raises AppSettingsError naming APPSYNC_OPENAPI_URLS for a bad env file."""
    env_file = tmp_path / ".env"
    env_file.write_text("APPSYNC_OPENAPI_URLS='[\"ftp://specs.example.com/a.json\"]'\n")

    with pytest.raises(AppSettingsError) as info:
        create_app(make_settings(inngest_dev="1", env_file_path=env_file))

    assert "APPSYNC_OPENAPI_URLS" in str(info.value)
    assert "ftp://specs.example.com/a.json" in str(info.value)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"inngest_dev": "1"}, True),
        ({"inngest_dev": "http://127.0.0.1:8288"}, True),
        ({"inngest_base_url": "http://127.0.0.1:8288"}, True),
        ({}, False),
        ({"inngest_base_url": "https://api.inngest.com"}, False),
        ({"inngest_dev": "1", "confirm_stored": "false"}, False),
        ({"inngest_dev": "1", "confirm_stored": "0"}, False),
        ({"confirm_stored": "true"}, True),
        ({"confirm_stored": "yes"}, True),
    ],
)
def test_confirmation_is_on_unless_the_server_is_inngest_cloud(
    values: dict[str, str], *, expected: bool
) -> None:
    """APPSYNC_CONFIRM_STORED=auto confirms against dev and self-hosted servers, not Cloud."""
    secrets = {
        "inngest_signing_key": SIGNING_KEY,
        "inngest_event_key": EVENT_KEY,
        "jwt_secret": JWT_SECRET,
    }

    assert expected is make_settings(**secrets, **values).confirms_storage


def test_an_unknown_confirmation_word_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """APPSYNC_CONFIRM_STORED=sometimes is refused naming the variable and the choices."""
    message = settings_error(monkeypatch, INNGEST_DEV="1", APPSYNC_CONFIRM_STORED="sometimes")

    assert "APPSYNC_CONFIRM_STORED: Input should be 'auto', 'true' or 'false'" in message
