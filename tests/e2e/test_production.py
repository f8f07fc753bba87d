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
from urllib.parse import urlsplit

import httpx
import pytest
from inngest._internal import net as inngest_net
from joserfc import jwt
from joserfc.jwk import OctKey

from appsync.app import create_app
from appsync.cli.dev_server import free_port
from appsync.events import APP_SYNC_EVENT, redelivered_event
from appsync.settings.service import ServiceSettings
from harness.app_server import AppServer, wait_registered
from harness.inngest_api import InngestApi
from harness.inngest_server import InngestServer
from harness.settings import APP_ID, SLUG, make_settings, write_spec_urls
from harness.spec_server import SpecServer
from harness.waiting import wait_until

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
    """`inngest start` with a fresh SQLite dir, syncing the app itself (signed), as deployed.

    The app starts first, so that the server's first signed ping at start-up registers it.
    """
    port = free_port()
    server = InngestServer(
        binary=inngest_binary,
        workdir=tmp_path_factory.mktemp("inngest-start"),
        kind="start",
        signing_key=SIGNING_KEY,
        event_keys=(EVENT_KEY,),
        sdk_urls=(f"http://127.0.0.1:{port}/api/inngest",),
    )
    env_file = tmp_path_factory.mktemp("prod-app") / ".env"
    write_spec_urls(env_file, [spec_server.url("specs/oai_petstore_swagger2.json")])
    settings = make_settings(
        inngest_base_url=server.url,
        inngest_signing_key=SIGNING_KEY,
        inngest_event_key=EVENT_KEY,
        jwt_secret=JWT_SECRET,
        port=port,
        env_file_path=env_file,
    )
    api = InngestApi(server.url, signing_key=SIGNING_KEY)
    with AppServer(lambda: create_app(settings), port=port) as app, server:
        wait_registered(api, APP_ID)
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


def signed_headers(body: bytes, at: int) -> dict[str, str]:
    """An `X-Inngest-Signature` of `body` at unix time `at`, as the Inngest server signs."""
    signature = inngest_net.sign_request(body, SIGNING_KEY, at)
    assert isinstance(signature, str)
    return {"x-inngest-signature": signature, "content-type": "application/json"}


def the_app(production: Production) -> tuple[str, int, str]:
    """The app's serve URL as (host, port, path), the server's `localhost` for 127.0.0.1."""
    return ("localhost", production.app.port, "/api/inngest")


def registered_urls(production: Production) -> list[tuple[str | None, int | None, str]]:
    """The URLs the server calls, as (host, port, path) (it writes 127.0.0.1 as localhost)."""
    parts = [urlsplit(url) for url in production.api.app_urls(APP_ID)]
    return [(part.hostname, part.port, part.path) for part in parts]


def test_the_servers_unauthenticated_graphql_api_and_ui_are_not_served(
    production: Production,
) -> None:
    """`inngest start --no-ui`: no UI and no GraphQL; the REST API wants the signing key."""
    server = httpx.Client(base_url=production.server.url, timeout=10.0, trust_env=False)
    with server:
        ui = server.get("/")
        graphql = server.post("/v0/gql", json={"query": "{ apps { id } }"})
        anonymous = server.get("/v1/events")
        health = server.get("/health")

    assert (404, 404) == (ui.status_code, graphql.status_code)
    assert (401, 200) == (anonymous.status_code, health.status_code)


def test_status_reads_the_rest_api_from_queued_to_completed(
    production: Production, spec_server: SpecServer
) -> None:
    """Status works without the GraphQL API: running with the first spec done, then completed."""
    gate = f"prod-status-{secrets.token_hex(4)}"
    write_spec_urls(
        production.settings.env_file_path,
        [
            spec_server.url("specs/oai_petstore_swagger2.json"),
            spec_server.url(f"gate/{gate}/specs/redocly_museum.yaml"),
        ],
    )
    auth = {"Authorization": f"Bearer {token('status-user')}"}
    try:
        (sync_id,) = production.http.post("/api/route", headers=auth).json()["ids"]
        seen = [production.http.get(f"/api/openapi/sync/{sync_id}", headers=auth).json()]
        midway = wait_until(
            lambda: (
                (body := production.http.get(f"/api/openapi/sync/{sync_id}", headers=auth).json())[
                    "specs"
                ]
                and body
            ),
            timeout=30,
            what="the first spec shows as done",
            interval=0.1,
        )
    finally:
        spec_server.open_gate(gate)
    final = wait_until(
        lambda: (
            (body := production.http.get(f"/api/openapi/sync/{sync_id}", headers=auth).json())[
                "status"
            ]
            == "completed"
            and body
        ),
        timeout=60,
        what="the sync completed",
        interval=0.2,
    )

    assert seen[0]["status"] in {"queued", "running"}, seen
    assert ("running", [3]) == (midway["status"], [s["operations"] for s in midway["specs"]])
    assert {"specs": 2, "synced": 2, "failed": 0, "operations": 11} == final["totals"]
    wait_until(
        lambda: (
            production.http.get(f"/api/openapi/sync/{sync_id}", headers=auth).json()["indexed"]
            == 11
        ),
        timeout=60,
        what="every operation is indexed",
        interval=0.2,
    )


