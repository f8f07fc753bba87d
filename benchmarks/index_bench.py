"""Speed of the operations index, against baselines measured in the same run.

- `index_docs_per_s`: batch events (the real specs' documents, 100 per event) sent to a real
  `inngest dev` → every run of the index consumer `Completed` in `appsync serve` (its own process),
  i.e. event stored → searchable; `encode_docs_per_s`: the bare model on the same texts, in this
  process, with the app idle; `index_ratio` = the first ÷ the second (target ≥ 0.8).
- `search_p50_ms`, `search_p99_ms`: `GET /api/operations/search` (the labelled queries, one at a
  time over one keep-alive connection of the raw client, as the app's local user) against an
  index of ≥ 10,000 operations (the specs' documents under several users, written into the app's
  file by this process: two processes, one WAL file);
  `search_ratio` = search p50 ÷ (bare query encode p50 + bare store query p50) (target ≤ 1.5).
- `mcp_search_p50_ms`: an MCP `tools/call search_operations` (JSON-RPC over Streamable HTTP, as
  the TypeScript SDK sends it) on the same index, interleaved query by query with the same REST
  search over the same keep-alive connection; `mcp_search_ratio` = its p50 ÷ that REST search's
  p50 (`mcp_rest_search_p50_ms`) (target ≤ 1.3). The two answer the same hits (checked).
- `index_shared_docs_per_s`: the same batch events for a second user, sent once the first
  user's are indexed: every vector is in the store's shared cache, so this measures the store and
  Inngest, not the model (`index_shared_embedded` counts what its runs embedded: 0);
  `index_shared_ratio` = it ÷ `encode_docs_per_s` (target ≥ 5).
- `index_rss_mb`: peak RSS (VmHWM) of the serving process after all of it, model loaded.

    .venv/bin/python -m benchmarks.index_bench [--quick] [--store sqlite|postgres] [--json PATH]

`measure_index(quick)` returns the figures, for `benchmarks/bench.py`; with `index_url`, the app
and the synthetic users use that store instead of the app's file (`benchmarks/postgres_bench.py`
runs it on PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from appsync.cli.dev_server import find_binary
from appsync.events import vectors_event
from appsync.index.base import Ranking, SearchQuery, SyncRef, UpsertBatch
from appsync.index.factory import open_index
from appsync.search.embedding import Embedder, Vectors
from appsync.sync.batches import BATCH_SIZE, batch_documents, batch_event_id, load_documents
from appsync.sync.signing import BatchSigner
from appsync.users import User
from harness.app_server import app_process, sync_app
from harness.inngest_api import InngestApi
from harness.inngest_server import InngestServer
from harness.load import RawPoster
from harness.mcp import MCP_HEADERS, call
from harness.quality import SPECS, load_queries, specs_dir

MIN_OPERATIONS = 10_000
QUICK_SPECS = ("adyen_management_v3.yaml", "redocly_museum.yaml")
USER = "bench-index"
SHARED_USER = "bench-index-second"
SIGNING_KEY = secrets.token_hex(32)


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


@contextlib.contextmanager
def serve(
    inngest_url: str, workdir: Path, index_url: str | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`appsync serve` in its own process (dev mode), with its data dir under `workdir`."""
    environment = {
        "APPSYNC_APP_ID": "appsync-index-bench",
        # The batches sent below are signed with a key derived from it, as the sync signs them.
        "INNGEST_SIGNING_KEY": SIGNING_KEY,
    } | ({"APPSYNC_INDEX_URL": index_url} if index_url else {})
    with app_process(inngest_url, workdir, environment) as served:
        yield served


