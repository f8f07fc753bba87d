"""The production topology under load and faults: `scripts/cluster`, shared by the module.

PostgreSQL (Inngest's state and the index), Redis, `inngest start --no-ui` on both, two
`appsync serve` replicas in production mode behind nginx, all started by `scripts/cluster up`.
Each test restores whatever a fault stopped (`up` again) and uses users of its own, so the tests
share one cluster. Faults are SIGKILLs; the Inngest server retries a failed call every 2 s
(`--retry-interval 2`, up to APPSYNC_RETRIES=10 times) instead of its backoff table, so that a
test takes seconds, not minutes. The cluster runs at `nice 10`: its first test indexes 8,500
documents (each distinct text embedded about once per replica: `EmbeddingFlights` and the shared
vector cache), and the suite's other worker runs tests with time limits of their own meanwhile.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.cluster import (
    Cluster,
    alive,
    indexed_rows,
    kill,
    post_sync,
    sync_status,
)
from harness.metrics import Samples, scrape, total
from harness.postgres import PostgresServer
from harness.settings import write_spec_urls
from harness.spec_server import SpecServer
from harness.syncs import spec_uids
from harness.waiting import wait_until

pytestmark = pytest.mark.e2e

STRIPE = "stripe_spec3.json"  # 417 operations, five batches
MUSEUM = "redocly_museum.yaml"  # 8 operations, one batch
BOTH = spec_uids(STRIPE, MUSEUM)
USERS = 20


@dataclass
class Deployment:
    """The module's cluster and the app settings file its replicas read on every POST."""

    cluster: Cluster
    settings_file: Path
    specs: SpecServer

    def use_specs(self, *names: str) -> None:
        """The spec URLs of the next POSTs."""
        write_spec_urls(self.settings_file, [self.specs.url(f"specs/{name}") for name in names])


