"""Vectors for the texts of a batch: reused where they exist, embedded only where they do not.

Where a text's vector comes from, in order:

1. **retained**: this process embedded it for an earlier attempt of a batch whose write failed
   (the store full, or down): a retry does not run the model again (`RetainedVectors`, a bounded
   memory of the vectors of failed writes, per process);
2. **the shared cache** of the store (`VectorCache`, rule 8 of `appsync.index.base`), unless
   sharing is off (`APPSYNC_SHARE_VECTORS=false`): a text any user has indexed is not embedded
   again;
3. **the model**, once per distinct text of the batch, and once per process for batches indexed
   at the same time: `EmbeddingFlights` hands a text being embedded for one batch, or embedded a
   moment ago (before its batch is written to the shared cache), to every other batch that needs
   it. Twenty users syncing the same spec at once embed it once per replica, not twenty times.

Keys are (model id, embed hash): another model never reuses a vector. With sharing off, retained
vectors are kept per user too, so nothing one user indexed is reused for another.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from appsync.index.base import VectorCache

Vector = npt.NDArray[np.float32]
_Key = tuple[str, str, str]  # (scope, model id, embed hash)


class Encoder(Protocol):
    """The embedding model as the indexer uses it (`appsync.search.embedding.Embedder`)."""

    @property
    def model_id(self) -> str:
        """The id stored with every vector it makes."""
        ...

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Unit vectors of `texts`, one row each (blocking: run it off the event loop)."""
        ...


class RetainedVectors:
    """The vectors of writes that failed, so that their retry embeds nothing (least recent go)."""

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._vectors: OrderedDict[_Key, Vector] = OrderedDict()

    def __len__(self) -> int:
        return len(self._vectors)

    def keep(self, scope: str, model_id: str, vectors: Mapping[str, Vector]) -> None:
        """Remember `vectors` (embed hash → vector) of one scope and model."""
        for embed_hash, vector in vectors.items():
            key = (scope, model_id, embed_hash)
            self._vectors[key] = vector
            self._vectors.move_to_end(key)
        while len(self._vectors) > self._capacity:
            self._vectors.popitem(last=False)

    def take(self, scope: str, model_id: str, embed_hashes: Sequence[str]) -> dict[str, Vector]:
        """The remembered vectors of those hashes, forgotten as they are handed out."""
        found: dict[str, Vector] = {}
        for embed_hash in embed_hashes:
            vector = self._vectors.pop((scope, model_id, embed_hash), None)
            if vector is not None:
                found[embed_hash] = vector
        return found


class EmbeddingFlights:
    """Texts the model embeds now or just embedded, shared by the batches of one process.

    A batch takes a vector of its scope and model from here when another batch embedded it a
    moment ago (the last `capacity` vectors), waits for it when another batch is embedding it,
    and embeds the rest itself, announcing them first. A failed or cancelled embedding lets its
    waiters embed those texts themselves. Event loop only: not thread-safe.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._recent: OrderedDict[_Key, Vector] = OrderedDict()
        self._flying: dict[_Key, asyncio.Future[Vector | None]] = {}

    def __len__(self) -> int:
        return len(self._recent)

    async def vectors(
        self, scope: str, encoder: Encoder, texts: Mapping[str, str]
    ) -> tuple[dict[str, Vector], dict[str, Vector]]:
        """The vectors of `texts` (embed hash → text), and those of them the model made here."""
        model_id = encoder.model_id
        found: dict[str, Vector] = {}
        waiting: dict[str, asyncio.Future[Vector | None]] = {}
        for embed_hash in texts:
            key = (scope, model_id, embed_hash)
            if (vector := self._recent.get(key)) is not None:
                self._recent.move_to_end(key)
                found[embed_hash] = vector
            elif (flight := self._flying.get(key)) is not None:
                waiting[embed_hash] = flight
        mine = [
            embed_hash
            for embed_hash in texts
            if embed_hash not in found and embed_hash not in waiting
        ]
        embedded = await self._embed(scope, encoder, {h: texts[h] for h in mine})
        orphaned: dict[str, str] = {}
        for embed_hash, flight in waiting.items():
            vector = await asyncio.shield(flight)
            if vector is None:
                orphaned[embed_hash] = texts[embed_hash]
            else:
                found[embed_hash] = vector
        embedded |= await self._embed(scope, encoder, orphaned)
        return found | embedded, embedded

    async def _embed(
        self, scope: str, encoder: Encoder, texts: Mapping[str, str]
    ) -> dict[str, Vector]:
        if not texts:
            return {}
        model_id = encoder.model_id
        loop = asyncio.get_running_loop()
        flights = {
            h: loop.create_future() for h in texts if (scope, model_id, h) not in self._flying
        }
        for embed_hash, flight in flights.items():
            self._flying[(scope, model_id, embed_hash)] = flight
        embedded: dict[str, Vector] = {}
        try:
            rows = await asyncio.to_thread(encoder.encode, list(texts.values()))
            embedded = dict(zip(texts, rows, strict=True))
        finally:
            for embed_hash, flight in flights.items():
                key = (scope, model_id, embed_hash)
                del self._flying[key]
                vector = embedded.get(embed_hash)
                flight.set_result(vector)  # None: the waiters embed it themselves
                if vector is not None:
                    self._recent[key] = vector
            while len(self._recent) > self._capacity:
                self._recent.popitem(last=False)
        return embedded


@dataclass
class Gathered:
    """The vectors of a batch's texts (embed hash → vector), and where they came from."""

    vectors: dict[str, Vector] = field(default_factory=dict)
    embedded: dict[str, Vector] = field(default_factory=dict)  # made by the model here
    retained: int = 0
    cached: int = 0


async def gather_vectors(
    texts: Mapping[str, str],
    *,
    encoder: Encoder,
    cache: VectorCache,
    share: bool,
    retained: RetainedVectors,
    scope: str,
    flights: EmbeddingFlights | None = None,
) -> Gathered:
    """The vectors of `texts` (embed hash → text), from memory, the shared cache, else the model.

    The model runs in a worker thread; `scope` keys the retained vectors ("" when shared, the
    user's id when not). `flights` shares what the model embeds with the process's other
    batches (a new one, sharing nothing, by default).
    """
    gathered = Gathered()
    model_id = encoder.model_id
    gathered.vectors = retained.take(scope, model_id, list(texts))
    gathered.retained = len(gathered.vectors)
    missing = [key for key in texts if key not in gathered.vectors]
    if share and missing:
        found = await cache.cached_vectors(model_id, missing)
        for key, vector in found.items():
            gathered.vectors[key] = np.asarray(vector, np.float32)
        gathered.cached = len(found)
        missing = [key for key in missing if key not in found]
    if missing:
        flights = flights if flights is not None else EmbeddingFlights()
        vectors, gathered.embedded = await flights.vectors(
            scope, encoder, {key: texts[key] for key in missing}
        )
        gathered.vectors |= vectors
    return gathered
