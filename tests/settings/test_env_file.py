"""A broken `.env` (issue 13, item 7): an error naming the file and line, never a silent change.

The app settings are re-read from the env file on every POST; an edit that breaks it must fail the
POST with the documented JSON 500, must never make the POST sync other URLs, and must not fail a
run that was accepted before (the function keeps the last valid allow-list).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from appsync.app import create_app
from appsync.settings.app_settings import AppSettingsError, AppSettingsSource
from appsync.settings.errors import SettingsError
from appsync.settings.service import load_service_settings
from harness.app_server import Harness
from harness.settings import make_settings, write_spec_urls
from harness.syncs import batch_events
from harness.waiting import wait_until

SPEC_A = "https://specs.example.com/a/openapi.json"
SPEC_B = "https://specs.example.com/b/openapi.json"
DEFAULT = "http://127.0.0.1:8000/openapi.json"
GARBAGE = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\xfd"


def source_for(env_file: Path) -> AppSettingsSource:
    """App settings from `env_file`, defaulting to a local spec URL."""
    return AppSettingsSource(env_file, default_urls=[DEFAULT])


def load_error(env_file: Path) -> str:
    """The message of the `AppSettingsError` that loading `env_file` raises."""
    with pytest.raises(AppSettingsError) as info:
        source_for(env_file).load()
    return str(info.value)


def test_binary_garbage_names_the_file_and_line(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are an AppSettingsError naming the file and the line."""
    env_file = tmp_path / ".env"
    env_file.write_bytes(f"APPSYNC_OPENAPI_URLS='{json.dumps([SPEC_A])}'\n\n".encode() + GARBAGE)

    message = load_error(env_file)

    assert f"{env_file} line 3: not valid UTF-8 text" in message


def test_an_unbalanced_quote_names_the_file_and_line(tmp_path: Path) -> None:
    """A missing closing quote is an error naming the line, not a fallback to the default URLs."""
    env_file = tmp_path / ".env"
    env_file.write_text(f"INNGEST_DEV=1\nAPPSYNC_OPENAPI_URLS='{json.dumps([SPEC_A])}\n")

    message = load_error(env_file)

    assert f"{env_file} line 2: cannot be parsed" in message


def test_any_unparsable_line_is_an_error(tmp_path: Path) -> None:
    """An unparsable line of another variable fails too: it may hide the spec URLs' line."""
    env_file = tmp_path / ".env"
    env_file.write_text(f"APPSYNC_OPENAPI_URLS='{json.dumps([SPEC_A])}'\nNOT A SETTING\n")

    message = load_error(env_file)

    assert f"{env_file} line 2: cannot be parsed" in message


def test_an_assignment_swallowed_by_an_earlier_quote_is_an_error(tmp_path: Path) -> None:
    """A quote left open above turns the URLs' line into part of another value: an error."""
    env_file = tmp_path / ".env"
    env_file.write_text(f"NOTE='open\nAPPSYNC_OPENAPI_URLS={json.dumps([SPEC_A])}\nEND='\n")

    message = load_error(env_file)

    assert f"{env_file} line 2: sets APPSYNC_OPENAPI_URLS" in message
    assert "line 1" in message


def test_a_broken_line_is_not_echoed(tmp_path: Path) -> None:
    """The message names the line, never its content (the file may hold secrets)."""
    env_file = tmp_path / ".env"
    env_file.write_text("NEXTAUTH_SECRET='s3cr3t-value\n")

    message = load_error(env_file)

    assert "line 1" in message
    assert "s3cr3t" not in message


def test_a_byte_order_mark_is_not_part_of_the_first_name(tmp_path: Path) -> None:
    """A file saved with a UTF-8 BOM still sets the variable on its first line."""
    env_file = tmp_path / ".env"
    env_file.write_bytes(f"\ufeffAPPSYNC_OPENAPI_URLS='{json.dumps([SPEC_A])}'\n".encode())

    assert [SPEC_A] == source_for(env_file).load().openapi_urls


