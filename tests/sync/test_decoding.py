"""`appsync.sync.decoding`: content-codings decoded in bounded pieces."""

from __future__ import annotations

import gzip
import zlib

import pytest

from appsync.sync.decoding import PIECE, BoundedDecoder, DecodingError, content_encodings
from harness.spec_server import gzip_bomb

TEXT = b'{"openapi": "3.0.0", "paths": {}}' * 1000


def decode_all(codings: list[str], body: bytes, chunk: int = 1000) -> list[bytes]:
    """Every decoded piece of `body`, fed in chunks of `chunk` bytes."""
    decoder = BoundedDecoder(codings)
    pieces = [
        piece
        for start in range(0, len(body), chunk)
        for piece in decoder.decode(body[start : start + chunk])
    ]
    decoder.finish()
    return pieces


def raw_deflate(data: bytes) -> bytes:
    """`data` as a deflate stream without the zlib wrapper."""
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("codings", "body"),
    [
        ([], TEXT),
        (["gzip"], gzip.compress(TEXT)),
        (["x-gzip"], gzip.compress(TEXT)),
        (["deflate"], zlib.compress(TEXT)),
        (["deflate"], raw_deflate(TEXT)),
        (["gzip"], gzip.compress(TEXT[:500]) + gzip.compress(TEXT[500:])),
        (["deflate", "gzip"], gzip.compress(zlib.compress(TEXT))),
    ],
    ids=["identity", "gzip", "x-gzip", "zlib-deflate", "raw-deflate", "two-members", "stacked"],
)
def test_supported_codings_decode_to_the_original(codings: list[str], body: bytes) -> None:
    """One or more gzip members, deflate (zlib or raw) and two stacked codings decode whole."""
    assert TEXT == b"".join(decode_all(codings, body))


def test_no_piece_is_larger_than_the_piece_size() -> None:
    """64 MiB behind two gzip layers comes out in pieces of at most `PIECE` bytes."""
    pieces = decode_all(["gzip", "gzip"], gzip_bomb(64, 2), chunk=65536)

    assert 64 * 1024 * 1024 == sum(map(len, pieces))
    assert PIECE == max(map(len, pieces))


def test_decoding_stops_when_the_consumer_stops() -> None:
    """Pulling one piece of a 1 GiB bomb decodes about one piece, not the gigabyte."""
    decoder = BoundedDecoder(["gzip", "gzip"])

    first = next(decoder.decode(gzip_bomb(1024, 2)))

    assert b" " * PIECE == first


@pytest.mark.parametrize(
    ("headers", "codings"),
    [
        ([], []),
        (["identity"], []),
        (["GZIP"], ["gzip"]),
        (["gzip, deflate"], ["gzip", "deflate"]),
        (["gzip", "identity, deflate"], ["gzip", "deflate"]),
    ],
)
def test_content_encoding_headers_give_the_codings_in_order(
    headers: list[str], codings: list[str]
) -> None:
    """Comma lists and repeated headers are read in order; identity and case are ignored."""
    assert codings == content_encodings(headers)


def test_truncated_gzip_is_an_error() -> None:
    """A gzip body that stops before its end marker is refused, not returned half-decoded."""
    body = gzip.compress(TEXT)

    with pytest.raises(DecodingError) as info:
        decode_all(["gzip"], body[: len(body) // 2])

    assert "the gzip body ends before the end of its stream" == str(info.value)


def test_data_after_a_deflate_stream_is_an_error() -> None:
    """Bytes after the end of a deflate stream are refused."""
    with pytest.raises(DecodingError) as info:
        decode_all(["deflate"], zlib.compress(TEXT) + b"trailing")

    assert "data after the end of the deflate stream" == str(info.value)
