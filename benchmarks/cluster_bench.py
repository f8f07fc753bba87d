"""The production topology (`scripts/cluster`) beside the dev server, measured in the same run.

- `cluster_e2e_ratio`: p50 of POST (through the load balancer) → the sync run `Completed` on the
  cluster (PostgreSQL, Redis, `inngest start --no-ui`, replicas behind nginx) ÷ the same on
  `inngest dev` (`e2e_p50_ms` of `benchmarks/bench.py`, measured in the same run), with the same
  one-spec sync (petstore) and the same untimed pauses before each sample (see bench.py,
  `measure_e2e`): every sample starts on a quiet cluster.
- `cluster_sync_throughput`: syncs completed per second with 20 users at once, each POSTing its
  next sync as soon as its last one completed (a sync completes when its run records its end in
  the sync journal, the moment its function returns).

Both with 2 replicas (the keys above, and `_2r`) and with 1 (`_1r`), side by side. On 2 cores the
second replica adds processes, not cores: compare them for what the topology costs, not as a
scaling figure.

    APPSYNC_INNGEST_BIN=$(scripts/build-inngest) .venv/bin/python -m benchmarks.cluster_bench \
        [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

from harness.cluster import Cluster, indexed_rows, post_sync
from harness.settings import write_spec_urls
from harness.spec_server import SpecServer
from harness.waiting import wait_until

SPEC = "specs/oai_petstore_swagger2.json"  # 3 operations: the sync, not the model, is measured
USERS = 20
SERVER_CYCLE_S = 0.75  # as in bench.py: the untimed pause before a sample is drawn from it


def _wait_indexed(cluster: Cluster, user: str) -> None:
    wait_until(
        lambda: indexed_rows(cluster.topology.postgres_url, user),
        timeout=60,
        what=f"the sync of {user} is indexed",
    )


def _e2e(cluster: Cluster, samples: int, label: str) -> list[float]:
    """Seconds from POST to the sync run `Completed`, one sample at a time on a quiet cluster."""
    api = cluster.api()
    phases = random.Random(0)  # noqa: S311 - a benchmark's pauses, not security
    timings: list[float] = []
    try:
        for sample in range(samples):
            user = f"bench-e2e-{label}-{sample}"
            time.sleep(phases.uniform(0.0, SERVER_CYCLE_S))
            started = time.perf_counter()
            response = post_sync(cluster.topology.app_url, cluster.headers(user))
            response.raise_for_status()
            run = api.wait_for_run(response.json()["ids"][0], timeout=60)
            timings.append(time.perf_counter() - started)
            if run["status"] != "Completed":
                raise RuntimeError(f"sync run ended {run['status']}: {run}")
            _wait_indexed(cluster, user)  # untimed: the next sample starts on a quiet cluster
    finally:
        api.close()
    return timings


def _throughput(cluster: Cluster, syncs: int, label: str) -> float:
    """Syncs completed per second, USERS at a time, each user's next POST after its last ended."""
    ended: dict[str, threading.Event] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def watch() -> None:
        with psycopg.connect(cluster.topology.postgres_url, autocommit=True) as connection:
            while not stop.is_set():
                with lock:
                    waiting = [sync_id for sync_id, done in ended.items() if not done.is_set()]
                if waiting:
                    rows = connection.execute(
                        "SELECT sync_id FROM appsync_sync_runs WHERE ended AND sync_id = ANY(%s)",
                        (waiting,),
                    ).fetchall()
                    for (sync_id,) in rows:
                        ended[str(sync_id)].set()
                time.sleep(0.01)

    def user_loop(user: int, count: int) -> None:
        for round_ in range(count):
            name = f"bench-load-{label}-{user}"
            response = post_sync(cluster.topology.app_url, cluster.headers(name))
            response.raise_for_status()
            sync_id = str(response.json()["ids"][0])
            event = threading.Event()
            with lock:
                ended[sync_id] = event
            if not event.wait(120):
                raise RuntimeError(f"sync {sync_id} ({name}, round {round_}) did not end")

    per_user = [syncs // USERS + (1 if user < syncs % USERS else 0) for user in range(USERS)]
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(USERS) as pool:
            for done in [pool.submit(user_loop, user, n) for user, n in enumerate(per_user)]:
                done.result()
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        watcher.join(timeout=10)
    return syncs / elapsed


def measure_cluster(quick: bool, dev_e2e_p50_ms: float | None = None) -> dict[str, float]:
    """The cluster's figures with 2 replicas, then 1; ratios against `dev_e2e_p50_ms` if given."""
    samples, syncs = (6, 40) if quick else (30, 200)
    figures: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory(prefix="appsync-cluster-bench-") as tmp,
        SpecServer() as specs,
    ):
        settings_file = Path(tmp) / "app.env"
        write_spec_urls(settings_file, [specs.url(SPEC)])
        cluster = Cluster(Path(tmp) / "cluster", {"APPSYNC_ENV_FILE": str(settings_file)})
        try:
            for replicas in (2, 1):
                cluster.up(replicas=replicas)
                label = f"{replicas}r"
                e2e = _e2e(cluster, samples, label)
                figures[f"cluster_e2e_p50_ms_{label}"] = statistics.median(e2e) * 1000
                figures[f"cluster_sync_throughput_{label}"] = _throughput(cluster, syncs, label)
                if dev_e2e_p50_ms:
                    figures[f"cluster_e2e_ratio_{label}"] = (
                        figures[f"cluster_e2e_p50_ms_{label}"] / dev_e2e_p50_ms
                    )
        finally:
            cluster.down()
    figures["cluster_e2e_p50_ms"] = figures["cluster_e2e_p50_ms_2r"]
    figures["cluster_sync_throughput"] = figures["cluster_sync_throughput_2r"]
    if dev_e2e_p50_ms:
        figures["cluster_e2e_ratio"] = figures["cluster_e2e_ratio_2r"]
    return figures


def table(figures: dict[str, float]) -> str:
    """One replica and two side by side, as Markdown."""
    f = figures
    lines = [
        "| measure | 1 replica | 2 replicas |",
        "|---|---|---|",
        (
            f"| POST → sync Completed p50, ms | {f['cluster_e2e_p50_ms_1r']:.1f} "
            f"| {f['cluster_e2e_p50_ms_2r']:.1f} |"
        ),
    ]
    if "cluster_e2e_ratio_2r" in f:
        lines.append(
            f"| ÷ the same on inngest dev ({f.get('e2e_p50_ms', 0.0):.1f} ms) "
            f"| {f['cluster_e2e_ratio_1r']:.2f} | {f['cluster_e2e_ratio_2r']:.2f} |"
        )
    lines.append(
        f"| syncs completed per second, {USERS} users at once "
        f"| {f['cluster_sync_throughput_1r']:.2f} | {f['cluster_sync_throughput_2r']:.2f} |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure the cluster alone (no dev server ratio); print the table; write `--json`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the figures as JSON")
    args = parser.parse_args(argv)
    figures = measure_cluster(args.quick)
    print(table(figures))  # noqa: T201 - the report
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
