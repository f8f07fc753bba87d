"""Search quality on the labelled queries stays at its measured level (README, Quality)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from appsync.embedding import Embedder
from benchmarks.quality import measure
from tests.index.conftest import STORES, store_url

# Measured (hit@3 / hit@10), SQLite: lexical 0.656 / 0.766, vector 0.766 / 0.891, hybrid
# 0.750 / 0.891; PostgreSQL: lexical 0.562 / 0.703 (ts_rank has no IDF), vector 0.766 / 0.891,
# hybrid 0.734 / 0.891.
FLOORS = {
    "sqlite": {"lexical": (0.60, 0.72), "vector": (0.72, 0.84), "hybrid": (0.72, 0.85)},
    "postgres": {"lexical": (0.52, 0.66), "vector": (0.72, 0.84), "hybrid": (0.70, 0.85)},
}


@pytest.mark.parametrize("store", STORES)
def test_every_ranking_keeps_its_measured_quality(
    store: str, request: pytest.FixtureRequest, embedder: Embedder, tmp_path: Path
) -> None:
    """hit@3 and hit@10 of each ranking stay at or above a floor a little below the measurement."""
    url = store_url(store, request, tmp_path)
    result = asyncio.run(measure(embedder, tmp_path, url))

    measured = {
        name: (figures["hit@3"], figures["hit@10"]) for name, figures in result["rankings"].items()
    }
    assert (997, 64) == (result["operations"], result["queries"])
    for name, (floor3, floor10) in FLOORS[store].items():
        hit3, hit10 = measured[name]
        assert (True, True) == (hit3 >= floor3, hit10 >= floor10), (name, measured[name])
