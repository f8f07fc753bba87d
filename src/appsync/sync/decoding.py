"""Content-Encoding decoding that never holds more than a small piece of output at a time.

httpx decodes each received chunk whole, so one 1.8 KB chunk of `gzip, gzip` became 1 GiB in
memory before any size check could run. Here every layer is a `zlib.decompressobj` asked for at
most `PIECE` bytes per call (`decompress(data, max_length)`), and the layers are chained lazily:
the caller counts the decoded pieces as they come and stops pulling at its cap, so no decoder ever
produces more than one piece beyond it.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

PIECE = 64 * 1024
# One encoding is what servers send; a second covers a pre-compressed file (`.json.gz` served as
# `Content-Encoding: gzip`) compressed again by a proxy. No server needs more, and every layer
# multiplies the decoding work one received byte can cause, so more are refused.
MAX_ENCODINGS = 2
SUPPORTED = ("gzip", "deflate")
_WBITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


class DecodingError(Exception):
    """A body that cannot be decoded; the message says why."""


def content_encodings(header_values: Iterable[str]) -> list[str]:
    """The codings of `Content-Encoding` values in the order they were applied.

    `identity` is dropped; an unknown coding or more than `MAX_ENCODINGS` raise `DecodingError`.
    """
    codings = [
        token.strip().lower()
        for value in header_values
        for token in value.split(",")
        if token.strip() and token.strip().lower() != "identity"
    ]
    for coding in codings:
        if coding not in _WBITS:
            raise DecodingError(
                f"unsupported Content-Encoding {coding!r} (supported: {', '.join(SUPPORTED)})"
            )
    if len(codings) > MAX_ENCODINGS:
        raise DecodingError(
            f"{len(codings)} content-encodings ({', '.join(codings)}); "
            f"at most {MAX_ENCODINGS} are accepted"
        )
    return codings


class _Layer:
    """One coding's decoder, fed compressed bytes and yielding pieces of at most `PIECE` bytes."""

    def __init__(self, coding: str) -> None:
        self.name = "gzip" if coding == "x-gzip" else coding
        self._wbits = _WBITS[coding]
        self._decoder = zlib.decompressobj(self._wbits)
        self._started = False  # whether any input was decoded
        self._raw_deflate_tried = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        while True:
            if self._decoder.eof:
                data = self._decoder.unused_data + data
                if not data:
                    return
                if self.name != "gzip":
                    raise DecodingError(f"data after the end of the {self.name} stream")
                self._decoder = zlib.decompressobj(self._wbits)  # the next gzip member
            piece = self._decompress(data)
            data = self._decoder.unconsumed_tail
            if piece:
                yield piece
            if not data and len(piece) < PIECE and not self._decoder.eof:
                return

    def _decompress(self, data: bytes) -> bytes:
        try:
            piece = self._decoder.decompress(data, PIECE)
        except zlib.error as exc:
            if self.name == "deflate" and not self._started and not self._raw_deflate_tried:
                # Some servers send raw deflate without the zlib wrapper, as browsers accept.
                self._raw_deflate_tried = True
                self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
                return self._decompress(data)
            raise DecodingError(f"the {self.name} body cannot be decoded: {exc}") from None
        self._started = self._started or bool(data)
        return piece

    def finish(self) -> None:
        if self._started and not self._decoder.eof:
            raise DecodingError(f"the {self.name} body ends before the end of its stream")


class BoundedDecoder:
    """Decodes a body received in chunks through its content-codings, piece by piece."""

    def __init__(self, codings: list[str]) -> None:
        # The last coding applied is the first to undo.
        self._layers = [_Layer(coding) for coding in reversed(codings)]

    def decode(self, chunk: bytes) -> Iterator[bytes]:
        """The decoded pieces of one received chunk, produced only as they are consumed."""
        pieces: Iterable[bytes] = (chunk,)
        for layer in self._layers:
            pieces = _through(layer, pieces)
        return iter(pieces)

    def finish(self) -> None:
        """Raise `DecodingError` when the body ended inside a compressed stream."""
        for layer in self._layers:
            layer.finish()


def _through(layer: _Layer, pieces: Iterable[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        yield from layer.feed(piece)
