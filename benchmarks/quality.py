"""Search quality: hit@3 and hit@10 of BM25 alone, vectors alone and the hybrid ranking.

One user's index of stripe, xero, harbor, adyen management and museum (the shared specs), built
with the same code as the consumer (`prepare`, `Embedder`, the SQLite store), queried with the
labelled set in `benchmarks/data/queries.json` (or another set of the same format with
`--queries`; `benchmarks/data/queries_holdout.json` is the held-out one, never tuned against). A
query hits at k when any of its expected operationIds is among the first k results. Document
vectors are cached under the appsync cache directory, keyed by the model id and the embedded
texts, so a re-run embeds nothing.

    .venv/bin/python -m benchmarks.quality [--queries PATH] [--store sqlite|postgres] [--misses]
        [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from appsync.batches import load_documents
from appsync.embedding import Embedder, Vectors
from appsync.index.base import OperationIndex, Ranking, SourceRef, SyncRef, UpsertBatch
from appsync.index.documents import Prepared, prepare
from appsync.index.factory import open_index
from appsync.search import Searcher
from functions.index_operations import _with_vector
from harness.paths import SPECS_DIR

ROOT = Path(__file__).resolve().parents[1]
QUERIES = ROOT / "benchmarks" / "data" / "queries.json"
HOLDOUT = ROOT / "benchmarks" / "data" / "queries_holdout.json"
SPECS = (
    "stripe_spec3.json",
    "xero_accounting.yaml",
    "harbor_swagger.yaml",
    "adyen_management_v3.yaml",
    "redocly_museum.yaml",
)
USER = "quality"
SYNC = "000000000000001-quality"


def specs_dir() -> Path:
    """The shared spec corpus (`$APPSYNC_SPECS_DIR`, else `../shared/specs`)."""
    return SPECS_DIR


def cache_dir() -> Path:
    """`${APPSYNC_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/appsync}`."""
    base = os.environ.get("APPSYNC_CACHE_DIR") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "appsync"
    )
    return Path(base)


@dataclass(frozen=True, slots=True)
class Corpus:
    """The prepared documents of each spec."""

    sources: list[tuple[SourceRef, list[Prepared]]]

    @property
    def documents(self) -> list[Prepared]:
        """Every prepared document, spec by spec."""
        return [item for _, items in self.sources for item in items]


def load_corpus(directory: Path | None = None) -> Corpus:
    """Prepare every operation of the five specs, as the consumer would."""
    directory = directory or specs_dir()
    sources = []
    for name in SPECS:
        loaded = load_documents((directory / name).read_bytes())
        source = SourceRef(url=f"file:{name}", service=loaded.service, version=loaded.version)
        sources.append((source, [prepare(document) for document in loaded.documents]))
    return Corpus(sources)


def cached_vectors(embedder: Embedder, texts: list[str]) -> Vectors:
    """The texts' vectors, from the cache when the same model embedded the same texts."""
    key = hashlib.sha256("\n".join([embedder.model_id, *texts]).encode()).hexdigest()[:24]
    path = cache_dir() / "quality-vectors" / f"{key}.npy"
    if path.is_file():
        cached: Vectors = np.load(path).astype(np.float32)
        return cached
    vectors = embedder.encode(texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npy", delete=False) as file:
        np.save(file, vectors)
    Path(file.name).replace(path)
    return vectors


async def build_index(index: OperationIndex, corpus: Corpus, embedder: Embedder) -> int:
    """Upsert the whole corpus for the quality user; the number of operations indexed."""
    vectors = cached_vectors(embedder, [item.embed_text for item in corpus.documents])
    urls = tuple(source.url for source, _ in corpus.sources)
    row = 0
    for source, items in corpus.sources:
        records = []
        for item in items:
            records.append(_with_vector(item.record, vectors[row]))
            row += 1
        unique = {record.uid: record for record in records}
        await index.upsert(
            UpsertBatch(
                user_id=USER,
                source=source,
                sync=SyncRef(sync_id=SYNC, urls=urls),
                total=len(unique),
                model_id=embedder.model_id,
                records=tuple(unique.values()),
            )
        )
    return row


def load_queries(path: Path = QUERIES) -> list[dict[str, Any]]:
    """The labelled queries."""
    queries: list[dict[str, Any]] = json.loads(path.read_text())["queries"]
    return queries


async def evaluate(searcher: Searcher, queries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """hit@3, hit@10 and the misses at 3, per ranking."""
    figures: dict[str, dict[str, Any]] = {}
    for ranking in (Ranking.LEXICAL, Ranking.VECTOR, Ranking.HYBRID):
        hits3 = hits10 = 0
        misses: list[str] = []
        for query in queries:
            found = await searcher.search(USER, query["q"], k=10, ranking=ranking)
            ids = [hit.operation_id for hit in found]
            expected = set(query["expected"])
            hit3 = bool(expected & set(ids[:3]))
            hits3 += hit3
            hits10 += bool(expected & set(ids))
            if not hit3:
                misses.append(f"{query['q']!r} → {ids[:3]}")
        figures[ranking.value] = {
            "hit@3": round(hits3 / len(queries), 3),
            "hit@10": round(hits10 / len(queries), 3),
            "misses@3": misses,
        }
    return figures


async def measure(
    embedder: Embedder,
    workdir: Path,
    index_url: str | None = None,
    *,
    queries_path: Path = QUERIES,
) -> dict[str, Any]:
    """Build the index (at `index_url`, else in `workdir`) and measure every ranking.

    The labelled queries come from `queries_path`.
    """
    corpus = load_corpus()
    queries = load_queries(queries_path)
    index = await open_index(
        index_url or f"sqlite:///{workdir / 'quality.sqlite3'}",
        dimensions=embedder.info.dimensions,
    )
    try:
        operations = await build_index(index, corpus, embedder)
        figures = await evaluate(Searcher(index=index, embedder=embedder), queries)
    finally:
        await index.close()
    return {"operations": operations, "queries": len(queries), "rankings": figures}


def main(argv: list[str] | None = None) -> int:
    """Print the quality table (and write it as JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--queries", type=Path, default=QUERIES, help=f"the labelled queries (default {QUERIES})"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--misses", action="store_true", help="print the queries missed at 3")
    parser.add_argument(
        "--store", choices=["sqlite", "postgres"], default="sqlite", help="the index store"
    )
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="appsync-quality-"))
        index_url = None
        if args.store == "postgres":
            from benchmarks.postgres_bench import postgres_database  # noqa: PLC0415 - only here

            index_url = stack.enter_context(postgres_database())
        result = asyncio.run(
            measure(Embedder(), Path(workdir), index_url, queries_path=args.queries)
        )
    out = sys.stdout
    out.write(f"{result['operations']} operations, {result['queries']} queries\n")
    out.write(f"{'ranking':<10} {'hit@3':>6} {'hit@10':>7}\n")
    for name, figures in result["rankings"].items():
        out.write(f"{name:<10} {figures['hit@3']:>6.3f} {figures['hit@10']:>7.3f}\n")
        if args.misses:
            for miss in figures["misses@3"]:
                out.write(f"    miss {miss}\n")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
