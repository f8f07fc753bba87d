"""Stand-ins for the embedding model in tests that count what is embedded, not what it means.

They pass through the consumer's `Encoder` seam (`appsync.search.vectors.Encoder`), so tests run
without loading the model (the fast subset) or count the model's calls.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from appsync.search.vectors import Encoder


class HashEncoder:
    """Unit vectors made from each text's hash: the same text, the same vector; counts texts."""

    def __init__(self, dimensions: int = 4, model_id: str = "hash-encoder-v1") -> None:
        self.dimensions = dimensions
        self._model_id = model_id
        self.texts = 0
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        """The id stored with every vector it makes."""
        return self._model_id

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """One unit vector per text."""
        with self._lock:
            self.texts += len(texts)
        rows = []
        for text in texts:
            digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
            row = np.frombuffer(digest[: 4 * self.dimensions], np.uint8).astype(np.float32) + 1
            rows.append(row[: self.dimensions] / np.linalg.norm(row[: self.dimensions]))
        return np.asarray(rows, np.float32).reshape(len(texts), self.dimensions)


class CountingEncoder:
    """Another encoder, counting the texts it embeds; with `meet`, calls wait for each other.

    `meet=2` makes two concurrent calls both start before either returns (a thread barrier), so
    two batches indexed "at once" really have both looked in the cache before either wrote.
    """

    def __init__(self, encoder: Encoder, *, meet: int = 0) -> None:
        self._encoder = encoder
        self._barrier = threading.Barrier(meet) if meet else None
        self._lock = threading.Lock()
        self.texts = 0

    @property
    def model_id(self) -> str:
        """The wrapped encoder's model id."""
        return self._encoder.model_id

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """The wrapped encoder's vectors, counted."""
        if self._barrier is not None:
            self._barrier.wait(timeout=60)
        with self._lock:
            self.texts += len(texts)
        return self._encoder.encode(texts)
