"""Ranking shared by every store: query terms for the lexical half, and the fusion of both halves.

Pure functions over plain ranked lists, so both adapters rank alike and tests need no database.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Weighted reciprocal rank fusion: score = sum over the two lists of
#     weight / (k + rank)      (rank from 1, each list with its own weight, k and depth).
# Measured with benchmarks/quality.py (hit@3 / hit@10 on queries.json, and the held-out set only
# looked at, never tuned on): the vectors are the stronger half, so their list counts fully with a
# small k (its first ranks matter most), while the lexical list counts 0.7 with a larger k and only
# its first 20 candidates (deeper BM25 ranks of paraphrases are noise that pushes consensus-but-
# wrong operations above the vectors' best). Before (one k = 10, weight 0.5, 50 candidates each):
# hybrid 0.750 / 0.891 on queries.json, 0.600 / 0.833 held out; now 0.797 / 0.906 and
# 0.633 / 0.833. A store fetches max(candidates, k) of each list and fuses them with `fuse`.
LEXICAL_CANDIDATES = 20
VECTOR_CANDIDATES = 50
RRF_K_LEXICAL = 10
RRF_K_VECTOR = 5
LEXICAL_WEIGHT = 0.7
VECTOR_WEIGHT = 1.0
MAX_TERMS = 32
# BM25 of the lexical half, the same on both stores: SQLite FTS5's bm25() constants (k1 = 1.2,
# b = 0.75, fixed there), the keywords (summary, operation and path words, tags, service)
# counting four times the full text, and term rarity (IDF) clamped at a small positive value.
BM25_K1 = 1.2
BM25_B = 0.75
KEYWORDS_WEIGHT = 4.0
TEXT_WEIGHT = 1.0
BM25_MIN_IDF = 1e-6

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
    lexical_k: int = RRF_K_LEXICAL,
    vector_k: int = RRF_K_VECTOR,
    lexical_weight: float = LEXICAL_WEIGHT,
    vector_weight: float = VECTOR_WEIGHT,
) -> list[Ranked]:
    """Weighted reciprocal rank fusion of the two halves' lists, best first (ties: uid order).

    Every item of both lists counts: the caller fetches each list at its own depth.
    """
    scores: dict[str, float] = {}
    for weight, k, ranked in (
        (lexical_weight, lexical_k, lexical),
        (vector_weight, vector_k, vector),
    ):
        for rank, (uid, _score) in enumerate(ranked, start=1):
            scores[uid] = scores.get(uid, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))
