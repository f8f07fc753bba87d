"""Fixtures: hermetic settings, servers (spec, Inngest, app) and an app with indexed operations."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from appsync.app import create_app
from appsync.cli.dev_server import find_binary, free_port
from appsync.search.embedding import Embedder
from harness.app_server import Harness, synced_app
from harness.inngest_api import InngestApi
from harness.inngest_server import InngestServer
from harness.mcp import MCP_HEADERS, seed_index, token_for
from harness.postgres import URL_VARIABLE, PostgresServer, fresh_database
from harness.processes import model_loaded, started
from harness.settings import (
    OWN_VARIABLES,
    TOOLING_VARIABLES,
    make_settings,
    shared_model,
    write_spec_urls,
)
from harness.spec_server import SpecServer
from harness.stores import STORES, StoreCase, open_store, store_url

# A test that uses one of these starts a server process or loads the model: it is `slow`.
SLOW_FIXTURES = frozenset(
    {"inngest_binary", "dev_server", "dev_api", "harness", "postgres_url", "postgres_database"}
    | {"embedder"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `slow` every test that needs a server process or the model (see SLOW_FIXTURES).

    End-to-end tests are slow by their marker; tests parametrised over the index stores are slow
    on PostgreSQL (its database comes from the session's server).
    """
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and "postgres" in callspec.params.values()
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & SLOW_FIXTURES or on_postgres or item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.slow)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The fast subset (`-m "not slow"`) must start no server process and load no model."""
    if session.config.getoption("markexpr", "") != "not slow":
        return
    broken = [f"started {what}" for what in started()] + (
        ["loaded the embedding model"] if model_loaded() else []
    )
    if broken:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = "the fast subset " + ", ".join(broken) + ": mark those tests slow"
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line(message, red=True)


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's INNGEST_*, APPSYNC_* or NEXTAUTH_* variables."""
    for name in list(os.environ):
        if name.startswith(OWN_VARIABLES) and name not in TOOLING_VARIABLES:
            monkeypatch.delenv(name)


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


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreCase]:
    """An empty index of each store (4-dimensional vectors), closed after the test."""
    name: str = request.param
    url = store_url(name, request, tmp_path)
    with asyncio.Runner() as runner:
        index = runner.run(open_store(url))
        try:
            yield StoreCase(name=name, index=index, runner=runner)
        finally:
            runner.run(index.close())


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The pinned embedding model, loaded once for the whole session."""
    return Embedder()


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


MUSEUM_SECRET = "mcp-tests-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def museum_url() -> str:
    """Where alice's museum spec was synced from."""
    return "http://127.0.0.1:9/specs/redocly_museum.yaml"


@pytest.fixture(scope="module")
def museum_app(tmp_path_factory: pytest.TempPathFactory, museum_url: str) -> Iterator[TestClient]:
    """The app (JWT secret set, Inngest server down); alice's museum and Uber specs indexed.

    One per test module: the tests read it and never change what it holds.
    """
    tmp_path = tmp_path_factory.mktemp("museum-app")
    write_spec_urls(tmp_path / ".env", [museum_url])
    settings = make_settings(
        inngest_dev=f"http://127.0.0.1:{free_port()}",
        env_file_path=tmp_path / ".env",
        jwt_secret=MUSEUM_SECRET,
        data_dir=tmp_path / "data",
    )
    seed_index(settings.resolved_index_url, "alice", "redocly_museum.yaml", museum_url)
    uber_url = museum_url.replace("redocly_museum.yaml", "oai_uber_swagger2.json")
    seed_index(settings.resolved_index_url, "alice", "oai_uber_swagger2.json", uber_url)
    # The MCP transport answers only known Host values: loopback, as a local client sends.
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8000") as test_client:
        yield test_client


@pytest.fixture
def alice_headers() -> dict[str, str]:
    """MCP request headers with alice's bearer token."""
    return MCP_HEADERS | {"Authorization": f"Bearer {token_for(MUSEUM_SECRET, 'alice')}"}


@pytest.fixture
def bob_headers() -> dict[str, str]:
    """MCP request headers with bob's bearer token (he has synced nothing)."""
    return MCP_HEADERS | {"Authorization": f"Bearer {token_for(MUSEUM_SECRET, 'bob')}"}
