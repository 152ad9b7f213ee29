from __future__ import annotations

import io
import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from promkit.core import crypto
from promkit.core.crypto import (
    CHECK_LEN,
    HEADER_LEN,
    TAG_LEN,
    ContainerHeader,
    DecryptingReader,
    EncryptingWriter,
    EncryptionKey,
    ScryptParams,
    ciphertext_size,
    default_kdf_params,
    is_encrypted,
)
from promkit.core.errors import AuthError, DataError, IntegrityError, UsageError

CHEAP = ScryptParams(log_n=4, r=1, p=1)
PW = SecretStr("correct horse")
CHUNK = 1024


def seal(data: bytes, *, chunk: int = CHUNK, write_size: int = 333) -> bytes:
    out = io.BytesIO()
    w = EncryptingWriter(out, PW, kdf=CHEAP, chunk_size=chunk)
    for i in range(0, len(data), write_size):
        w.write(data[i : i + write_size])
    w.close()
    return out.getvalue()


def open_(blob: bytes, password: SecretStr = PW) -> bytes:
    return DecryptingReader(io.BytesIO(blob), password).read()


def chunks_of(blob: bytes, chunk: int = CHUNK) -> list[bytes]:
    body = blob[HEADER_LEN + CHECK_LEN :]
    unit = chunk + TAG_LEN
    return [body[i : i + unit] for i in range(0, len(body), unit)]


def with_chunks(blob: bytes, parts: list[bytes]) -> bytes:
    return blob[: HEADER_LEN + CHECK_LEN] + b"".join(parts)