def test_an_unreadable_env_file_names_it(tmp_path: Path) -> None:
    """An env file that cannot be read (here: a directory) is an error naming it and why."""
    env_file = tmp_path / ".env"
    env_file.mkdir()

    message = load_error(env_file)

    assert f"{env_file}: cannot be read" in message


def test_the_last_valid_settings_survive_a_broken_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`last_valid()` keeps the previous settings while the file is broken, and logs why once."""
    env_file = tmp_path / ".env"
    write_spec_urls(env_file, [SPEC_A])
    source = source_for(env_file)
    source.load()

    env_file.write_bytes(GARBAGE)
    with caplog.at_level(logging.ERROR, logger="appsync.settings.app_settings"):
        kept = [source.last_valid().openapi_urls for _ in range(3)]
    write_spec_urls(env_file, [SPEC_B])
    fixed = source.last_valid().openapi_urls

    assert [[SPEC_A]] * 3 == kept
    assert [SPEC_B] == fixed
    errors = [record.getMessage() for record in caplog.records]
    assert 1 == len(errors), errors
    assert f"{env_file} line 1: not valid UTF-8 text" in errors[0]
    assert SPEC_A in errors[0]


@pytest.mark.parametrize(
    ("content", "where"),
    [(GARBAGE, "line 1: not valid UTF-8"), (b"APPSYNC_OPENAPI_URLS='[\n", "line 1: cannot be")],
    ids=["binary", "unbalanced-quote"],
)
def test_a_post_with_a_broken_env_file_gets_the_json_500(
    tmp_path: Path, content: bytes, where: str
) -> None:
    """The POST answers `500 {"error", "message"}` naming the file and line; no event is sent."""
    env_file = tmp_path / ".env"
    write_spec_urls(env_file, [SPEC_A])
    settings = make_settings(inngest_dev="http://127.0.0.1:9", env_file_path=env_file)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        env_file.write_bytes(content)
        response = client.post("/api/route", json={"data": "data"})

    assert 500 == response.status_code
    assert "application/json" == response.headers["content-type"]
    body = response.json()
    assert "invalid_app_settings" == body["error"]
    assert f"{env_file} {where}" in body["message"]


@pytest.mark.e2e
def test_a_run_accepted_before_the_env_file_broke_completes(harness: Harness) -> None:
    """A run whose step waits while `.env` is broken still completes, with its allow-list."""
    key = f"env-{time.monotonic_ns()}"
    gated = harness.specs.url(f"gate/{key}/specs/oai_petstore_swagger2.json")
    museum = harness.specs.url("specs/redocly_museum.yaml")
    harness.set_spec_urls([gated, museum])
    try:
        response = harness.post()
        assert 200 == response.status_code, response.text
        (event_id,) = response.json()["ids"]
        wait_until(
            lambda: harness.specs.hits[f"/gate/{key}/specs/oai_petstore_swagger2.json"],
            timeout=30,
            what="the run reached the gated spec",
        )
        harness.env_file.write_bytes(GARBAGE)
        harness.specs.open_gate(key)

        run = harness.api.wait_for_run(event_id)
    finally:
        harness.specs.open_gate(key)
        harness.set_spec_urls([harness.specs.url("specs/oai_petstore_swagger2.json")])

    assert "Completed" == run["status"], run
    assert [True, True] == [spec["ok"] for spec in run["output"]["specs"]]
    assert 2 == len(batch_events(harness.api, run))


@pytest.mark.parametrize(
    ("content", "where"),
    [(GARBAGE, "line 1: not valid UTF-8"), (b"INNGEST_DEV=1\nNEXTAUTH_SECRET='x\n", "line 2")],
    ids=["binary", "unbalanced-quote"],
)
def test_a_broken_env_file_stops_the_start_naming_file_and_line(
    tmp_path: Path, content: bytes, where: str
) -> None:
    """The service settings refuse a broken `.env` with a SettingsError, not a traceback."""
    env_file = tmp_path / ".env"
    env_file.write_bytes(content)

    with pytest.raises(SettingsError) as info:
        load_service_settings(_env_file=env_file)

    assert f"{env_file} {where}" in str(info.value)
