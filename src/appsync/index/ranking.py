"""Ranking shared by every store: query terms for the lexical half, and the fusion of both halves.

Pure functions over plain ranked lists, so both adapters rank alike and tests need no database.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# How many candidates each half contributes before fusion.
CANDIDATES = 50
# Reciprocal rank fusion: score = sum over lists of weight / (RRF_K + rank), rank from 1.
# Measured on benchmarks/data/queries.json (hit@3): the vectors are the stronger half, so the
# lexical list counts half, and a small k lets the first few ranks of each list matter most.
RRF_K = 10
LEXICAL_WEIGHT = 0.5
VECTOR_WEIGHT = 1.0
MAX_TERMS = 32

Ranked = tuple[str, float]
"""A uid and the score its half gave it (higher is better), in rank order within its list."""

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STOPWORDS = frozenset(
    # One string reads better than a column of sixty quoted words.
    """a about all an and any are as at be by can do does for from get give how i in into is it
    its me my of on or our please show so some that the their them then there these this those to
    up us was we what when where which who why will with would you your""".split()  # noqa: SIM905
)


def lexical_terms(text: str) -> list[str]:
    """The query's words for the lexical half: lower-cased, without stopwords or repeats.

    Only letters and digits survive, so the terms are safe to quote in any full-text syntax. When
    every word is a stopword, the words are kept (a query of only stopwords still searches).
    """
    words = [word.lower() for word in _WORD.findall(text)]
    kept = [word for word in words if word not in _STOPWORDS] or words
    return list(dict.fromkeys(kept))[:MAX_TERMS]


def fuse(
    lexical: Sequence[Ranked],
    vector: Sequence[Ranked],
    *,
    rrf_k: int = RRF_K,
    lexical_weight: float = LEXICAL_WEIGHT,
    vector_weight: float = VECTOR_WEIGHT,
) -> list[Ranked]:
    """Weighted reciprocal rank fusion of the two halves' lists, best first (ties: uid order)."""
    scores: dict[str, float] = {}
    for weight, ranked in ((lexical_weight, lexical), (vector_weight, vector)):
        for rank, (uid, _score) in enumerate(ranked, start=1):
            scores[uid] = scores.get(uid, 0.0) + weight / (rrf_k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))
