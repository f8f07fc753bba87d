"""The operations index on PostgreSQL beside the SQLite file, measured in the same run.

- `pg_index_docs_per_s`, `pg_index_shared_docs_per_s`, `pg_search_p50_ms` (and every other figure of
  `benchmarks/index_bench.py`, prefixed `pg_`): the index benchmark with the app's
  `APPSYNC_INDEX_URL` on a PostgreSQL that scripts/postgres starts; indexing goes through a real
  `inngest dev`, search through `GET /api/operations/search` over ≥ 10,000 operations. The SQLite
  figures of the same run are index_bench's own (`index_docs_per_s`, `search_p50_ms`).
- `sqlite_upsert_docs_per_s`, `pg_upsert_docs_per_s`: the store alone, without the model or
  Inngest: ≥ 10,000 operations with their vectors written as the consumer writes them (one
  `upsert` of 100 records per batch event), one writer.
- Quality (full run only): hit@3 and hit@10 of each ranking on both stores
  (`quality_<store>_<ranking>_hit@<k>`), from `benchmarks/quality.py`.

    .venv/bin/python -m benchmarks.postgres_bench [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from appsync.index.base import SyncRef, UpsertBatch
from appsync.index.factory import open_index
from appsync.search.embedding import Embedder
from benchmarks import index_bench
from harness import quality
from harness.postgres import postgres_database

STORES = ("sqlite", "pg")
BATCH = 100


async def upsert_rate(index_url: str, embedder: Embedder, operations: int) -> float:
    """Documents per second written by `upsert` batches of 100, until `operations` are stored."""
    corpus = quality.load_corpus()
    vectors = quality.cached_vectors(embedder, [item.embed_text for item in corpus.documents])
    records = list(
        {
            item.record.uid: item.record.with_vector(vector)
            for item, vector in zip(corpus.documents, vectors, strict=True)
        }.values()
    )
    index = await open_index(index_url, dimensions=embedder.info.dimensions)
    written = 0
    try:
        started = time.perf_counter()
        user = 0
        while written < operations:
            url = f"file:bench-{user}"
            for start in range(0, len(records), BATCH):
                chunk = tuple(records[start : start + BATCH])
                result = await index.upsert(
                    UpsertBatch(
                        user_id=f"bench-user-{user}",
                        source=index_bench._source(url),  # noqa: SLF001 - the bench's own helper
                        sync=SyncRef("000000000000001-bench", (url,)),
                        total=len(records),
                        model_id=embedder.model_id,
                        records=chunk,
                    )
                )
                written += result.written
            user += 1
        return written / (time.perf_counter() - started)
    finally:
        await index.close()


def measure_postgres(quick: bool) -> dict[str, float]:
    """The PostgreSQL figures, and the store-only and quality figures of both stores."""
    figures: dict[str, float] = {}
    with postgres_database() as url:
        pg = index_bench.measure_index(quick, index_url=url)
    figures |= {f"pg_{name}": value for name, value in pg.items()}

    embedder = Embedder()
    operations = 2_000 if quick else index_bench.MIN_OPERATIONS
    with tempfile.TemporaryDirectory(prefix="appsync-store-bench-") as tmp:
        sqlite_url = f"sqlite:///{Path(tmp) / 'index.sqlite3'}"
        figures["sqlite_upsert_docs_per_s"] = asyncio.run(
            upsert_rate(sqlite_url, embedder, operations)
        )
    with postgres_database() as url:
        figures["pg_upsert_docs_per_s"] = asyncio.run(upsert_rate(url, embedder, operations))

    if not quick:
        with (
            tempfile.TemporaryDirectory(prefix="appsync-quality-") as tmp,
            postgres_database() as url,
        ):
            for store, index_url in (("sqlite", None), ("pg", url)):
                result = asyncio.run(quality.measure(embedder, Path(tmp), index_url))
                for ranking, numbers in result["rankings"].items():
                    for k in ("hit@3", "hit@10"):
                        figures[f"quality_{store}_{ranking}_{k}"] = numbers[k]
    return figures


def table(figures: dict[str, float]) -> str:
    """SQLite and PostgreSQL side by side, as Markdown."""
    f = figures
    lines = [
        "| measure | SQLite file | PostgreSQL |",
        "|---|---|---|",
        (
            f"| indexing through Inngest, docs/s | {f['index_docs_per_s']:.1f} "
            f"| {f['pg_index_docs_per_s']:.1f} |"
        ),
        (
            f"| indexing a second user's same specs (shared vectors), docs/s "
            f"| {f['index_shared_docs_per_s']:.1f} | {f['pg_index_shared_docs_per_s']:.1f} |"
        ),
        (
            f"| store writes alone (upsert of 100), docs/s | {f['sqlite_upsert_docs_per_s']:.0f} "
            f"| {f['pg_upsert_docs_per_s']:.0f} |"
        ),
        (
            f"| search route p50 / p99, ms ({f['pg_search_operations']:.0f} operations) "
            f"| {f['search_p50_ms']:.1f} / {f['search_p99_ms']:.1f} "
            f"| {f['pg_search_p50_ms']:.1f} / {f['pg_search_p99_ms']:.1f} |"
        ),
        (
            f"| store query alone p50, ms | {f['store_query_p50_ms']:.1f} "
            f"| {f['pg_store_query_p50_ms']:.1f} |"
        ),
    ]
    for ranking in ("lexical", "vector", "hybrid"):
        if f"quality_sqlite_{ranking}_hit@3" not in f:
            continue
        cells = [
            f"{f[f'quality_{store}_{ranking}_hit@3']:.3f} / "
            f"{f[f'quality_{store}_{ranking}_hit@10']:.3f}"
            for store in STORES
        ]
        lines.append(f"| {ranking} hit@3 / hit@10 | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run both stores' benchmarks and print them side by side."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run (CI)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    figures = index_bench.measure_index(args.quick) | measure_postgres(args.quick)
    sys.stdout.write(table(figures) + "\n")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
