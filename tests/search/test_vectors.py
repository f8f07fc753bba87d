"""`EmbeddingFlights`: batches indexed at the same time embed each text once (no model: a fake)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from appsync.search.vectors import EmbeddingFlights


@dataclass
class SlowEncoder:
    """Embeds a text as (len, 1, 0): slowly enough that another batch asks meanwhile."""

    failures: int = 0
    calls: list[list[str]] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def model_id(self) -> str:
        """The fake model's id."""
        return "fake"

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """One row per text, after `release` is set; the first `failures` calls raise."""
        self.calls.append(list(texts))
        self.started.set()
        assert self.release.wait(10)
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the model ran out of memory")
        return np.array([[len(text), 1.0, 0.0] for text in texts], np.float32)


async def two_batches(
    flights: EmbeddingFlights,
    encoder: SlowEncoder,
    first: dict[str, str],
    second: dict[str, str],
    scopes: tuple[str, str] = ("", ""),
) -> tuple[object, object]:
    """Index `first`, and `second` while the model works on `first`; both outcomes."""

    async def later() -> object:
        await asyncio.to_thread(encoder.started.wait, 10)
        task = asyncio.ensure_future(flights.vectors(scopes[1], encoder, second))
        # One turn of the loop: the task, scheduled first, runs to its wait (or its model call).
        turn = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(turn.set_result, None)
        await turn
        encoder.release.set()
        return await task

    results = await asyncio.gather(
        flights.vectors(scopes[0], encoder, first), later(), return_exceptions=True
    )
    return results[0], results[1]


def test_a_text_embedded_for_one_batch_is_not_embedded_again_for_another() -> None:
    """The second batch waits for the first's texts and embeds only its own new one."""
    encoder = SlowEncoder()
    flights = EmbeddingFlights()

    first, second = asyncio.run(
        two_batches(flights, encoder, {"a": "refund", "b": "invoice"}, {"b": "invoice", "c": "x"})
    )

    assert [["refund", "invoice"], ["x"]] == encoder.calls
    assert isinstance(first, tuple)
    assert isinstance(second, tuple)
    vectors, embedded = second
    assert ["c"] == list(embedded)
    assert {"b", "c"} == set(vectors)
    np.testing.assert_array_equal(first[0]["b"], vectors["b"])


def test_a_text_embedded_a_moment_ago_is_handed_out_without_the_model() -> None:
    """A batch after the first one ended gets its vectors from memory (capacity permitting)."""
    encoder = SlowEncoder()
    encoder.release.set()
    flights = EmbeddingFlights(capacity=1)

    asyncio.run(flights.vectors("", encoder, {"a": "refund", "b": "invoice"}))
    vectors, embedded = asyncio.run(flights.vectors("", encoder, {"a": "refund", "b": "invoice"}))

    assert ([["refund", "invoice"], ["refund"]], ["a"]) == (encoder.calls, list(embedded))
    assert {"a", "b"} == set(vectors)
    assert 1 == len(flights)


def test_a_failed_embedding_leaves_its_waiters_to_embed_for_themselves() -> None:
    """The first batch's model call fails: it raises, and the waiting batch embeds the text."""
    encoder = SlowEncoder(failures=1)
    flights = EmbeddingFlights()

    first, second = asyncio.run(two_batches(flights, encoder, {"a": "refund"}, {"a": "refund"}))

    assert isinstance(first, RuntimeError)
    assert isinstance(second, tuple)
    assert ["a"] == list(second[1])
    assert [["refund"], ["refund"]] == encoder.calls


def test_scopes_share_nothing() -> None:
    """With sharing off each user is a scope: the same text is embedded for each."""
    encoder = SlowEncoder()
    flights = EmbeddingFlights()

    asyncio.run(two_batches(flights, encoder, {"a": "refund"}, {"a": "refund"}, ("ada", "bob")))

    assert [["refund"], ["refund"]] == encoder.calls
