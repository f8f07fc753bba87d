"""The index settings: APPSYNC_DATA_DIR and APPSYNC_INDEX_URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from appsync.index.urls import describe
from appsync.settings.errors import SettingsError
from appsync.settings.service import load_service_settings
from harness.settings import make_settings


def test_the_default_index_is_a_file_in_the_data_dir() -> None:
    """Without APPSYNC_INDEX_URL the index is <APPSYNC_DATA_DIR>/index.sqlite3."""
    settings = load_service_settings(_env_file=None, inngest_dev="1", data_dir=Path("/srv/x"))

    assert "sqlite:////srv/x/index.sqlite3" == settings.resolved_index_url


def test_the_data_dir_defaults_to_data_in_the_working_directory() -> None:
    """APPSYNC_DATA_DIR defaults to ./data."""
    settings = load_service_settings(_env_file=None, inngest_dev="1")

    assert "sqlite:///data/index.sqlite3" == settings.resolved_index_url


def test_an_index_url_of_an_unknown_store_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A URL that names no store stops the start, naming APPSYNC_INDEX_URL."""
    monkeypatch.setenv("APPSYNC_INDEX_URL", "redis://localhost/0")

    with pytest.raises(SettingsError, match=r"APPSYNC_INDEX_URL: must be sqlite:///"):
        load_service_settings(_env_file=None, inngest_dev="1")


def test_the_password_of_an_index_url_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """A PostgreSQL password in APPSYNC_INDEX_URL is scrubbed like the other secrets."""
    monkeypatch.setenv("APPSYNC_INDEX_URL", "postgresql://app:s3cr3t-pw@db:5432/appsync")

    settings = load_service_settings(_env_file=None, inngest_dev="1")

    assert "s3cr3t-pw" in settings.secrets()


def test_a_password_given_as_a_url_parameter_is_a_secret_too() -> None:
    """`postgresql://h/db?password=…` hides the password in logs and scrubs it like the others."""
    url = "postgresql://app@db.internal/appsync?sslmode=require&password=s3cret-pa55"

    settings = make_settings(inngest_dev="1", index_url=url)

    assert "s3cret-pa55" in settings.secrets()
    assert "s3cret-pa55" not in describe(url)
