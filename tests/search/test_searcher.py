"""The searcher's admission: at most `APPSYNC_MAX_SEARCHES` searches at once, the rest refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from appsync.index.base import Hit, Ranking, SearchQuery
from appsync.index.sqlite import SqliteIndex
from appsync.search.embedding import Embedder
from appsync.search.searcher import Admission, OverloadedError, Searcher


class GatedIndex(SqliteIndex):
    """The SQLite store, whose searches wait until the test opens the gate."""

    gate: asyncio.Event
    all_waiting: asyncio.Event
    expected = 0
    waiting = 0

    async def search(self, query: SearchQuery) -> list[Hit]:
        """Wait at the gate, then search."""
        self.waiting += 1
        if self.waiting == self.expected:
            self.all_waiting.set()
        await self.gate.wait()
        return await super().search(query)


def test_searches_past_the_bound_are_refused_and_the_admitted_ones_finish(tmp_path: Path) -> None:
    """With 3 places and 5 searches at once: 3 run to the end, 2 are refused at once."""

    async def scenario() -> tuple[list[list[Hit] | BaseException], int, int]:
        index = await GatedIndex.open(tmp_path / "index.sqlite3", dimensions=4)
        assert isinstance(index, GatedIndex)
        index.gate, index.all_waiting, index.expected = asyncio.Event(), asyncio.Event(), 3
        # Lexical searches never load the model.
        search = Searcher(index=index, embedder=Embedder(), admission=Admission(3))
        try:
            tasks = [
                asyncio.create_task(search.search("u", "list pets", ranking=Ranking.LEXICAL))
                for _ in range(5)
            ]
            await index.all_waiting.wait()  # three at the gate; the other two ran right after
            refused_early = sum(1 for task in tasks if task.done())
            in_flight = search.admission.in_flight
            index.gate.set()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await index.close()
        return outcomes, refused_early, in_flight

    outcomes, refused_early, in_flight = asyncio.run(scenario())

    assert (2, 3) == (refused_early, in_flight)
    assert 3 == sum(1 for outcome in outcomes if outcome == [])
    refused = [outcome for outcome in outcomes if isinstance(outcome, OverloadedError)]
    assert 2 == len(refused)
    assert "APPSYNC_MAX_SEARCHES=3" in str(refused[0])


def test_a_place_is_freed_when_a_search_fails() -> None:
    """A search that fails gives its place back: the next one is admitted."""
    admission = Admission(1)

    with pytest.raises(RuntimeError), admission.admit():
        raise RuntimeError

    with admission.admit():
        assert 1 == admission.in_flight
    assert 0 == admission.in_flight