class ShortReads(io.RawIOBase):
    """A source that returns at most 7 bytes per read, like a slow network stream."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.calls = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.calls += 1
        return self._data.read(min(size, 7) if size >= 0 else 7)


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17])
def test_container_round_trip_sizes_and_exact_length(size: int) -> None:
    data = os.urandom(size)
    blob = seal(data)
    assert is_encrypted(blob)
    assert len(blob) == ciphertext_size(size, CHUNK)
    assert open_(blob) == data


@settings(max_examples=40, deadline=None)
@given(
    data=st.binary(max_size=5000), write_size=st.integers(1, 3000), read_size=st.integers(1, 3000)
)
def test_container_round_trip_any_write_and_read_sizes(
    data: bytes, write_size: int, read_size: int
) -> None:
    blob = seal(data, write_size=write_size)
    reader = DecryptingReader(ShortReads(blob), PW)
    got = bytearray()
    while part := reader.read(read_size):
        assert len(part) <= read_size
        got += part
    assert bytes(got) == data


def test_container_plaintext_does_not_appear_in_output() -> None:
    data = b"secret-volume-content " * 200
    assert b"secret-volume-content" not in seal(data)


def test_container_wrong_password_fails_before_reading_any_chunk() -> None:
    blob = seal(os.urandom(5 * CHUNK))
    source = io.BytesIO(blob)
    with pytest.raises(AuthError) as info:
        DecryptingReader(source, SecretStr("wrong"))
    assert source.tell() == HEADER_LEN + CHECK_LEN
    assert "wrong password" in info.value.message
    assert "correct horse" not in repr(info.value) + str(info.value.hint)


@pytest.mark.parametrize("offset", [HEADER_LEN + CHECK_LEN + 5, -1, -(TAG_LEN + 3)])
def test_container_flipped_body_byte_is_detected(offset: int) -> None:
    blob = bytearray(seal(os.urandom(3 * CHUNK + 10)))
    blob[offset] ^= 0x01
    with pytest.raises(IntegrityError):
        open_(bytes(blob))


@pytest.mark.parametrize("offset", [9, 20, HEADER_LEN - 1, HEADER_LEN + 2])
def test_container_modified_header_or_check_tag_fails_as_auth(offset: int) -> None:
    blob = bytearray(seal(b"x" * 100))
    blob[offset] ^= 0x01
    with pytest.raises((AuthError, DataError)):
        open_(bytes(blob))


def test_container_truncation_at_a_chunk_boundary_is_detected() -> None:
    blob = seal(os.urandom(3 * CHUNK + 10))
    parts = chunks_of(blob)
    for keep in range(len(parts)):
        with pytest.raises(IntegrityError, match="truncated"):
            open_(with_chunks(blob, parts[:keep]))


def test_container_truncation_inside_a_chunk_is_detected() -> None:
    blob = seal(os.urandom(3 * CHUNK + 10))
    for cut in (1, TAG_LEN - 1, TAG_LEN + 5, CHUNK):
        with pytest.raises(IntegrityError):
            open_(blob[:-cut])


def test_container_truncation_inside_the_header_is_detected() -> None:
    blob = seal(b"abc")
    with pytest.raises(IntegrityError, match="header"):
        open_(blob[: HEADER_LEN + 3])


def test_container_swapped_chunks_are_detected() -> None:
    blob = seal(os.urandom(3 * CHUNK + 10))
    parts = chunks_of(blob)
    parts[0], parts[1] = parts[1], parts[0]
    with pytest.raises(IntegrityError, match="chunk 0"):
        open_(with_chunks(blob, parts))


def test_container_appended_chunk_is_detected() -> None:
    blob = seal(os.urandom(2 * CHUNK + 10))
    parts = chunks_of(blob)
    with pytest.raises(IntegrityError):
        open_(with_chunks(blob, [*parts, parts[0]]))
    with pytest.raises(IntegrityError):
        open_(blob + b"\x00")


def test_container_chunk_from_another_file_with_same_password_is_rejected() -> None:
    a, b = seal(os.urandom(2 * CHUNK)), seal(os.urandom(2 * CHUNK))
    mixed = with_chunks(a, [chunks_of(a)[0], chunks_of(b)[1]])
    with pytest.raises(IntegrityError):
        open_(mixed)


def test_container_plain_data_is_not_mistaken_for_encrypted() -> None:
    assert not is_encrypted(b"\x28\xb5\x2f\xfd zstd frame")
    with pytest.raises(DataError, match="not a promkit encrypted file"):
        open_(b"\x28\xb5\x2f\xfd" + b"\x00" * 200)
    with pytest.raises(DataError):
        open_(b"")


def test_container_hostile_kdf_parameters_are_refused() -> None:
    header = ContainerHeader.new(CHEAP, CHUNK).raw
    hostile = header[:10] + struct.pack(">BII", 30, 8, 1) + header[19:]
    with pytest.raises(DataError, match="scrypt"):
        ContainerHeader.parse(hostile)


def test_container_hostile_chunk_size_is_refused() -> None:
    header = ContainerHeader.new(CHEAP, CHUNK).raw
    with pytest.raises(DataError, match="chunk size"):
        ContainerHeader.parse(header[:-4] + struct.pack(">I", 1 << 30))


def test_container_empty_or_missing_password_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        EncryptingWriter(io.BytesIO(), SecretStr(""), kdf=CHEAP)
    with pytest.raises(UsageError):
        EncryptingWriter(io.BytesIO(), None, kdf=CHEAP)


def test_container_header_records_kdf_params_and_is_read_back() -> None:
    blob = seal(b"abc")
    header = crypto.read_header(io.BytesIO(blob))
    assert header.kdf == CHEAP
    assert header.chunk_size == CHUNK


def test_container_default_kdf_is_strong_unless_test_knob_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(crypto.WEAK_KDF_ENV, raising=False)
    strong = default_kdf_params()
    # at least OWASP's minimum profile N=2^15, r=8, p=3
    assert strong.log_n >= 15 and strong.r >= 8 and strong.p >= 3
    monkeypatch.setenv(crypto.WEAK_KDF_ENV, "1")
    assert default_kdf_params().log_n < strong.log_n


def test_container_writer_memory_stays_bounded_for_large_writes() -> None:
    sink = io.BytesIO()
    w = EncryptingWriter(sink, PW, kdf=CHEAP, chunk_size=CHUNK)
    w.write(os.urandom(50 * CHUNK + 3))
    assert len(w._buf) <= CHUNK
    w.write(b"y" * 10)
    assert len(w._buf) <= CHUNK
    w.close()
    assert open_(sink.getvalue())[-10:] == b"y" * 10


def test_container_aborted_writer_leaves_an_invalid_stream() -> None:
    sink = io.BytesIO()
    w = EncryptingWriter(sink, PW, kdf=CHEAP, chunk_size=CHUNK)
    w.write(os.urandom(3 * CHUNK))
    w.abort()
    with pytest.raises(IntegrityError):
        open_(sink.getvalue())


def test_encryption_key_derived_ahead_encrypts_one_stream_only() -> None:
    key = EncryptionKey(PW, kdf=CHEAP, chunk_size=CHUNK)
    out = io.BytesIO()
    w = EncryptingWriter(out, key)
    w.write(b"x" * 5000)
    w.close()
    assert out.getvalue().startswith(key.header.raw)
    assert open_(out.getvalue()) == b"x" * 5000
    with pytest.raises(AuthError):
        open_(out.getvalue(), SecretStr("wrong"))
    # A second stream under the same header and key would repeat nonces.
    with pytest.raises(RuntimeError, match="one stream"):
        EncryptingWriter(io.BytesIO(), key)
    with pytest.raises(UsageError):
        EncryptionKey(None)