def batch_events(
    spec_names: tuple[str, ...], user_id: str = USER
) -> tuple[list[dict[str, Any]], list[Any]]:
    """One sync's batch events of the specs for a user, built as the sync builds them; documents."""
    directory = specs_dir()
    urls = [f"file:{name}" for name in spec_names]
    sync = {"id": "000000000000001-bench", "urls": urls}
    user = User(id=user_id)
    signer = BatchSigner.from_signing_key(SIGNING_KEY)
    events: list[dict[str, Any]] = []
    documents: list[Any] = []
    for spec_index, (url, name) in enumerate(zip(urls, spec_names, strict=True)):
        loaded = load_documents((directory / name).read_bytes())
        unique = list({d["uid"]: d for d in loaded.documents}.values())
        documents.extend(unique)
        source = {"url": url, "service": loaded.service, "version": loaded.version}
        events.extend(
            signer.signed(
                vectors_event(
                    event_id=batch_event_id(f"bench-{user_id}", spec_index, page),
                    user=user,
                    page=page,
                    total=len(unique),
                    batch_size=BATCH_SIZE,
                    vectors=batch.items,
                    source=source,
                    sync=sync,
                )
            ).model_dump(mode="json")
            for page, batch in enumerate(batch_documents(unique), start=1)
        )
    return events, documents


def measure_indexing(
    api: InngestApi, app_url: str, events: list[dict[str, Any]]
) -> tuple[float, list[dict[str, Any]]]:
    """Seconds from sending the batch events to every index run `Completed`, and their outputs."""
    httpx.get(
        f"{app_url}/api/operations/search", params={"q": "warm up the model"}, trust_env=False
    ).raise_for_status()
    started = time.perf_counter()
    ids = api.send(events, "bench")
    outputs = []
    for event_id in ids:
        run = api.wait_for_run(event_id, timeout=600)
        if run["status"] != "Completed":
            raise RuntimeError(f"index run {run['run_id']} ended {run['status']}: {run['output']}")
        outputs.append(run["output"])
    return time.perf_counter() - started, outputs


async def synthesise(
    index_url: str, embedder: Embedder, documents: list[Any], vectors: Vectors, users: int
) -> int:
    """Write the documents under `users` more users into the app's index file."""
    from appsync.index.prepare import prepare  # noqa: PLC0415 - only here

    index = await open_index(index_url, dimensions=embedder.info.dimensions)
    records = [
        prepare(document).record.with_vector(vector)
        for document, vector in zip(documents, vectors, strict=True)
    ]
    written = 0
    try:
        for user in range(users):
            for start in range(0, len(records), 500):
                chunk = tuple(records[start : start + 500])
                result = await index.upsert(
                    UpsertBatch(
                        user_id=f"bench-user-{user}",
                        source=_source(f"file:bench-{start}"),
                        sync=SyncRef("000000000000001-bench", (f"file:bench-{start}",)),
                        total=len(chunk),
                        model_id=embedder.model_id,
                        records=chunk,
                    )
                )
                written += result.written
        return written + (await index.stats(USER)).operations
    finally:
        await index.close()


def _source(url: str) -> Any:  # noqa: ANN401 - a SourceRef
    from appsync.index.base import SourceRef  # noqa: PLC0415 - only here

    return SourceRef(url=url, service="bench", version="1")


async def bare_search(
    index_url: str, embedder: Embedder, queries: list[str], rounds: int
) -> tuple[list[float], list[float]]:
    """Per query: the bare encode time and the bare store query time, in ms."""
    index = await open_index(index_url, dimensions=embedder.info.dimensions)
    encode_ms: list[float] = []
    store_ms: list[float] = []
    try:
        for _ in range(rounds):
            for text in queries:
                started = time.perf_counter()
                (row,) = embedder.encode([text])
                encode_ms.append((time.perf_counter() - started) * 1000)
                query = SearchQuery(
                    user_id="local-dev",
                    text=text,
                    vector=tuple(float(x) for x in row),
                    model_id=embedder.model_id,
                    ranking=Ranking.HYBRID,
                )
                started = time.perf_counter()
                await index.search(query)
                store_ms.append((time.perf_counter() - started) * 1000)
    finally:
        await index.close()
    return encode_ms, store_ms


def http_search(app_url: str, queries: list[str], rounds: int) -> list[float]:
    """Latencies of the search route, one request at a time, in ms (as the local user).

    The requests go over one keep-alive connection of the raw client the route benchmark uses
    (`harness.load.RawPoster`): httpx's own parsing costs this process ~1.5 ms of CPU per search
    answer on the shared 2 cores, which is not the service's latency.
    """

    async def measure() -> list[float]:
        client = RawPoster(app_url, "/api/operations/search")
        latencies: list[float] = []
        try:
            for _ in range(rounds):
                for text in queries:
                    target = "/api/operations/search?" + urlencode({"q": text})
                    started = time.perf_counter()
                    status, body = await client.get(target)
                    latencies.append((time.perf_counter() - started) * 1000)
                    if status != HTTPStatus.OK:
                        raise RuntimeError(f"search {text!r} answered {status}: {body[:200]!r}")
        finally:
            client.close()
        return latencies

    return asyncio.run(measure())


