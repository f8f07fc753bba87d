"""Sync status and per-user flow control, on a real `inngest dev` server.

The app here has a JWT secret (dev mode), so that requests can come from different users.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from appsync.cli.dev_server import free_port
from appsync.search.embedding import Embedder
from appsync.sync.batches import load_documents
from harness.app_server import synced_app
from harness.cli import appsync
from harness.inngest_api import InngestApi
from harness.inngest_server import InngestServer
from harness.paths import SPECS_DIR
from harness.settings import make_settings, shared_model, write_spec_urls
from harness.spec_server import SpecServer
from harness.waiting import wait_until

pytestmark = pytest.mark.e2e

APP_ID = "appsync-flow"
JWT_SECRET = f"jwt-{secrets.token_hex(24)}"
STALL_AFTER = 4.0  # the stall test's bound; the others keep the default
TERMINAL = {"completed", "failed", "cancelled", "skipped", "stalled"}


def token(user: str) -> str:
    """A bearer token for `user`."""
    claims = {"sub": user, "exp": int(time.time()) + 600}
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(JWT_SECRET))


@dataclass
class Flow:
    """The app (with auth) synced with the shared dev server."""

    http: httpx.Client
    specs: SpecServer
    env_file: Path

    url: str

    def sync(self, user: str) -> str:
        """POST a sync as `user`; the sync's id."""
        response = self.http.post("/api/route", headers={"Authorization": f"Bearer {token(user)}"})
        assert 200 == response.status_code, response.text
        sync_id: str = response.json()["ids"][0]
        return sync_id

    def status(self, sync_id: str, user: str) -> httpx.Response:
        """GET the sync's status as `user`."""
        return self.http.get(
            f"/api/openapi/sync/{sync_id}", headers={"Authorization": f"Bearer {token(user)}"}
        )

    def final(self, sync_id: str, user: str, timeout: float = 90.0) -> dict[str, Any]:
        """The status once it is terminal; the states seen on the way are in `seen`."""
        seen: list[str] = []

        def ended() -> dict[str, Any] | None:
            body: dict[str, Any] = self.status(sync_id, user).json()
            if not seen or seen[-1] != body["status"]:
                seen.append(body["status"])
            return body if body["status"] in TERMINAL else None

        body = wait_until(ended, timeout=timeout, what=f"sync {sync_id} ended", interval=0.1)
        body["seen"] = seen
        return body


@contextmanager
def flow_on_own_server(
    binary: Path, specs: SpecServer, embedder: Embedder, workdir: Path, **values: Any
) -> Iterator[Flow]:
    """The service with APPSYNC_JWT_SECRET (and `values`), on a dev server of its own.

    Its own, so that no other test's app consumes its events (and it none of theirs).
    """
    env_file = workdir / ".env"
    write_spec_urls(env_file, [specs.url("specs/oai_petstore_swagger2.json")])
    with InngestServer(binary=binary, workdir=workdir / "inngest") as server:
        api = InngestApi(server.url)
        settings = make_settings(
            **{
                "app_id": APP_ID,
                "inngest_dev": server.url,
                "port": free_port(),
                "env_file_path": env_file,
                "jwt_secret": JWT_SECRET,
                "retries": 1,
                "retry_delay": 0.1,
                "fetch_timeout": 30.0,
                "data_dir": workdir / "data",
            }
            | values
        )
        with synced_app(settings, api, shared_model(embedder)) as (app, http):
            yield Flow(http, specs, env_file, app.url)
        api.close()


@pytest.fixture(scope="module")
def flow(
    inngest_binary: Path,
    spec_server: SpecServer,
    embedder: Embedder,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Flow]:
    """The service with APPSYNC_JWT_SECRET, on a dev server of its own."""
    workdir = tmp_path_factory.mktemp("flow")
    with flow_on_own_server(inngest_binary, spec_server, embedder, workdir) as flow:
        yield flow


