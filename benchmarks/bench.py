"""Speed as ratios against baselines measured in the same run, on a real Inngest dev server.

- route:   our POST throughput ÷ the bare SDK `client.send` throughput to the same server
           (same event, concurrency 32). Target ≥ 0.8. The POSTs come from a minimal keep-alive
           HTTP/1.1 client, so that the load generator's own CPU (on the same 2 cores) is not
           counted against the service. Measured twice: as configured by default (each POST
           waits until the server has stored its event) and with APPSYNC_CONFIRM_STORED=false
           (`route_unconfirmed_*`), which is what the bare send does.
- process: spec → documents time ÷ the time to merely parse the same bytes with the same parser,
           on the largest spec of the corpus. Target ≤ 2. Also the peak RSS of that process.
- e2e:     p50 of POST → run Completed with its fan-out on the server ÷ p50 of a trivial
           function's send → Completed on the same server. Target ≤ 2.
- index:   the operations index (`benchmarks/index_bench.py`): index_docs_per_s ÷
           encode_docs_per_s (≥ 0.7), search p50 ÷ (query encode + store query) (≤ 1.5), RSS.
- postgres: the same on PostgreSQL (`pg_*`, `benchmarks/postgres_bench.py`), store writes alone
           on both stores, and (full run) the search quality on both.

Everything runs on loopback and is bounded in count and time. `--quick` is for CI (it fails only
if a measurement breaks, never on the numbers); the default is the full run for the README.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fastapi
import httpx
import inngest
import inngest.fast_api

from appsync.app_settings import AppSettings
from appsync.devserver import find_binary
from appsync.events import VECTORS_UPSERTED_EVENT, app_sync_event
from appsync.users import User
from benchmarks import index_bench, postgres_bench
from harness.app_server import AppServer, app_subprocess, sync_app
from harness.inngest_api import InngestApi
from harness.inngest_server import InngestServer
from harness.load import RawPoster
from harness.paths import spec_files
from harness.spec_server import SpecServer

CONCURRENCY = 32
DEADLINE_S = 1200  # the whole benchmark stops by itself after this (PostgreSQL adds ~4 min)
DRAIN_S = 120
SPEC = "specs/oai_petstore_swagger2.json"


@dataclass(frozen=True)
class Plan:
    """How much to measure."""

    route_requests: int
    route_rounds: int
    e2e_samples: int
    process_reps: int


QUICK = Plan(route_requests=300, route_rounds=1, e2e_samples=6, process_reps=5)
FULL = Plan(route_requests=2000, route_rounds=3, e2e_samples=30, process_reps=20)


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- route ------------------------------------------------------------------------------------


async def _closed_loop(
    call: Callable[[], Awaitable[float]], total: int
) -> tuple[float, list[float]]:
    """Run `total` calls with CONCURRENCY in flight; returns (requests/s, latencies in s)."""
    remaining = total
    latencies: list[float] = []

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            latencies.append(await call())

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return total / (time.perf_counter() - started), latencies


async def _post_loop(app_url: str, total: int) -> tuple[float, list[float]]:
    """`total` POSTs to the route at CONCURRENCY; (requests/s, latencies)."""
    idle = [RawPoster(app_url, "/api/route") for _ in range(CONCURRENCY)]

    async def post() -> float:
        poster = idle.pop()
        try:
            started = time.perf_counter()
            status, body = await poster.post()
            if status != 200:  # noqa: PLR2004
                raise RuntimeError(f"POST /api/route answered {status}: {body[:300]!r}")
            return time.perf_counter() - started
        finally:
            idle.append(poster)

    try:
        await _closed_loop(post, CONCURRENCY * 2)  # warm connections and caches
        return await _closed_loop(post, total)
    finally:
        for poster in idle:
            poster.close()


async def _route_round(
    apps: dict[str, str], server_url: str, total: int
) -> tuple[float, dict[str, tuple[float, list[float]]]]:
    """The bare-send baseline, then each app; returns the baseline rps and each app's figures."""
    event = app_sync_event(
        AppSettings(openapi_urls=["http://127.0.0.1:9/openapi.json"]),
        User(id="local-dev", email="dev@localhost", name="Local Developer"),
    )
    event = event.model_copy(update={"ts": 0})  # the SDK stamps the send time, as for ours
    client = inngest.Inngest(
        app_id="bench-baseline",
        is_production=False,
        api_base_url=server_url,
        event_api_base_url=server_url,
    )
    recent: deque[str] = deque(maxlen=CONCURRENCY)

    async def baseline() -> float:
        started = time.perf_counter()
        recent.extend(await client.send(event))
        return time.perf_counter() - started

    await _closed_loop(baseline, CONCURRENCY * 2)  # warm connections
    base_rps, _ = await _closed_loop(baseline, total)
    results = {}
    for label, app_url in apps.items():
        # Bare sends (and unconfirmed ones) leave a backlog the server stores after answering;
        # let it drain so that it does not slow the next measurement.
        await _drained(server_url, list(recent))
        results[label] = await _post_loop(app_url, total)
        recent.extend(event["internal_id"] for event in await _newest(server_url))
    return base_rps, results