def mcp_and_rest_search(
    app_url: str, queries: list[str], rounds: int
) -> tuple[list[float], list[float]]:
    """Latencies (ms) of the REST search and of the MCP tool, query by query, one connection.

    Which of the two goes first alternates from query to query; the first round also checks
    that both answer the same hits.
    """

    async def measure() -> tuple[list[float], list[float]]:
        client = RawPoster(app_url, "/api/operations/search")
        rest_ms: list[float] = []
        mcp_ms: list[float] = []
        try:
            for round_number in range(rounds):
                for n, text in enumerate(queries):
                    target = "/api/operations/search?" + urlencode({"q": text})
                    body = json.dumps(call("search_operations", {"query": text}, n + 1)).encode()
                    answers: dict[str, bytes] = {}
                    kinds = ("rest", "mcp") if n % 2 == 0 else ("mcp", "rest")
                    for kind in kinds:
                        started = time.perf_counter()
                        if kind == "rest":
                            status, answers[kind] = await client.get(target)
                        else:
                            status, answers[kind] = await client.post_to("/mcp", body, MCP_HEADERS)
                        elapsed = (time.perf_counter() - started) * 1000
                        (rest_ms if kind == "rest" else mcp_ms).append(elapsed)
                        if status != HTTPStatus.OK:
                            raise RuntimeError(
                                f"{kind} search {text!r}: {status} {answers[kind]!r}"
                            )
                    if round_number == 0:
                        _same_hits(text, answers["rest"], answers["mcp"])
        finally:
            client.close()
        return rest_ms, mcp_ms

    return asyncio.run(measure())


def _same_hits(text: str, rest: bytes, mcp: bytes) -> None:
    result = json.loads(mcp)["result"]
    if result.get("isError") or result["structuredContent"] != json.loads(rest):
        raise RuntimeError(f"the MCP and REST searches for {text!r} disagree: {result}")