@pytest.fixture(scope="module")
def deployment(
    inngest_binary: Path, spec_server: SpecServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """`scripts/cluster up` with two replicas, `down` at the end."""
    assert inngest_binary.is_file()  # the script runs $APPSYNC_INNGEST_BIN
    settings_file = tmp_path_factory.mktemp("cluster-settings") / ".env"
    cluster = Cluster(
        tmp_path_factory.mktemp("cluster"),
        {
            "APPSYNC_ENV_FILE": str(settings_file),
            "APPSYNC_RETRY_DELAY": "1",
            "APPSYNC_RETRIES": "10",
        },
        retry_interval=2,
        nice=10,
    )
    try:
        cluster.up(replicas=2)
        yield Deployment(cluster, settings_file, spec_server)
    finally:
        cluster.down()


@pytest.fixture
def cluster(deployment: Deployment) -> Cluster:
    """The cluster with every part running (an earlier test's fault undone)."""
    deployment.cluster.up()
    return deployment.cluster


def post_all(cluster: Cluster, users: list[str]) -> dict[str, str]:
    """One sync POST per user, all at once through the load balancer; each user's sync id."""

    def post(user: str) -> str:
        response = post_sync(cluster.topology.app_url, cluster.headers(user))
        assert 200 == response.status_code, response.text
        (sync_id,) = response.json()["ids"]
        return str(sync_id)

    with concurrent.futures.ThreadPoolExecutor(len(users)) as pool:
        return dict(zip(users, pool.map(post, users), strict=True))


def wait_synced(
    cluster: Cluster, syncs: dict[str, str], operations: int, timeout: float = 240.0
) -> dict[str, dict[str, Any]]:
    """Every sync completed with all its operations indexed; the statuses, read through the LB."""
    done: dict[str, dict[str, Any]] = {}

    def all_done() -> bool:
        for user, sync_id in syncs.items():
            if user in done:
                continue
            status = sync_status(cluster.topology.app_url, sync_id, cluster.headers(user))
            assert status["status"] in {"queued", "running", "completed"}, (user, status)
            if status["status"] == "completed" and status["indexed"] == operations:
                done[user] = status
        return len(done) == len(syncs)

    try:
        wait_until(
            all_done,
            timeout=timeout,
            what=f"{len(syncs)} syncs completed with {operations} operations indexed each",
            interval=0.5,
        )
    except AssertionError as failure:
        late = {
            user: sync_status(cluster.topology.app_url, syncs[user], cluster.headers(user))
            for user in syncs
            if user not in done
        }
        raise AssertionError(f"{failure}; not done: {late}") from None
    return done


def search(base_url: str, q: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """GET /api/operations/search from one replica: the top three hits."""
    response = httpx.get(
        f"{base_url}/api/operations/search",
        params={"q": q, "k": "3"},
        headers=headers,
        timeout=30.0,
        trust_env=False,
    )
    assert 200 == response.status_code, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def scrape_all(cluster: Cluster) -> list[Samples]:
    """Every replica's metrics."""
    return [scrape(url) for url in cluster.topology.replica_urls]


def grown(before: list[Samples], after: list[Samples], name: str, **labels: str) -> float:
    """How much a counter grew, summed over the replicas."""
    return total(after, name, **labels) - total(before, name, **labels)


def indexed(before: list[Samples], after: list[Samples]) -> float:
    """How many more index runs the replicas counted as indexed."""
    return grown(before, after, "appsync_index_batches_total", outcome="indexed")


def failed_runs(before: list[Samples], after: list[Samples]) -> float:
    """How many more index runs the replicas counted as failed (to be retried)."""
    return grown(before, after, "appsync_index_batches_total", outcome="error")


def test_up_again_leaves_the_running_cluster_alone(cluster: Cluster) -> None:
    """A second `up` prints the same URLs and pids: nothing was restarted."""
    first = cluster.topology

    again = cluster.up()

    assert first == again
    assert 2 == len(again.replica_urls)
    assert all(alive(pid) for pid in (*again.replica_pids, again.inngest_pid, again.redis_pid))


def test_twenty_users_sync_at_once_through_the_load_balancer(
    deployment: Deployment, cluster: Cluster
) -> None:
    """20 users sync stripe + museum at once: all complete, each row once, the metrics add up."""
    deployment.use_specs(STRIPE, MUSEUM)
    users = [f"load-{n:02d}" for n in range(USERS)]
    before = scrape_all(cluster)

    syncs = post_all(cluster, users)
    wait_synced(cluster, syncs, len(BOTH), timeout=420)
    rows = indexed_rows(cluster.topology.postgres_url, "load-")
    a, b = cluster.topology.replica_urls
    from_a = {user: sync_status(a, syncs[user], cluster.headers(user)) for user in users}
    from_b = {user: sync_status(b, syncs[user], cluster.headers(user)) for user in users}
    hits = [search(url, "create a refund", cluster.headers(users[-1])) for url in (a, b)]
    batches = USERS * 6  # five of stripe, one of museum
    after = wait_until(
        lambda: found if indexed(before, found := scrape_all(cluster)) >= batches else None,
        timeout=30,
        what="the replicas counted every index run",
    )

    assert dict.fromkeys(users, BOTH) == rows
    assert from_a == from_b
    assert hits[0] == hits[1]
    assert "PostRefunds" == hits[0][0]["operationId"]
    assert {"completed"} == {status["status"] for status in from_a.values()}
    assert {len(BOTH)} == {status["indexed"] for status in from_a.values()}
    counted = {
        "accepted POSTs": grown(before, after, "appsync_sync_requests_total", outcome="accepted"),
        "completed syncs": grown(before, after, "appsync_syncs_total", outcome="completed"),
        "specs fetched": grown(before, after, "appsync_spec_fetches_total", outcome="ok"),
        "batches indexed": grown(before, after, "appsync_index_batches_total", outcome="indexed"),
        "documents": sum(
            grown(before, after, "appsync_index_documents_total", result=result)
            for result in ("embedded", "reused", "unchanged")
        ),
    }
    assert {
        "accepted POSTs": USERS,
        "completed syncs": USERS,
        "specs fetched": 2 * USERS,
        "batches indexed": batches,
        "documents": USERS * len(BOTH),
    } == counted
    # Each distinct text is embedded at most once per replica, however many users sync it at once.
    assert grown(before, after, "appsync_index_documents_total", result="embedded") <= 2 * len(BOTH)
    for replica_before, replica_after in zip(before, after, strict=True):  # both took work
        assert indexed([replica_before], [replica_after]) > 0
    assert grown(before, after, "appsync_storage_confirm_seconds_count") >= USERS


def test_an_app_replica_killed_mid_sync_loses_and_doubles_nothing(
    deployment: Deployment, cluster: Cluster
) -> None:
    """SIGKILL one replica while it works: Inngest's retries reach the other through the LB."""
    deployment.use_specs(STRIPE, MUSEUM)
    users = ["replica-kill-0", "replica-kill-1"]
    victim = cluster.topology.replica_pids[0]

    syncs = post_all(cluster, users)
    wait_until(
        lambda: indexed_rows(cluster.topology.postgres_url, "replica-kill-"),
        timeout=120,
        what="the first batch is indexed",
        interval=0.1,
    )
    kill(victim)
    wait_synced(cluster, syncs, len(BOTH))
    rows = indexed_rows(cluster.topology.postgres_url, "replica-kill-")
    restarted = cluster.up()

    assert dict.fromkeys(users, BOTH) == rows
    assert victim not in restarted.replica_pids
    assert all(alive(pid) for pid in restarted.replica_pids)


@dataclass
class PostStream:
    """POSTs one after another, each for a new user, until stopped; what each was answered."""

    cluster: Cluster
    prefix: str
    answers: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Start posting."""
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            user = f"{self.prefix}{len(self.answers):03d}"
            try:
                response = post_sync(self.cluster.topology.app_url, self.cluster.headers(user))
            except httpx.HTTPError as exc:
                self.answers.append((user, 0, {"error": str(exc)}))
                continue
            self.answers.append((user, response.status_code, response.json()))

    def stop(self) -> None:
        """Stop posting (the POST in flight finishes)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def accepted(self) -> dict[str, str]:
        """Each user answered "success", with the sync's id."""
        return {
            user: str(body["ids"][0])
            for user, status, body in self.answers
            if status == 200 and body.get("success") == "true"
        }


def assert_refused_clearly(response: httpx.Response) -> None:
    """A 502 or 504 with the route's JSON error, never a success."""
    assert response.status_code in {502, 504}, response.text
    body = response.json()
    assert "event_not_sent" == body["error"]
    assert "success" not in body
    assert "Inngest server" in body["message"]


def fault_mid_sync(
    deployment: Deployment,
    prefix: str,
    stop: Callable[[], None],
    *,
    stream_through: bool,
) -> tuple[dict[str, str], dict[str, str], httpx.Response]:
    """Two stripe + museum syncs and a stream of museum syncs; `stop()` once work is under way.

    Returns the heavy syncs, every sync the stream was answered "success" for (`stream_through`:
    until the part was down, else until just before `stop()`), and the answer to a POST made once
    it was down; the cluster is up again when it returns.
    """
    cluster = deployment.cluster
    deployment.use_specs(STRIPE, MUSEUM)
    heavy = post_all(cluster, [f"{prefix}heavy-0", f"{prefix}heavy-1"])
    deployment.use_specs(MUSEUM)
    stream = PostStream(cluster, f"{prefix}stream-")
    stream.start()
    try:
        wait_until(
            lambda: indexed_rows(cluster.topology.postgres_url, f"{prefix}heavy-"),
            timeout=120,
            what="the heavy syncs' first batch is indexed",
            interval=0.1,
        )
        wait_until(
            lambda: len(stream.accepted()) >= 3, timeout=60, what="three streamed syncs accepted"
        )
        if not stream_through:
            stream.stop()
        stop()
        while_down = post_sync(cluster.topology.app_url, cluster.headers(f"{prefix}while-down"))
    finally:
        stream.stop()
    cluster.up()
    return heavy, stream.accepted(), while_down


def test_the_inngest_server_killed_mid_sync_resumes_on_the_same_state(
    deployment: Deployment, cluster: Cluster
) -> None:
    """SIGKILL the server (and its supervisor): a POST meanwhile is a clear 5xx; `up` resumes all.

    Every event the route answered "success" for before the kill was stored, and its sync runs
    to completion once the server is back on the same PostgreSQL and Redis.
    """
    topology = cluster.topology

    def stop() -> None:
        kill(cluster.supervisor_pid())  # else it starts the server again within a second
        kill(topology.inngest_pid)

    heavy, streamed, while_down = fault_mid_sync(
        deployment, "inngest-kill-", stop, stream_through=True
    )

    assert_refused_clearly(while_down)
    assert topology.inngest_pid != cluster.topology.inngest_pid
    wait_synced(cluster, heavy, len(BOTH))
    wait_synced(cluster, streamed, len(spec_uids(MUSEUM)))
    rows = indexed_rows(cluster.topology.postgres_url, "inngest-kill-")
    assert dict.fromkeys(heavy, BOTH) == {user: rows[user] for user in heavy}
    assert {user: spec_uids(MUSEUM) for user in streamed} == {user: rows[user] for user in streamed}


def test_redis_killed_mid_sync_and_started_again_loses_nothing(
    deployment: Deployment, cluster: Cluster
) -> None:
    """SIGKILL Redis: a POST meanwhile is a clear 5xx; once it is back every sync completes."""
    topology = cluster.topology

    def stop() -> None:
        kill(topology.redis_pid)
        # Its supervisor kills it within half a second (scripts/cluster: under load, the server
        # would go on accepting events it cannot schedule for up to 45 s).
        wait_until(
            lambda: not alive(topology.inngest_pid),
            timeout=10,
            what="the Inngest server is stopped without Redis",
        )

    heavy, streamed, while_down = fault_mid_sync(
        deployment, "redis-kill-", stop, stream_through=False
    )

    assert_refused_clearly(while_down)
    wait_synced(cluster, heavy, len(BOTH))
    wait_synced(cluster, streamed, len(spec_uids(MUSEUM)))
    rows = indexed_rows(cluster.topology.postgres_url, "redis-kill-")
    assert dict.fromkeys(heavy, BOTH) == {user: rows[user] for user in heavy}
    assert {user: spec_uids(MUSEUM) for user in streamed} == {user: rows[user] for user in streamed}


def test_a_run_whose_state_the_server_lost_is_sent_again_and_completes(
    deployment: Deployment, cluster: Cluster
) -> None:
    """A run that lost its state in Redis never starts: the sweep sends its event again.

    What the server and Redis kills leave now and then (docs/production.md), made on purpose:
    with the load balancer down the server cannot call the app, so the run waits in its queue;
    its state is deleted from Redis, the load balancer comes back, and the server fails the run's
    queue item for good ("run not found in state store"). After APPSYNC_REDELIVER_AFTER (30 s)
    a replica's sweep sends the event again and the original's status follows the copy.
    """
    deployment.use_specs(MUSEUM)
    user = "lost-state-0"
    api = cluster.api()
    try:
        cluster.stop_load_balancer()
        response = post_sync(cluster.topology.replica_urls[0], cluster.headers(user))
        assert 200 == response.status_code, response.text
        (sync_id,) = response.json()["ids"]
        (run,) = wait_until(lambda: api.runs(sync_id), timeout=30, what="the sync has a run")
        assert [] != cluster.forget_run_state(run["run_id"])
        cluster.up()

        (status,) = wait_synced(cluster, {user: sync_id}, len(spec_uids(MUSEUM)), 120).values()
        copies = [
            event
            for event in api.all_events("openapi/app.sync", max_pages=20)
            if event.get("data", {}).get("redeliveryOf") == sync_id
        ]
        runs = api.runs(sync_id)
        copy_runs = [run for copy in copies for run in api.runs(copy["internal_id"])]
    finally:
        api.close()
    rows = indexed_rows(cluster.topology.postgres_url, user)

    assert (sync_id, 8) == (status["id"], status["totals"]["operations"])
    # Each replica's sweep may send the copy; the server runs its id once.
    assert {f"appsync-redelivery-{sync_id}"} == {copy["id"] for copy in copies}
    assert ["Completed"] == [run["status"] for run in copy_runs]
    assert [None] == [lost.get("ended_at") for lost in runs]  # the original run never started
    assert {user: spec_uids(MUSEUM)} == rows


def test_postgres_killed_mid_indexing_the_consumer_retries_to_completion(
    deployment: Deployment, cluster: Cluster
) -> None:
    """PostgreSQL crashes mid-indexing: index runs fail, then retry to completion, each row once."""
    deployment.use_specs(STRIPE, MUSEUM)
    users = ["postgres-kill-0", "postgres-kill-1"]
    before = scrape_all(cluster)

    syncs = post_all(cluster, users)
    wait_until(
        lambda: indexed_rows(cluster.topology.postgres_url, "postgres-kill-"),
        timeout=120,
        what="the first batch is indexed",
        interval=0.1,
    )
    database = PostgresServer(cluster.postgres_dir)
    database.stop(immediate=True)
    try:
        wait_until(
            lambda: failed_runs(before, scrape_all(cluster)),
            timeout=60,
            what="an index run fails without its database",
        )
    finally:
        database.start()  # on its port again: everything else still runs
    wait_synced(cluster, syncs, len(BOTH))
    rows = indexed_rows(cluster.topology.postgres_url, "postgres-kill-")

    assert dict.fromkeys(users, BOTH) == rows
