"""The chunked-HTTP reader of Docker's archive stream (engine._dechunked)."""

from __future__ import annotations

import io
import os

import pytest
from pydantic import SecretStr

from promkit.core.crypto import (
    TAG_LEN,
    DecryptingReader,
    EncryptingWriter,
    ScryptParams,
    ciphertext_size,
)
from promkit.core.errors import IntegrityError, UpstreamError
from promkit.volume.engine import PIECE, _dechunked

CHUNK = 4096
PASSWORD = SecretStr("stream password")


def chunked(payload: bytes, size: int, *, end: bytes = b"0\r\n\r\n") -> io.BufferedReader:
    body = b"".join(
        b"%x\r\n" % len(payload[i : i + size]) + payload[i : i + size] + b"\r\n"
        for i in range(0, len(payload), size)
    )
    return io.BufferedReader(io.BytesIO(body + end))


@pytest.mark.parametrize(
    ("size", "total"),
    [(1, 0), (1, 5), (7, 1000), (32 * 1024, PIECE), (32 * 1024, 2 * PIECE + 11), (PIECE, PIECE),
     (PIECE + 3, 2 * PIECE + 11), (100_000, 3 * PIECE - 1)],
)  # fmt: skip
def test_pieces_are_the_payload_in_full_pieces(size: int, total: int) -> None:
    payload = os.urandom(total)
    pieces = list(_dechunked(chunked(payload, size)))
    assert b"".join(pieces) == payload
    assert all(len(p) == PIECE for p in pieces[:-1])
    assert all(p for p in pieces)


def test_trailers_and_extensions_are_accepted() -> None:
    fp = io.BufferedReader(io.BytesIO(b"3;ext=1\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n"))
    assert b"".join(_dechunked(fp)) == b"abc"


def test_a_stream_cut_mid_chunk_fails() -> None:
    fp = chunked(b"x" * 100, 100, end=b"")
    cut = io.BufferedReader(io.BytesIO(fp.read()[:50]))
    with pytest.raises(UpstreamError, match="ended early"):
        list(_dechunked(cut))


def test_a_stream_without_its_last_chunk_fails() -> None:
    with pytest.raises(UpstreamError, match="ended early"):
        list(_dechunked(chunked(b"x" * 100, 10, end=b"")))


@pytest.mark.parametrize("body", [b"zz\r\nabc\r\n0\r\n\r\n", b"3\r\nabcXY0\r\n\r\n"])
def test_bad_framing_fails(body: bytes) -> None:
    with pytest.raises(UpstreamError, match="malformed"):
        list(_dechunked(io.BufferedReader(io.BytesIO(body))))


@pytest.mark.parametrize(
    "sizes",
    [[CHUNK], [CHUNK, CHUNK], [CHUNK, 1], [1, CHUNK, CHUNK], [CHUNK, 0, CHUNK, 5], [3 * CHUNK + 1],
     [CHUNK, 2 * CHUNK, CHUNK, CHUNK - 1, CHUNK], [0], []],
)  # fmt: skip
def test_encrypted_stream_of_chunk_sized_writes_round_trips(sizes: list[int]) -> None:
    """The writer keeps whole-chunk ``bytes`` writes without copying; the container stays
    the same: fixed-size chunks, the last one final, any mix of write sizes."""
    payload = os.urandom(sum(sizes))
    out = io.BytesIO()
    writer = EncryptingWriter(out, PASSWORD, kdf=ScryptParams(log_n=4, r=1, p=1), chunk_size=CHUNK)
    pos = 0
    for i, n in enumerate(sizes):
        part = payload[pos : pos + n]
        writer.write(part if i % 2 == 0 else bytearray(part))
        pos += n
    writer.close()
    assert len(out.getvalue()) == ciphertext_size(len(payload), CHUNK)
    out.seek(0)
    assert DecryptingReader(out, PASSWORD).read() == payload
    truncated = io.BytesIO(out.getvalue()[: -(CHUNK + TAG_LEN)])
    if len(payload) > CHUNK:
        with pytest.raises(IntegrityError):
            DecryptingReader(truncated, PASSWORD).read()