async def _newest(server_url: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=server_url, trust_env=False) as http:
        page = (await http.get("/v1/events", params={"limit": 1})).json()["data"]
    return page or []


async def _drained(server_url: str, event_ids: list[str]) -> None:
    """Wait until the server has stored these events (and so, in order, the ones before)."""
    deadline = time.monotonic() + DRAIN_S
    async with httpx.AsyncClient(base_url=server_url, trust_env=False) as http:
        for event_id in event_ids:
            # A missing event is a 200 answer with `"data": null` (and `"status": 404` inside).
            while (await http.get(f"/v1/events/{event_id}")).json()["data"] is None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not store event {event_id}")
                await asyncio.sleep(0.1)


def measure_route(apps: dict[str, str], server_url: str, plan: Plan) -> dict[str, float]:
    """Route throughput of each app against the bare SDK send, in rounds (median of rounds).

    `apps` maps a figure prefix to an app URL: "route" is the default configuration.
    """
    bases: list[float] = []
    rps: dict[str, list[float]] = {label: [] for label in apps}
    latencies: list[float] = []
    for _ in range(plan.route_rounds):
        base_rps, results = asyncio.run(_route_round(apps, server_url, plan.route_requests))
        bases.append(base_rps)
        for label, (app_rps, app_latencies) in results.items():
            rps[label].append(app_rps)
            if label == "route":
                latencies.extend(app_latencies)
    baseline_rps = statistics.median(bases)
    figures = {
        "baseline_rps": baseline_rps,
        "route_p50_ms": percentile(latencies, 0.50) * 1000,
        "route_p99_ms": percentile(latencies, 0.99) * 1000,
    }
    for label, values in rps.items():
        figures[f"{label}_rps"] = statistics.median(values)
        figures[f"{label}_ratio"] = statistics.median(values) / baseline_rps
    return figures


# -- processing -------------------------------------------------------------------------------


def measure_processing(plan: Plan) -> dict[str, float]:
    """Spec → documents vs. parse only, in a fresh process (for an honest peak RSS)."""
    largest = max(spec_files(), key=lambda path: path.stat().st_size)
    out = subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "benchmarks.processing", str(largest), str(plan.process_reps)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    figures: dict[str, float] = json.loads(out)
    figures["process_ratio"] = figures["process_ms"] / figures["parse_ms"]
    return figures


# -- end to end -------------------------------------------------------------------------------


def _trivial_app(server_url: str) -> fastapi.FastAPI:
    client = inngest.Inngest(
        app_id="bench-trivial",
        is_production=False,
        api_base_url=server_url,
        event_api_base_url=server_url,
    )

    @client.create_function(
        fn_id="trivial", trigger=inngest.TriggerEvent(event="bench/trivial"), retries=0
    )
    async def trivial(ctx: inngest.Context) -> dict[str, str]:
        return {"event": ctx.event.id}

    app = fastapi.FastAPI()
    inngest.fast_api.serve(app, client, [trivial])
    return app


def _wait_fan_out(api: InngestApi, run: dict[str, Any], since: str, deadline: float) -> None:
    prefix = f"appsync-{run['run_id']}-"
    expected = run["output"]["totals"]["batches"]
    while time.monotonic() < deadline:
        events = api.events(VECTORS_UPSERTED_EVENT, received_after=since)
        if sum(1 for event in events if event["id"].startswith(prefix)) >= expected:
            return
        time.sleep(0.005)
    raise RuntimeError(f"the fan-out of run {run['run_id']} did not appear")


