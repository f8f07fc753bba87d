"""Fixtures: hermetic settings, a loopback spec server, and a real Inngest dev server + app."""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from appsync.config import ServiceSettings
from appsync.devserver import find_binary, free_port
from appsync.embedding import Embedder
from appsync.services import ServicesFactory, start_services
from functions.sync_openapi import FUNCTION_ID
from harness.app_server import AppServer, synced_app
from harness.inngest_api import InngestApi
from harness.inngest_server import InngestServer
from harness.postgres import URL_VARIABLE, PostgresServer, fresh_database
from harness.spec_server import SpecServer

APP_ID = "appsync-test"
SLUG = f"{APP_ID}-{FUNCTION_ID}"

_OWN_VARIABLES = ("INNGEST_", "APPSYNC_", "NEXTAUTH_")
# Variables of the test tooling itself, not of the service.
_TOOLING_VARIABLES = frozenset(
    {
        "APPSYNC_INNGEST_BIN",
        "APPSYNC_COMPOSECHECK_BIN",
        "APPSYNC_SPECS_DIR",
        "APPSYNC_CACHE_DIR",
        "APPSYNC_CHROMIUM_BIN",
        "APPSYNC_ARTIFACTS_DIR",
        "APPSYNC_TEST_POSTGRES_URL",
    }
)


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's INNGEST_*, APPSYNC_* or NEXTAUTH_* variables."""
    for name in list(os.environ):
        if name.startswith(_OWN_VARIABLES) and name not in _TOOLING_VARIABLES:
            monkeypatch.delenv(name)


def make_settings(**values: Any) -> ServiceSettings:
    """Settings from `values` only: no `.env` of the working directory, no environment."""
    values.setdefault("app_id", APP_ID)
    values.setdefault("data_dir", Path(tempfile.mkdtemp(prefix="appsync-test-data-")))
    return ServiceSettings(_env_file=None, **values)


def write_spec_urls(env_file: Path, urls: list[str]) -> None:
    """Point the app settings at `urls` (the next POST reads them)."""
    env_file.write_text(f"APPSYNC_OPENAPI_URLS='{json.dumps(urls)}'\n")


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The session's PostgreSQL: scripts/postgres starts it, or $APPSYNC_TEST_POSTGRES_URL."""
    if url := os.environ.get(URL_VARIABLE):
        yield url
        return
    server = PostgresServer(tmp_path_factory.mktemp("postgres") / "data")
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    """The URL of a new, empty database on the session's server, dropped after the test."""
    with fresh_database(postgres_url) as url:
        yield url


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The pinned embedding model, loaded once for the whole session."""
    return Embedder()


def shared_model(embedder: Embedder) -> ServicesFactory:
    """The app's services with the session's embedding model (loaded once, not per app)."""
    return functools.partial(start_services, embedder=embedder)


@pytest.fixture(scope="session")
def inngest_binary() -> Path:
    """The Inngest server binary that `scripts/build-inngest` built (`$APPSYNC_INNGEST_BIN`)."""
    try:
        return find_binary()
    except RuntimeError as exc:
        pytest.fail(f"{exc}. Run the tests through scripts/test, which builds it.")


@pytest.fixture(scope="session")
def spec_server() -> Iterator[SpecServer]:
    """The shared spec corpus and scripted faults, served on 127.0.0.1."""
    with SpecServer() as server:
        yield server


@pytest.fixture(scope="session")
def dev_server(
    inngest_binary: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InngestServer]:
    """A real `inngest dev --no-discovery` on free loopback ports."""
    server = InngestServer(binary=inngest_binary, workdir=tmp_path_factory.mktemp("inngest-dev"))
    with server:
        yield server


@pytest.fixture(scope="session")
def dev_api(dev_server: InngestServer) -> Iterator[InngestApi]:
    """Reads the dev server's stored events and runs."""
    api = InngestApi(dev_server.url)
    yield api
    api.close()


@dataclass
class Harness:
    """The app in dev mode, synced with the real dev server, with specs on loopback."""

    app: AppServer
    api: InngestApi
    server: InngestServer
    specs: SpecServer
    env_file: Path
    settings: ServiceSettings
    http: httpx.Client

    def set_spec_urls(self, urls: list[str]) -> None:
        """Change the app settings; the next POST picks them up."""
        write_spec_urls(self.env_file, urls)

    def post(self, path: str = "/api/route", **kwargs: Any) -> httpx.Response:
        """POST to the app, as the original's curl example does by default."""
        kwargs.setdefault("json", {"data": "data"})
        return self.http.post(path, **kwargs)


@pytest.fixture(scope="session")
def harness(
    dev_server: InngestServer,
    dev_api: InngestApi,
    spec_server: SpecServer,
    embedder: Embedder,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Harness]:
    """The service on a free port, synced with the dev server (checked on the server)."""
    env_file = tmp_path_factory.mktemp("app") / ".env"
    write_spec_urls(env_file, [spec_server.url("specs/oai_petstore_swagger2.json")])
    port = free_port()
    settings = make_settings(
        inngest_dev=dev_server.url,
        port=port,
        env_file_path=env_file,
        retries=2,
        retry_delay=0.2,
        fetch_timeout=3.0,
        data_dir=tmp_path_factory.mktemp("data"),
    )
    with synced_app(settings, dev_api, shared_model(embedder)) as (app, http):
        yield Harness(app, dev_api, dev_server, spec_server, env_file, settings, http)
