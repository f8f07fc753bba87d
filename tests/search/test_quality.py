"""Search quality on the labelled queries stays at its measured level (docs/measurements.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from appsync.search.embedding import Embedder
from harness.quality import HOLDOUT, QUERIES, measure
from harness.stores import STORES, store_url

# Measured (hit@3, hit@10), 2026-11-29, SQLite:
#   queries.json (64, tuned on): lexical 0.656 / 0.766, vector 0.766 / 0.891, hybrid 0.797 / 0.906
#   queries_holdout.json (60):   lexical 0.383 / 0.517, vector 0.617 / 0.767, hybrid 0.633 / 0.833
# PostgreSQL ranks the lexical half with the same BM25 (per-user statistics): the same floors.
_TUNED = {"lexical": (0.60, 0.72), "vector": (0.72, 0.84), "hybrid": (0.75, 0.86)}
_HELD_OUT = {"lexical": (0.33, 0.46), "vector": (0.56, 0.72), "hybrid": (0.58, 0.78)}
FLOORS: dict[tuple[str, Path], tuple[int, dict[str, tuple[float, float]]]] = {
    ("sqlite", QUERIES): (64, _TUNED),
    ("sqlite", HOLDOUT): (60, _HELD_OUT),
    ("postgres", QUERIES): (64, _TUNED),
    ("postgres", HOLDOUT): (60, _HELD_OUT),
}


@pytest.mark.parametrize("queries", [QUERIES, HOLDOUT], ids=["tuned", "holdout"])
@pytest.mark.parametrize("store", STORES)
def test_every_ranking_keeps_its_measured_quality(
    store: str,
    queries: Path,
    request: pytest.FixtureRequest,
    embedder: Embedder,
    tmp_path: Path,
) -> None:
    """hit@3 and hit@10 of each ranking stay at or above a floor a little below the measurement."""
    count, floors = FLOORS[store, queries]
    url = store_url(store, request, tmp_path)

    result = asyncio.run(measure(embedder, tmp_path, url, queries_path=queries))

    measured = {
        name: (figures["hit@3"], figures["hit@10"]) for name, figures in result["rankings"].items()
    }
    assert (997, count) == (result["operations"], result["queries"])
    for name, (floor3, floor10) in floors.items():
        hit3, hit10 = measured[name]
        assert (True, True) == (hit3 >= floor3, hit10 >= floor10), (name, measured[name])


@pytest.mark.parametrize("queries", [QUERIES, HOLDOUT], ids=["tuned", "holdout"])
def test_both_stores_find_the_same_within_one_query(
    queries: Path, request: pytest.FixtureRequest, embedder: Embedder, tmp_path: Path
) -> None:
    """SQLite and PostgreSQL hit at 3 and at 10 for the same queries, give or take one."""
    found = {}
    for store in STORES:
        url = store_url(store, request, tmp_path)
        result = asyncio.run(measure(embedder, tmp_path, url, queries_path=queries))
        found[store] = {
            (name, k): round(figures[k] * result["queries"])
            for name, figures in result["rankings"].items()
            if name != "vector"
            for k in ("hit@3", "hit@10")
        }

    apart = {key: found["postgres"][key] - hits for key, hits in found["sqlite"].items()}
    assert {} == {key: gap for key, gap in apart.items() if abs(gap) > 1}
