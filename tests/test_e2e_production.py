"""Production mode end to end, against the self-hosted `inngest start` (signing and event keys)."""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from appsync.app import create_app
from appsync.config import ServiceSettings
from appsync.devserver import InngestServer, free_port
from appsync.events import APP_SYNC_EVENT
from tests.conftest import SLUG, make_settings, write_spec_urls
from tests.support.app_server import AppServer, sync_app
from tests.support.inngest_api import InngestApi
from tests.support.spec_server import SpecServer

pytestmark = pytest.mark.e2e

# `inngest start` wants an even-length hex signing key (its length check counts any prefix).
SIGNING_KEY = secrets.token_hex(32)
EVENT_KEY = f"evt-{secrets.token_hex(16)}"
JWT_SECRET = f"jwt-{secrets.token_hex(24)}"


def token(sub: str = "prod-user", **extra: Any) -> str:
    """A valid bearer token for the production app."""
    claims = {"sub": sub, "email": f"{sub}@example.com", "exp": int(time.time()) + 300} | extra
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(JWT_SECRET))


@dataclass
class Production:
    """The app in production mode, synced with a self-hosted server."""

    app: AppServer
    api: InngestApi
    server: InngestServer
    settings: ServiceSettings
    http: httpx.Client


@pytest.fixture(scope="session")
def production(
    inngest_binary: Path, spec_server: SpecServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Production]:
    """`inngest start` with a fresh SQLite dir, and the app synced with it (checked)."""
    server = InngestServer(
        binary=inngest_binary,
        workdir=tmp_path_factory.mktemp("inngest-start"),
        mode="start",
        signing_key=SIGNING_KEY,
        event_keys=(EVENT_KEY,),
    )
    env_file = tmp_path_factory.mktemp("prod-app") / ".env"
    write_spec_urls(env_file, [spec_server.url("specs/oai_petstore_swagger2.json")])
    port = free_port()
    with server:
        settings = make_settings(
            inngest_base_url=server.url,
            inngest_signing_key=SIGNING_KEY,
            inngest_event_key=EVENT_KEY,
            jwt_secret=JWT_SECRET,
            port=port,
            env_file_path=env_file,
        )
        api = InngestApi(server.url, signing_key=SIGNING_KEY)
        with AppServer(create_app(settings), port=port) as app:
            sync_app(app.url, api, SLUG)
            with httpx.Client(base_url=app.url, timeout=30.0, trust_env=False) as http:
                yield Production(app, api, server, settings, http)
        api.close()


def test_an_authenticated_post_leads_to_a_completed_run(production: Production) -> None:
    """A valid bearer token: 200, the event carries the verified user, the run completes."""
    response = production.http.post(
        "/api/route",
        headers={"Authorization": f"Bearer {token('prod-user')}"},
        json={"data": "data", "user": {"id": "someone-else"}},
    )

    assert 200 == response.status_code, response.text
    (event_id,) = response.json()["ids"]
    stored = production.api.event(event_id)
    assert {"id": "prod-user", "email": "prod-user@example.com"} == stored["user"]
    assert stored["user"] == stored["data"]["user"]
    run = production.api.wait_for_run(event_id)
    assert "Completed" == run["status"], run
    assert {"specs": 1, "synced": 1, "failed": 0, "operations": 3, "batches": 1} == run["output"][
        "totals"
    ]


def test_unsigned_calls_to_the_inngest_endpoint_are_refused(production: Production) -> None:
    """Without a valid `x-inngest-signature`, /api/inngest refuses to run functions."""
    url = f"/api/inngest?fnId={SLUG}&stepId=step"
    unsigned = production.http.post(url, json={"event": {}, "steps": {}})
    forged = production.http.post(
        url,
        json={"event": {}, "steps": {}},
        headers={"x-inngest-signature": f"t={int(time.time())}&s={'0' * 64}"},
    )

    assert (401, 401) == (unsigned.status_code, forged.status_code)


def test_an_unauthenticated_post_gets_401_and_no_event_reaches_the_server(
    production: Production,
) -> None:
    """With APPSYNC_JWT_SECRET set, a plain curl is refused and the server stores nothing."""
    before = len(production.api.all_events(APP_SYNC_EVENT))

    response = production.http.post("/api/route", json={"data": "data"})
    time.sleep(1.0)  # events are stored asynchronously: give a stray one time to appear

    assert 401 == response.status_code
    assert "missing credentials" in response.json()["message"]
    assert before == len(production.api.all_events(APP_SYNC_EVENT))


def test_a_wrong_event_key_is_a_clear_5xx_never_success(
    production: Production, tmp_path: Path
) -> None:
    """An app with a key the server does not know answers 502 saying the key was refused."""
    wrong_key = f"wrong-{secrets.token_hex(8)}"
    env_file = tmp_path / ".env"
    write_spec_urls(env_file, ["http://127.0.0.1:9/openapi.json"])
    settings = make_settings(
        inngest_base_url=production.server.url,
        inngest_signing_key=SIGNING_KEY,
        inngest_event_key=wrong_key,
        jwt_secret=JWT_SECRET,
        env_file_path=env_file,
    )
    with AppServer(create_app(settings)) as app:
        response = httpx.post(
            f"{app.url}/api/route",
            headers={"Authorization": f"Bearer {token()}"},
            timeout=30.0,
            trust_env=False,
        )

    assert 502 == response.status_code
    body = response.json()
    assert "success" not in body
    assert "Event key not found" in body["message"]
    assert "INNGEST_EVENT_KEY" in body["message"]
    assert wrong_key not in response.text


def test_no_secret_leaks_into_events_logs_or_error_bodies(
    production: Production, caplog: pytest.LogCaptureFixture
) -> None:
    """A whole sync, logged at DEBUG: no key or secret in the stored events, logs or answers."""
    with caplog.at_level(logging.DEBUG):
        ok = production.http.post("/api/route", headers={"Authorization": f"Bearer {token()}"})
        refused = production.http.post("/api/route", headers={"Authorization": "Bearer x.y.z"})
        (event_id,) = ok.json()["ids"]
        run = production.api.wait_for_run(event_id)
        stored = production.api.event(event_id)

    assert "Completed" == run["status"]
    logged = "\n".join(
        f"{record.getMessage()} {record.exc_text or ''}" for record in caplog.records
    )
    assert f"/e/{EVENT_KEY}" not in logged  # httpx logs request URLs: the key is scrubbed
    assert "/e/***" in logged
    for secret in (SIGNING_KEY, EVENT_KEY, JWT_SECRET):
        assert secret not in json.dumps(stored)
        assert secret not in json.dumps(run)
        assert secret not in logged
        assert secret not in ok.text
        assert secret not in refused.text