def test_a_batch_sent_again_as_the_sweep_would_is_indexed_under_its_sync(
    production: Production,
) -> None:
    """The copy the redelivery sweep sends of a batch event that never ran: the index takes it.

    A server that drops a stored batch event cannot be made on purpose (a CI run saw one, stored
    the moment PostgreSQL went down); what the sweep does then is: look the batch up by the id in
    the run's output, ask for its runs, and send the event the REST API shows under the copy's id.
    Here, on a real sync: the copy keeps its signature through the server's JSON, and its index
    run applies the batch to the same sync (its rows, nothing embedded again, not stale).
    """
    headers = {"Authorization": f"Bearer {token('batch-copy-user')}"}
    response = production.http.post("/api/route", headers=headers, json={})
    assert 200 == response.status_code, response.text
    (sync_id,) = response.json()["ids"]
    run = production.api.wait_for_run(sync_id)
    assert "Completed" == run["status"], run
    batch_id = run["output"]["specs"][0]["events"][0]
    assert production.api.runs(batch_id)  # what the sweep asks before it sends anything

    stored = production.api.event(batch_id)
    copy = redelivered_event(stored, batch_id)
    (copy_id,) = production.api.send(copy.model_dump(mode="json"), key=EVENT_KEY)
    copy_run = production.api.wait_for_run(copy_id)

    assert f"appsync-redelivery-{batch_id}" == production.api.event(copy_id)["id"]
    assert "Completed" == copy_run["status"], copy_run
    assert (len(stored["data"]["vectors"]), 0, False) == tuple(
        copy_run["output"].get(key) for key in ("documents", "embedded", "stale")
    ), copy_run["output"]
    status = production.http.get(f"/api/openapi/sync/{sync_id}", headers=headers).json()
    operations = run["output"]["totals"]["operations"]
    assert ("completed", operations) == (status["status"], status["indexed"])


def test_an_unsigned_sync_with_a_forged_host_changes_nothing(production: Production) -> None:
    """An unsigned PUT with `Host: evil` is refused, and the server keeps calling the real app."""
    before = production.api.app_urls(APP_ID)

    response = production.http.put("/api/inngest", headers={"Host": "evil.example:1"})

    assert 401 == response.status_code, response.text
    assert "not signed" in response.json()["message"]
    assert before == production.api.app_urls(APP_ID)
    assert [the_app(production)] == registered_urls(production)


def test_a_signed_sync_registers_the_configured_url_whatever_the_host(
    production: Production,
) -> None:
    """Even a validly signed PUT with a forged Host registers APPSYNC_PUBLIC_URL, not the Host."""
    body = b'{"url": "http://evil.example:1/api/inngest"}'

    response = production.http.put(
        "/api/inngest",
        content=body,
        headers={"Host": "evil.example:1", **signed_headers(body, int(time.time()))},
    )

    assert 200 == response.status_code, response.text
    assert [the_app(production)] == registered_urls(production)


def test_a_stale_signature_is_refused_and_a_fresh_one_accepted(production: Production) -> None:
    """A correctly signed call whose timestamp is 6 minutes old is refused: no replays."""
    body = b'{"url": "x"}'
    now = int(time.time())

    stale = production.http.put(
        "/api/inngest", content=body, headers=signed_headers(body, now - 360)
    )
    fresh = production.http.put("/api/inngest", content=body, headers=signed_headers(body, now))

    assert 401 == stale.status_code
    assert "older than 300 s are refused" in stale.json()["message"]
    assert 200 == fresh.status_code, fresh.text


def test_an_unauthenticated_post_gets_401_and_no_event_reaches_the_server(
    production: Production,
) -> None:
    """With APPSYNC_JWT_SECRET set, a plain curl is refused and the server stores nothing."""
    before = len(production.api.all_events(APP_SYNC_EVENT))

    response = production.http.post("/api/route", json={"data": "data"})
    production.api.flush(key=EVENT_KEY)  # a stray event sent before the sentinel is stored now

    assert 401 == response.status_code
    assert "missing credentials" in response.json()["message"]
    assert before == len(production.api.all_events(APP_SYNC_EVENT))


def post_to_another_app(production: Production, tmp_path: Path, **values: Any) -> httpx.Response:
    """A POST with a valid token to a second production app, configured with `values`."""
    env_file = tmp_path / ".env"
    write_spec_urls(env_file, ["http://127.0.0.1:9/openapi.json"])
    settings = make_settings(
        **{
            "inngest_base_url": production.server.url,
            "inngest_signing_key": SIGNING_KEY,
            "inngest_event_key": EVENT_KEY,
            "jwt_secret": JWT_SECRET,
            "env_file_path": env_file,
        }
        | values
    )
    with AppServer(lambda: create_app(settings)) as app:
        return httpx.post(
            f"{app.url}/api/route",
            headers={"Authorization": f"Bearer {token()}"},
            timeout=30.0,
            trust_env=False,
        )