def measure_e2e(app_url: str, api: InngestApi, plan: Plan) -> dict[str, float]:
    """POST → Completed with fan-out, against a trivial function's send → Completed."""
    ours: list[float] = []
    trivial: list[float] = []
    with httpx.Client(base_url=app_url, trust_env=False, timeout=30) as http:
        for _ in range(plan.e2e_samples):
            since = datetime.now(UTC).isoformat()
            started = time.perf_counter()
            (trivial_id,) = api.send({"name": "bench/trivial", "data": {}}, key="bench")
            run = api.wait_for_run(trivial_id, timeout=60)
            trivial.append(time.perf_counter() - started)
            if run["status"] != "Completed":
                raise RuntimeError(f"trivial run ended {run['status']}")

            started = time.perf_counter()
            response = http.post("/api/route", json={"data": "data"})
            response.raise_for_status()
            run = api.wait_for_run(response.json()["ids"][0], timeout=60)
            if run["status"] != "Completed":
                raise RuntimeError(f"sync run ended {run['status']}: {run}")
            _wait_fan_out(api, run, since, time.monotonic() + 60)
            ours.append(time.perf_counter() - started)
    e2e_p50, trivial_p50 = statistics.median(ours), statistics.median(trivial)
    return {
        "e2e_ratio": e2e_p50 / trivial_p50,
        "e2e_p50_ms": e2e_p50 * 1000,
        "trivial_p50_ms": trivial_p50 * 1000,
    }


# -- orchestration ----------------------------------------------------------------------------


def run(plan: Plan) -> dict[str, float]:
    """Every measurement, on one dev server started for the purpose."""
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="appsync-bench-") as tmp:
        workdir = Path(tmp)
        server = InngestServer(binary=find_binary(), workdir=workdir / "inngest")
        with server, SpecServer() as specs:
            api = InngestApi(server.url)
            with (
                app_subprocess(server.url, [specs.url(SPEC)], workdir / "app") as app_url,
                app_subprocess(
                    server.url,
                    [specs.url(SPEC)],
                    workdir / "unconfirmed",
                    extra_env={"APPSYNC_CONFIRM_STORED": "false"},
                ) as unconfirmed_url,
            ):
                # The apps are not synced yet: every side only stores events, nothing runs.
                figures |= measure_route(
                    {"route": app_url, "route_unconfirmed": unconfirmed_url}, server.url, plan
                )
                sync_app(app_url, api, "appsync-sync-openapi-specs")
                with AppServer(lambda: _trivial_app(server.url)) as trivial:
                    sync_app(trivial.url, api, "bench-trivial-trivial")
                    figures |= measure_e2e(app_url, api, plan)
            api.close()
    figures |= measure_processing(plan)
    figures |= index_bench.measure_index(quick=plan is QUICK)
    figures |= postgres_bench.measure_postgres(quick=plan is QUICK)
    return figures


ROWS = [
    (
        "route",
        "route_ratio",
        "≥ 0.8",
        "route_rps",
        "baseline_rps",
        "POST /api/route (waits until stored) vs bare client.send, req/s",
    ),
    (
        "route, unconfirmed",
        "route_unconfirmed_ratio",
        "≥ 0.8",
        "route_unconfirmed_rps",
        "baseline_rps",
        "the same with APPSYNC_CONFIRM_STORED=false, req/s",
    ),
    (
        "process",
        "process_ratio",
        "≤ 2",
        "process_ms",
        "parse_ms",
        "spec → documents vs parse only, ms",
    ),
    (
        "e2e",
        "e2e_ratio",
        "≤ 2",
        "e2e_p50_ms",
        "trivial_p50_ms",
        "POST → Completed + fan-out vs trivial, p50 ms",
    ),
]


def table(figures: dict[str, float]) -> str:
    """The figures as a Markdown table."""
    lines = [
        "| measure | ratio | target | ours | baseline | what |",
        "|---|---|---|---|---|---|",
    ]
    for name, ratio, target, ours, base, what in ROWS:
        lines.append(
            f"| {name} | {figures[ratio]:.2f} | {target} | {figures[ours]:.1f} | "
            f"{figures[base]:.1f} | {what} |"
        )
    lines.append(
        f"\nroute latency p50 {figures['route_p50_ms']:.1f} ms, "
        f"p99 {figures['route_p99_ms']:.1f} ms (concurrency {CONCURRENCY}); "
        f"processing peak RSS {figures['peak_rss_mb']:.0f} MB"
    )
    lines.append("\nOperations index (benchmarks/index_bench.py):\n\n" + index_bench.table(figures))
    lines.append(
        "\nSQLite and PostgreSQL (benchmarks/postgres_bench.py):\n\n"
        + postgres_bench.table(figures)
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table; write `--json` if asked."""
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, for CI")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the figures as JSON")
    args = parser.parse_args(argv)

    result: dict[str, float] = {}
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.update(run(QUICK if args.quick else FULL))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failure.append(exc)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(DEADLINE_S)
    if worker.is_alive():
        print(f"bench: did not finish within {DEADLINE_S} s", file=sys.stderr)  # noqa: T201
        return 1
    if failure:
        raise failure[0]
    print(table(result))  # noqa: T201 - the report
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
