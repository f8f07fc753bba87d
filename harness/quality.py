"""Search quality: one user's index of five real specs, labelled queries, hit@3 and hit@10.

What `benchmarks/quality.py` prints and `tests/search/test_quality.py` holds at floors. The index is
built with the same code as the consumer (`prepare`, `Embedder`, the store); a query hits at k when
any of its expected operationIds is among the first k results. Document vectors are cached under
the appsync cache directory, keyed by the model id and the embedded texts.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from appsync.index.base import OperationIndex, Ranking, SourceRef, SyncRef, UpsertBatch
from appsync.index.factory import open_index
from appsync.index.prepare import Prepared, prepare
from appsync.search.embedding import Embedder, Vectors
from appsync.search.searcher import Searcher
from appsync.sync.batches import load_documents
from harness.paths import ROOT, SPECS_DIR

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
            records.append(item.record.with_vector(vectors[row]))
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