def measure_index(quick: bool, index_url: str | None = None) -> dict[str, float]:
    """Every index figure, on a dev server and an app started for the purpose.

    The store is `index_url` (empty), else the app's SQLite file.
    """
    spec_names = QUICK_SPECS if quick else SPECS
    rounds = 2 if quick else 5
    events, documents = batch_events(spec_names)
    queries = [query["q"] for query in load_queries()]
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="appsync-index-bench-") as tmp:
        workdir = Path(tmp)
        server = InngestServer(binary=find_binary(), workdir=workdir / "inngest")
        with server, serve(server.url, workdir / "app", index_url) as (app_url, process):
            api = InngestApi(server.url)
            try:
                sync_app(app_url, api, "appsync-index-bench")
                seconds, _ = measure_indexing(api, app_url, events)
                shared_events, _ = batch_events(spec_names, SHARED_USER)
                shared_seconds, outputs = measure_indexing(api, app_url, shared_events)
            finally:
                api.close()
            figures["index_docs"] = len(documents)
            figures["index_docs_per_s"] = len(documents) / seconds
            figures["index_shared_docs_per_s"] = len(documents) / shared_seconds
            figures["index_shared_embedded"] = sum(output["embedded"] for output in outputs)

            embedder = Embedder()
            embedder.encode(["warm up"])
            from appsync.index.prepare import prepare  # noqa: PLC0415 - only here

            texts = [prepare(document).embed_text for document in documents]
            started = time.perf_counter()
            vectors = embedder.encode(texts)
            figures["encode_docs_per_s"] = len(texts) / (time.perf_counter() - started)
            figures["index_ratio"] = figures["index_docs_per_s"] / figures["encode_docs_per_s"]
            figures["index_shared_ratio"] = (
                figures["index_shared_docs_per_s"] / figures["encode_docs_per_s"]
            )

            index_url = index_url or f"sqlite:///{workdir / 'app' / 'data' / 'index.sqlite3'}"
            users = -(-MIN_OPERATIONS // len(documents))
            total = asyncio.run(synthesise(index_url, embedder, documents, vectors, users))
            figures["search_operations"] = total
            # The app's local user gets the same operations, so that the route searches a full set.
            asyncio.run(_local_user(index_url, embedder, documents, vectors))
            figures["search_operations"] += len(documents)
            latencies = http_search(app_url, queries, rounds)
            encode_ms, store_ms = asyncio.run(bare_search(index_url, embedder, queries, rounds))
            figures["search_p50_ms"] = statistics.median(latencies)
            figures["search_p99_ms"] = percentile(latencies, 0.99)
            figures["query_encode_p50_ms"] = statistics.median(encode_ms)
            figures["store_query_p50_ms"] = statistics.median(store_ms)
            figures["search_ratio"] = figures["search_p50_ms"] / (
                figures["query_encode_p50_ms"] + figures["store_query_p50_ms"]
            )
            rest_ms, mcp_ms = mcp_and_rest_search(app_url, queries, rounds)
            figures["mcp_rest_search_p50_ms"] = statistics.median(rest_ms)
            figures["mcp_search_p50_ms"] = statistics.median(mcp_ms)
            figures["mcp_search_ratio"] = (
                figures["mcp_search_p50_ms"] / figures["mcp_rest_search_p50_ms"]
            )
            figures["index_rss_mb"] = peak_rss_mb(process.pid)
    return figures


async def _local_user(
    index_url: str, embedder: Embedder, documents: list[Any], vectors: Vectors
) -> None:
    from appsync.index.prepare import prepare  # noqa: PLC0415 - only here

    index = await open_index(index_url, dimensions=embedder.info.dimensions)
    try:
        records = tuple(
            prepare(d).record.with_vector(v) for d, v in zip(documents, vectors, strict=True)
        )
        await index.upsert(
            UpsertBatch(
                user_id="local-dev",
                source=_source("file:bench-local"),
                sync=SyncRef("000000000000001-bench", ("file:bench-local",)),
                total=len(records),
                model_id=embedder.model_id,
                records=records,
            )
        )
    finally:
        await index.close()


def table(figures: dict[str, float]) -> str:
    """The figures as Markdown."""
    f = figures
    lines = [
        "| measure | ratio | target | ours | baseline |",
        "|---|---|---|---|---|",
        (
            f"| index | {f['index_ratio']:.2f} | ≥ 0.8 | {f['index_docs_per_s']:.1f} docs/s "
            f"| {f['encode_docs_per_s']:.1f} docs/s (bare model) |"
        ),
        (
            f"| index, shared | {f['index_shared_ratio']:.2f} | ≥ 5 "
            f"| {f['index_shared_docs_per_s']:.1f} docs/s (a second user, "
            f"{f['index_shared_embedded']:.0f} embedded) | {f['encode_docs_per_s']:.1f} docs/s |"
        ),
        (
            f"| search | {f['search_ratio']:.2f} | ≤ 1.5 | p50 {f['search_p50_ms']:.1f} ms "
            f"| {f['query_encode_p50_ms']:.1f} ms encode + {f['store_query_p50_ms']:.1f} ms store |"
        ),
        (
            f"| MCP search | {f['mcp_search_ratio']:.2f} | ≤ 1.3 | p50 "
            f"{f['mcp_search_p50_ms']:.1f} ms (tools/call) | p50 "
            f"{f['mcp_rest_search_p50_ms']:.1f} ms (REST, same connection, interleaved) |"
        ),
    ]
    lines.append(
        f"\n{figures['index_docs']:.0f} documents indexed through Inngest; search over "
        f"{figures['search_operations']:.0f} operations, p99 {figures['search_p99_ms']:.1f} ms; "
        f"serving process peak RSS {figures['index_rss_mb']:.0f} MB"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the index benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run (CI)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--store", choices=["sqlite", "postgres"], default="sqlite", help="the index store"
    )
    args = parser.parse_args(argv)
    if args.store == "postgres":
        from harness.postgres import postgres_database  # noqa: PLC0415 - only here

        with postgres_database() as url:
            figures = measure_index(args.quick, index_url=url)
    else:
        figures = measure_index(args.quick)
    sys.stdout.write(table(figures) + "\n")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
