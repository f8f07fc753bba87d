"""Searching one user's operations: validate the query, embed it, ask the index.

Used by `GET /api/operations/search`, `appsync search` and the quality benchmark alike.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from appsync.index.base import (
    MAX_K,
    Hit,
    OperationIndex,
    Ranking,
    SearchFilters,
    SearchQuery,
)
from appsync.metrics import Metrics
from appsync.openapi.scalars import clean_text
from appsync.search.embedding import Embedder

MAX_QUERY_CHARS = 512
DEFAULT_MAX_SEARCHES = 16


class QueryError(ValueError):
    """A search request that cannot run; the message names the parameter and why."""


class OverloadedError(RuntimeError):
    """More searches are running than the bound admits; the caller should retry shortly."""


@dataclass
class Admission:
    """At most `limit` searches in flight in this process; more are refused at once.

    Searches share the model and both cores: past a point every extra search in flight only
    lengthens everyone's wait (200 at once took 12-13 s at p99). Refusing the excess keeps the
    admitted ones fast, and tells the others when to come back.
    """

    limit: int
    in_flight: int = 0

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        """Hold one place while the block runs; `OverloadedError` when none is free."""
        if self.in_flight >= self.limit:
            raise OverloadedError(
                f"{self.in_flight} searches are running, the most this process admits "
                f"(APPSYNC_MAX_SEARCHES={self.limit}); retry in a second"
            )
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1


@dataclass(frozen=True, slots=True)
class Searcher:
    """Hybrid search over the index with the process's embedding model."""

    index: OperationIndex
    embedder: Embedder
    admission: Admission = field(default_factory=lambda: Admission(DEFAULT_MAX_SEARCHES))
    metrics: Metrics = field(default_factory=Metrics)

    async def search(
        self,
        user_id: str,
        q: str,
        *,
        k: int = 10,
        service: str | None = None,
        method: str | None = None,
        tag: str | None = None,
        ranking: Ranking = Ranking.HYBRID,
    ) -> list[Hit]:
        """The user's operations that best answer `q`, best first.

        `QueryError` for a bad query; `OverloadedError` when the process runs as many searches as
        it admits.
        """
        text = q.strip()
        if not text:
            raise QueryError("q must not be empty: say what the operation should do")
        if len(text) > MAX_QUERY_CHARS:
            raise QueryError(f"q is {len(text)} characters long; at most {MAX_QUERY_CHARS}")
        if not 1 <= k <= MAX_K:
            raise QueryError(f"k must be within 1..{MAX_K}, got {k}")
        filters = SearchFilters(
            service=service or None, method=(method or "").lower() or None, tag=tag or None
        )
        with self.admission.admit(), self.metrics.searching():
            vector = None
            if ranking is not Ranking.LEXICAL:
                (row,) = await asyncio.to_thread(self.embedder.encode, [clean_text(text)])
                vector = tuple(float(x) for x in row)
            query = SearchQuery(
                user_id=user_id,
                text=text,
                vector=vector,
                model_id=self.embedder.model_id,
                k=k,
                filters=filters,
                ranking=ranking,
            )
            return await self.index.search(query)