def test_a_wrong_event_key_is_a_clear_5xx_never_success(
    production: Production, tmp_path: Path
) -> None:
    """An app with a key the server does not know answers 502 saying the key was refused."""
    wrong_key = f"wrong-{secrets.token_hex(8)}"
    response = post_to_another_app(production, tmp_path, inngest_event_key=wrong_key)

    assert 502 == response.status_code
    body = response.json()
    assert "success" not in body
    assert "Event key not found" in body["message"]
    assert "INNGEST_EVENT_KEY" in body["message"]
    assert wrong_key not in response.text


def test_a_storage_check_the_server_refuses_is_named_in_the_504(
    production: Production, tmp_path: Path
) -> None:
    """An app whose signing key the server refuses: the event is sent, the 504 names the 401."""
    response = post_to_another_app(
        production, tmp_path, inngest_signing_key="ab" * 32, send_timeout=1.0
    )

    assert 504 == response.status_code, response.text
    message = response.json()["message"]
    assert "the last check failed: GET /v1/events answered 401" in message
    assert "(check INNGEST_SIGNING_KEY)" in message
    assert "may or may not have been stored" in message


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


def test_a_sync_event_stored_but_never_run_is_sent_again_and_its_status_follows(
    inngest_binary: Path, spec_server: SpecServer, tmp_path: Path
) -> None:
    """An event the server stored and never ran is sent again once; the original completes.

    The server stores an event before it schedules its runs; one that stops in between (Redis
    killed, a SIGKILL) keeps the event and never runs it. Here the event arrives before any app
    is registered, which leaves it just as lost; then the app starts and its sweep finds it.
    """
    port = free_port()
    server = InngestServer(
        binary=inngest_binary,
        workdir=tmp_path / "inngest",
        kind="start",
        signing_key=SIGNING_KEY,
        event_keys=(EVENT_KEY,),
    )
    env_file = tmp_path / ".env"
    write_spec_urls(env_file, [spec_server.url("specs/redocly_museum.yaml")])
    settings = make_settings(
        inngest_base_url=server.url,
        inngest_signing_key=SIGNING_KEY,
        inngest_event_key=EVENT_KEY,
        jwt_secret=JWT_SECRET,
        port=port,
        env_file_path=env_file,
        redeliver_after=1.0,
    )
    user = {"id": "lost-user", "email": "lost-user@example.com"}
    settings_json = {"openapiUrls": [spec_server.url("specs/redocly_museum.yaml")]}
    with server:
        api = InngestApi(server.url, signing_key=SIGNING_KEY)
        (lost,) = api.send(
            {
                "name": APP_SYNC_EVENT,
                "v": "1",
                "user": user,
                "data": {"appSettings": settings_json, "user": user},
            },
            key=EVENT_KEY,
        )
        api.event(lost)  # stored, and no function to run
        with AppServer(lambda: create_app(settings), port=port) as app:
            body = b"{}"
            registered = httpx.put(
                f"{app.url}/api/inngest",
                content=body,
                headers=signed_headers(body, int(time.time())),
                trust_env=False,
                timeout=30.0,
            )
            assert 200 == registered.status_code, registered.text
            wait_registered(api, APP_ID)
            headers = {"Authorization": f"Bearer {token('lost-user')}"}

            def completed() -> dict[str, Any] | None:
                response = httpx.get(
                    f"{app.url}/api/openapi/sync/{lost}", headers=headers, trust_env=False
                )
                assert 200 == response.status_code, response.text
                status: dict[str, Any] = response.json()
                done = status["status"] == "completed" and status["indexed"] == 8
                return status if done else None

            status = wait_until(
                completed, timeout=90, what="the lost sync completed and indexed", interval=0.5
            )
            metrics = httpx.get(f"{app.url}/metrics", trust_env=False).text
        copies = [e for e in api.all_events(APP_SYNC_EVENT) if e["internal_id"] != lost]
        runs = {
            event_id: api.runs(event_id) for event_id in [lost, *(e["internal_id"] for e in copies)]
        }
        api.close()

    assert (lost, 1) == (status["id"], status["totals"]["synced"])
    (copy,) = copies
    assert f"appsync-redelivery-{lost}" == copy["id"]
    assert {"appSettings": settings_json, "user": user, "redeliveryOf": lost} == copy["data"]
    assert ([], 1) == (runs[lost], len(runs[copy["internal_id"]]))
    assert 'appsync_syncs_redelivered_total{outcome="sent"} 1.0' in metrics
