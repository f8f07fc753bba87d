"""Vectors for the texts of a batch: reused where they exist, embedded only where they do not.

Where a text's vector comes from, in order:

1. **retained**: this process embedded it for an earlier attempt of a batch whose write failed
   (the store full, or down): a retry does not run the model again (`RetainedVectors`, a bounded
   memory of the vectors of failed writes, per process);
2. **the shared cache** of the store (`VectorCache`, rule 8 of `appsync.index.base`), unless
   sharing is off (`APPSYNC_SHARE_VECTORS=false`): a text any user has indexed is not embedded
   again;
3. **the model**, once per distinct text of the batch.

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
) -> Gathered:
    """The vectors of `texts` (embed hash → text), from memory, the shared cache, else the model.

    The model runs in a worker thread; `scope` keys the retained vectors ("" when shared, the
    user's id when not).
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
        rows = await asyncio.to_thread(encoder.encode, [texts[key] for key in missing])
        gathered.embedded = dict(zip(missing, rows, strict=True))
        gathered.vectors |= gathered.embedded
    return gathered
