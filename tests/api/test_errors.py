"""Every error is a JSON `{"error", "message"}` with the right code, whatever failed underneath."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import inngest
import pytest
from fastapi.testclient import TestClient

from appsync.app import create_app
from appsync.cli.dev_server import free_port
from appsync.search.embedding import Embedder
from appsync.services import Services, ServicesFactory, start_services
from appsync.settings.app_settings import AppSettingsSource
from appsync.settings.service import ServiceSettings
from appsync.sync.status import SyncStatus, SyncStatuses
from harness.postgres import PostgresServer, fresh_database
from harness.settings import make_settings, shared_model, write_spec_urls

A_SYNC_ID = "01M8JDTRY6KSBTTHJ5ZDRB87KM"


def down_url() -> str:
    """An Inngest server address where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


def settings_for(tmp_path: Path, **values: object) -> ServiceSettings:
    """Dev-mode settings against a server that is down, specs on a closed port."""
    write_spec_urls(tmp_path / ".env", ["http://127.0.0.1:9/openapi.json"])
    return make_settings(**{"inngest_dev": down_url(), "env_file_path": tmp_path / ".env"} | values)


def with_services(change: Callable[[Services], Services]) -> ServicesFactory:
    """The app's services, some replaced by `change` (the composition seam tests use)."""

    @contextlib.asynccontextmanager
    async def factory(
        settings: ServiceSettings, client: inngest.Inngest, app_settings: AppSettingsSource
    ) -> AsyncIterator[Services]:
        async with start_services(settings, client, app_settings) as built:
            yield change(built)

    return factory


class BrokenStatuses(SyncStatuses):
    """Status that fails with a bug."""

    async def status(self, sync_id: str, user_id: str) -> SyncStatus:
        """Fail as a bug would."""
        raise RuntimeError(f"bug while reading {sync_id} for {user_id}")


def test_status_with_the_inngest_server_down_is_a_json_502(tmp_path: Path) -> None:
    """The server unreachable: 502 naming its API, not a plain-text 500."""
    settings = settings_for(tmp_path)
    with TestClient(create_app(settings)) as client:
        response = client.get(f"/api/openapi/sync/{A_SYNC_ID}")

    assert 502 == response.status_code
    assert "inngest_unavailable" == response.json()["error"]
    assert "the Inngest server's API at http://127.0.0.1:" in response.json()["message"]


def test_an_unexpected_error_is_a_json_500_without_details(tmp_path: Path) -> None:
    """A bug: 500 with the JSON body, naming only the error's type; the trace goes to the log."""
    settings = settings_for(tmp_path)
    broken = with_services(
        lambda built: dataclasses.replace(
            built,
            sync_statuses=BrokenStatuses(
                built.sync_statuses.reader, built.journal, built.index, 1.0, built.batch_signer
            ),
        )
    )
    app = create_app(settings, services=broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get(f"/api/openapi/sync/{A_SYNC_ID}")

    assert 500 == response.status_code
    assert {
        "error": "internal_error",
        "message": "unexpected RuntimeError; the service log has the details",
    } == response.json()


def test_searches_past_the_bound_are_refused_with_retry_after(tmp_path: Path) -> None:
    """No place left: 503 `overloaded` with Retry-After, before any model or index work."""
    settings = settings_for(tmp_path, max_searches=1)
    app = create_app(settings)
    with TestClient(app) as client:
        services: Services = app.state.registry.services
        services.searcher.admission.in_flight = 1  # one search holds the only place
        response = client.get("/api/operations/search", params={"q": "list pets"})

    assert 503 == response.status_code
    assert "1" == response.headers["retry-after"]
    assert "overloaded" == response.json()["error"]
    assert "APPSYNC_MAX_SEARCHES=1" in response.json()["message"]


def test_head_health_answers_200(tmp_path: Path) -> None:
    """Load balancers check with HEAD: 200, no body."""
    with TestClient(create_app(settings_for(tmp_path))) as client:
        head = client.head("/health")
        get = client.get("/health")

    assert (200, b"", 200) == (head.status_code, head.content, get.status_code)


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[PostgresServer]:
    """A PostgreSQL of this test's own (it is stopped under the app), stopped at the end."""
    server = PostgresServer(tmp_path / "postgres")
    server.start()
    yield server
    server.stop()


def test_search_with_the_database_down_is_a_json_503(
    own_postgres: PostgresServer, embedder: Embedder, tmp_path: Path
) -> None:
    """PostgreSQL stopped under a running app: 503 `index_unavailable` with Retry-After."""
    with fresh_database(own_postgres.start()) as database:
        settings = settings_for(tmp_path, index_url=database)
        app = create_app(settings, services=shared_model(embedder))
        try:
            with TestClient(app) as client:
                own_postgres.stop(immediate=True)
                response = client.get("/api/operations/search", params={"q": "list pets"})
        finally:
            own_postgres.start()  # the database is dropped on the way out

    assert 503 == response.status_code
    assert "index_unavailable" == response.json()["error"]
    assert "5" == response.headers["retry-after"]