def test_status_moves_to_completed_with_the_previews_counts(flow: Flow) -> None:
    """A sync of Stripe and Xero goes queued/running → completed with the preview's counts."""
    names = ["stripe_spec3.json", "xero_accounting.yaml"]
    write_spec_urls(flow.env_file, [flow.specs.url(f"specs/{name}") for name in names])
    preview = {
        name: len(load_documents((SPECS_DIR / name).read_bytes()).documents) for name in names
    }
    user = f"status-{secrets.token_hex(4)}"

    sync_id = flow.sync(user)
    body = flow.final(sync_id, user)

    assert "completed" == body["status"], body
    assert body["seen"][0] in {"queued", "running"}
    assert [preview[name] for name in names] == [spec["operations"] for spec in body["specs"]]
    assert ["synced", "synced"] == [spec["status"] for spec in body["specs"]]
    assert {"specs": 2, "synced": 2, "failed": 0, "operations": sum(preview.values())} == (
        body["totals"]
    )
    assert body["startedAt"] is not None
    assert body["endedAt"] is not None
    indexed = wait_until(
        lambda: (n := flow.status(sync_id, user).json()["indexed"]) == sum(preview.values()) and n,
        timeout=120,
        what="every operation of the sync is in the index",
        interval=0.5,
    )
    assert sum(preview.values()) == indexed


def test_progress_shows_the_specs_done_while_the_run_goes_on(flow: Flow) -> None:
    """While a slow second spec loads, the status is `running` with the first spec done."""
    write_spec_urls(
        flow.env_file,
        [
            flow.specs.url("specs/oai_petstore_swagger2.json"),
            flow.specs.url("slow/2/specs/redocly_museum.yaml"),
        ],
    )
    user = f"progress-{secrets.token_hex(4)}"
    sync_id = flow.sync(user)

    midway = wait_until(
        lambda: (body := flow.status(sync_id, user).json())["specs"] and body,
        timeout=30,
        what="the first spec shows as done",
        interval=0.1,
    )
    final = flow.final(sync_id, user)

    assert "running" == midway["status"], midway
    assert [("synced", 3)] == [(spec["status"], spec["operations"]) for spec in midway["specs"]]
    assert {"specs": 2, "synced": 2, "failed": 0, "operations": 11} == final["totals"]


def test_a_failed_spec_shows_its_error(flow: Flow) -> None:
    """A spec URL answering 404 is `failed` with the reason; the sync itself completes."""
    good = flow.specs.url("specs/oai_petstore_swagger2.json")
    missing = flow.specs.url("specs/no-such-spec.json")
    write_spec_urls(flow.env_file, [good, missing])
    user = f"failing-{secrets.token_hex(4)}"

    body = flow.final(flow.sync(user), user)

    assert "completed" == body["status"], body
    (ok, failed) = body["specs"]
    assert ("synced", 3) == (ok["status"], ok["operations"])
    assert (missing, "failed") == (failed["url"], failed["status"])
    assert "HTTP 404" in failed["error"]
    assert {"specs": 2, "synced": 1, "failed": 1, "operations": 3} == body["totals"]


def test_five_rapid_posts_by_one_user_end_in_one_completed_sync(flow: Flow) -> None:
    """Five POSTs in a row: one completes, the others are cancelled or skipped (never failed).

    The one that completes is the last, unless the server skipped the ones after it because it
    was running (its singleton race, docs/architecture.md): then each of those says so and names
    the sync that completed.
    """
    write_spec_urls(
        flow.env_file,
        [flow.specs.url("specs/stripe_spec3.json"), flow.specs.url("specs/xero_accounting.yaml")],
    )
    user = f"clicker-{secrets.token_hex(4)}"

    ids = [flow.sync(user) for _ in range(5)]
    bodies = [flow.final(sync_id, user) for sync_id in ids]
    states = [body["status"] for body in bodies]

    assert 1 == states.count("completed"), states
    assert set(states) <= {"completed", "cancelled", "skipped"}, states
    winner = states.index("completed")
    for later in bodies[winner + 1 :]:  # none when the last one won
        assert "skipped" == later["status"], states
        assert ids[winner] in later["message"], later


