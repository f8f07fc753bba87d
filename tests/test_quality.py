"""Search quality on the labelled queries stays at its measured level (README, Quality)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from appsync.embedding import Embedder
from benchmarks.quality import measure

# Measured: lexical 0.656 / 0.766, vector 0.766 / 0.891, hybrid 0.750 / 0.891 (hit@3 / hit@10).
FLOORS = {
    "lexical": (0.60, 0.72),
    "vector": (0.72, 0.84),
    "hybrid": (0.72, 0.85),
}


def test_every_ranking_keeps_its_measured_quality(embedder: Embedder, tmp_path: Path) -> None:
    """hit@3 and hit@10 of each ranking stay at or above a floor a little below the measurement."""
    result = asyncio.run(measure(embedder, tmp_path))

    measured = {
        name: (figures["hit@3"], figures["hit@10"]) for name, figures in result["rankings"].items()
    }
    assert (997, 64) == (result["operations"], result["queries"])
    for name, (floor3, floor10) in FLOORS.items():
        hit3, hit10 = measured[name]
        assert (True, True) == (hit3 >= floor3, hit10 >= floor10), (name, measured[name])