def test_two_posts_a_moment_apart_say_truly_what_became_of_each(flow: Flow) -> None:
    """One completes; the other is cancelled or skipped, and its message names the sync that won."""
    write_spec_urls(flow.env_file, [flow.specs.url("specs/xero_accounting.yaml")])
    user = f"double-{secrets.token_hex(4)}"

    with ThreadPoolExecutor(2) as pool:
        ids = list(pool.map(lambda _: flow.sync(user), range(2)))
    bodies = {sync_id: flow.final(sync_id, user) for sync_id in ids}

    assert ["completed"] == [b["status"] for b in bodies.values() if b["status"] == "completed"]
    (winner,) = [sync_id for sync_id, body in bodies.items() if body["status"] == "completed"]
    (loser,) = [body for sync_id, body in bodies.items() if sync_id != winner]
    assert loser["status"] in {"cancelled", "skipped"}, loser
    assert winner in loser["message"], loser["message"]


def test_two_users_sync_at_the_same_time_and_both_complete(flow: Flow) -> None:
    """Syncs of different users are not serialised against each other: both complete."""
    write_spec_urls(flow.env_file, [flow.specs.url("specs/stripe_spec3.json")])
    users = [f"parallel-{n}-{secrets.token_hex(4)}" for n in range(2)]

    with ThreadPoolExecutor(2) as pool:
        ids = list(pool.map(flow.sync, users))
    states = [flow.final(sync_id, user)["status"] for sync_id, user in zip(ids, users, strict=True)]

    assert ["completed", "completed"] == states


def test_another_users_sync_is_not_found(flow: Flow) -> None:
    """Only the user who triggered a sync sees it: anyone else gets 404, as for no such id."""
    write_spec_urls(flow.env_file, [flow.specs.url("specs/oai_petstore_swagger2.json")])
    sync_id = flow.sync("owner")
    flow.final(sync_id, "owner")

    theirs = flow.status(sync_id, "someone-else")
    unknown = flow.status("01M8JDTRY6KSBTTHJ5ZDRB87KM", "owner")
    anonymous = flow.http.get(f"/api/openapi/sync/{sync_id}")

    assert (404, 404, 401) == (theirs.status_code, unknown.status_code, anonymous.status_code)
    assert theirs.json() == {"error": "not_found", "message": f"no sync {sync_id} for this user"}


def test_a_run_without_progress_is_reported_stalled(
    inngest_binary: Path, spec_server: SpecServer, embedder: Embedder, tmp_path: Path
) -> None:
    """A run stuck in one call longer than APPSYNC_STALL_AFTER shows `stalled` and what to do."""
    user = f"stuck-{secrets.token_hex(4)}"
    gate = f"stuck-{user}"
    with flow_on_own_server(
        inngest_binary, spec_server, embedder, tmp_path, stall_after=STALL_AFTER
    ) as flow:
        write_spec_urls(
            flow.env_file, [spec_server.url(f"gate/{gate}/specs/oai_petstore_swagger2.json")]
        )
        try:
            body = flow.final(flow.sync(user), user, timeout=30.0)
        finally:
            spec_server.open_gate(gate)  # the stuck fetch ends, so the app stops at once

    assert "stalled" == body["status"], (body["seen"], [s.get("error") for s in body["specs"]])
    assert "POST the sync again" in body["message"]


def test_the_cli_syncs_waits_and_reports(flow: Flow) -> None:
    """`appsync sync --wait` POSTs, follows the sync to the end; `appsync status` shows it."""
    write_spec_urls(flow.env_file, [flow.specs.url("specs/oai_petstore_swagger2.json")])
    auth = ("--url", flow.url, "--token", token("cli-user"))

    synced = appsync("sync", "--wait", *auth)
    sync_id = synced.stdout.splitlines()[0]
    shown = appsync("status", sync_id, *auth)

    assert 0 == synced.returncode, synced.stderr
    assert "completed: 1/1 specs" in synced.stderr  # not a terminal: one line per change
    assert "completed" == json.loads(shown.stdout)["status"]
    assert 3 == json.loads(shown.stdout)["totals"]["operations"]


def test_the_cli_names_a_refused_request(flow: Flow) -> None:
    """`appsync status` with no token: exit 1 and the service's reason."""
    result = appsync("status", "01M8JDTRY6KSBTTHJ5ZDRB87KM", "--url", flow.url)

    assert 1 == result.returncode
    assert "answered 401: missing credentials" in result.stderr
