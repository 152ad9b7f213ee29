"""Streaming AEAD container: password-based, chunked AES-256-GCM (see docs/backup-format.md).

Layout (all integers big-endian)::

    header   magic "PKCRYPT\\n" (8) | version u8 (=1) | kdf id u8 (1 = scrypt)
             | kdf params (scrypt: log2 N u8, r u32, p u32) | salt (32) | nonce prefix (4)
             | chunk size u32
    check    16-byte key-check tag = HMAC-SHA256(check key, header)[:16]
    body     chunk 0 .. chunk k, each AES-256-GCM(plaintext) || 16-byte tag
             nonce = prefix || u64 chunk counter,  AAD = header || final flag u8

Every chunk but the last holds exactly ``chunk size`` plaintext bytes; the last holds 0 to
``chunk size`` bytes and is the only one sealed with final flag 1. A reader therefore
rejects reordered chunks (wrong nonce), a truncated stream (its last chunk was not sealed
as final), appended data (the real final chunk is followed by more) and any change to the
header (it is the AAD of every chunk). The key-check tag lets a wrong password fail before
any chunk is read.

Both directions are file-like and hold at most two chunks in memory.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from pydantic import SecretStr

from promkit.core.errors import AuthError, DataError, IntegrityError, UsageError

MAGIC = b"PKCRYPT\n"
FORMAT_VERSION = 1
KDF_SCRYPT = 1
SALT_LEN = 32
NONCE_PREFIX_LEN = 4
TAG_LEN = 16
CHECK_LEN = 16
DEFAULT_CHUNK_SIZE = 1 << 20
MIN_CHUNK_SIZE = 1 << 10
MAX_CHUNK_SIZE = 1 << 24
_SCRYPT_PARAMS = struct.Struct(">BII")
_HEAD = struct.Struct(">8sBB")
_TAIL = struct.Struct(">I")
HEADER_LEN = _HEAD.size + _SCRYPT_PARAMS.size + SALT_LEN + NONCE_PREFIX_LEN + _TAIL.size
# A reader refuses KDF parameters that would make a hostile header eat memory or hours.
MAX_SCRYPT_LOG_N = 22
MAX_SCRYPT_MEMORY = 1 << 30
# Tests may make scrypt cheap through this variable (borg's trick); never set it in production.
WEAK_KDF_ENV = "PROMKIT_TESTONLY_WEAKEN_KDF"

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "HEADER_LEN",
    "MAGIC",
    "WEAK_KDF_ENV",
    "ContainerHeader",
    "DecryptingReader",
    "EncryptingWriter",
    "EncryptionKey",
    "ScryptParams",
    "ciphertext_size",
    "default_kdf_params",
    "is_encrypted",
]


class Writable(Protocol):
    def write(self, data: bytes, /) -> Any: ...


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class ScryptParams:
    """scrypt cost: N = 2**log_n, block size r, parallelism p (memory ~ 128 * r * N bytes)."""

    log_n: int = 15
    r: int = 8
    p: int = 3

    def check(self) -> None:
        if not (1 <= self.log_n <= MAX_SCRYPT_LOG_N and 1 <= self.r <= 64 and 1 <= self.p <= 64):
            raise DataError(
                f"encryption header has unsupported scrypt parameters "
                f"(log2 N={self.log_n}, r={self.r}, p={self.p})",
                hint="The file is corrupt or was not written by promkit.",
            )
        if 128 * self.r * (1 << self.log_n) > MAX_SCRYPT_MEMORY:
            raise DataError("encryption header asks scrypt for more than 1 GiB of memory")

    def derive(self, password: SecretStr, salt: bytes) -> bytes:
        self.check()
        secret = password.get_secret_value().encode("utf-8")
        kdf = Scrypt(salt=salt, length=32, n=1 << self.log_n, r=self.r, p=self.p)
        return kdf.derive(secret)


# OWASP's scrypt profile N=2^15, r=8, p=3: as strong as N=2^17, p=1 but needs 32 MiB, not 128.
_DEFAULT_SCRYPT = ScryptParams()
_WEAK_SCRYPT = ScryptParams(log_n=4, r=1, p=1)


def default_kdf_params() -> ScryptParams:
    """The scrypt cost new files get; tiny only when the test-only variable is set."""
    if os.environ.get(WEAK_KDF_ENV) == "1":
        return _WEAK_SCRYPT
    return _DEFAULT_SCRYPT


@dataclass(frozen=True)
class ContainerHeader:
    """The parsed, not yet authenticated, header of a container."""

    kdf: ScryptParams
    salt: bytes
    nonce_prefix: bytes
    chunk_size: int
    raw: bytes

    @classmethod
    def new(cls, kdf: ScryptParams, chunk_size: int) -> ContainerHeader:
        if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
            raise UsageError(f"chunk size must be {MIN_CHUNK_SIZE}..{MAX_CHUNK_SIZE} bytes")
        salt = os.urandom(SALT_LEN)
        prefix = os.urandom(NONCE_PREFIX_LEN)
        raw = (
            _HEAD.pack(MAGIC, FORMAT_VERSION, KDF_SCRYPT)
            + _SCRYPT_PARAMS.pack(kdf.log_n, kdf.r, kdf.p)
            + salt
            + prefix
            + _TAIL.pack(chunk_size)
        )
        return cls(kdf=kdf, salt=salt, nonce_prefix=prefix, chunk_size=chunk_size, raw=raw)

    @classmethod
    def parse(cls, raw: bytes) -> ContainerHeader:
        if len(raw) < HEADER_LEN or not raw.startswith(MAGIC):
            raise DataError(
                "not a promkit encrypted file (bad magic)",
                hint="The backup may not be encrypted, or it is corrupt.",
            )
        _, version, kdf_id = _HEAD.unpack_from(raw, 0)
        if version != FORMAT_VERSION:
            raise DataError(
                f"unsupported encryption format version {version}",
                hint="Upgrade promkit to read this file.",
            )
        if kdf_id != KDF_SCRYPT:
            raise DataError(f"unsupported key derivation function id {kdf_id}")
        pos = _HEAD.size
        log_n, r, p = _SCRYPT_PARAMS.unpack_from(raw, pos)
        pos += _SCRYPT_PARAMS.size
        salt = raw[pos : pos + SALT_LEN]
        pos += SALT_LEN
        prefix = raw[pos : pos + NONCE_PREFIX_LEN]
        pos += NONCE_PREFIX_LEN
        (chunk_size,) = _TAIL.unpack_from(raw, pos)
        if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
            raise DataError(f"encryption header has an invalid chunk size {chunk_size}")
        kdf = ScryptParams(log_n=log_n, r=r, p=p)
        kdf.check()
        return cls(
            kdf=kdf, salt=salt, nonce_prefix=prefix, chunk_size=chunk_size, raw=raw[:HEADER_LEN]
        )


@dataclass(frozen=True)
class _Keys:
    aead: AESGCM
    check: bytes

    @classmethod
    def derive(cls, header: ContainerHeader, password: SecretStr) -> _Keys:
        master = header.kdf.derive(password, header.salt)
        okm = HKDF(
            algorithm=hashes.SHA256(), length=64, salt=None, info=b"promkit-crypt-v1 keys"
        ).derive(master)
        return cls(aead=AESGCM(okm[:32]), check=okm[32:])

    def check_tag(self, header: ContainerHeader) -> bytes:
        return hmac.new(self.check, header.raw, hashlib.sha256).digest()[:CHECK_LEN]


def _nonce(prefix: bytes, counter: int) -> bytes:
    return prefix + counter.to_bytes(8, "big")


def is_encrypted(prefix: bytes) -> bool:
    """Whether ``prefix`` (the first bytes of a file) starts a promkit encrypted container."""
    return prefix.startswith(MAGIC)


def ciphertext_size(plaintext_size: int, chunk_size: int = DEFAULT_CHUNK_SIZE) -> int:
    """The exact size of the container holding ``plaintext_size`` bytes."""
    chunks = max(1, -(-plaintext_size // chunk_size))
    return HEADER_LEN + CHECK_LEN + plaintext_size + chunks * TAG_LEN


def _require_password(password: SecretStr | None) -> SecretStr:
    if password is None or not password.get_secret_value():
        raise UsageError(
            "an encryption password is required",
            hint="Give it at the prompt, in PROMKIT_VOLUME_PASSWORD or with --password-file.",
        )
    return password


class EncryptionKey:
    """A new container's header and keys, derived ahead of time for exactly one stream.

    scrypt is the slow part of starting to encrypt (~0.4 s at the default cost, with the
    GIL released): deriving it on a thread while other setup runs takes it off the critical
    path. One key serves one ``EncryptingWriter`` only: a second stream under the same header
    would repeat nonces, so ``take()`` refuses a second use.
    """

    def __init__(
        self,
        password: SecretStr | None,
        *,
        kdf: ScryptParams | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        self.header = ContainerHeader.new(kdf or default_kdf_params(), chunk_size)
        self._keys: _Keys | None = _Keys.derive(self.header, _require_password(password))

    def take(self) -> tuple[ContainerHeader, _Keys]:
        keys, self._keys = self._keys, None
        if keys is None:
            raise RuntimeError("an EncryptionKey encrypts one stream only (nonces would repeat)")
        return self.header, keys


class EncryptingWriter(io.RawIOBase):
    """Encrypts what is written to it into ``sink``; ``close()`` seals the final chunk.

    The header and key-check tag are written at construction. Closing does not close
    ``sink``. If writing fails, call ``abort()`` (or just drop the writer): an unsealed
    stream is never a valid container.
    """

    def __init__(
        self,
        sink: Writable,
        password: SecretStr | EncryptionKey | None,
        *,
        kdf: ScryptParams | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        """``password`` may be an :class:`EncryptionKey` derived ahead (then ``kdf`` and
        ``chunk_size`` are the key's)."""
        super().__init__()
        self._sink = sink
        if isinstance(password, EncryptionKey):
            self.header, keys = password.take()
        else:
            self.header = ContainerHeader.new(kdf or default_kdf_params(), chunk_size)
            keys = _Keys.derive(self.header, _require_password(password))
        self._aead = keys.aead
        self._buf = bytearray()
        self._counter = 0
        self._aborted = False
        self.bytes_out = 0
        self._emit(self.header.raw + keys.check_tag(self.header))

    def _emit(self, data: bytes) -> None:
        self._sink.write(data)
        self.bytes_out += len(data)

    def _seal(self, plaintext: bytes | bytearray | memoryview, final: bool) -> None:
        aad = self.header.raw + (b"\x01" if final else b"\x00")
        nonce = _nonce(self.header.nonce_prefix, self._counter)
        self._emit(self._aead.encrypt(nonce, plaintext, aad))
        self._counter += 1

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("write to a closed EncryptingWriter")
        view = memoryview(data).cast("B")
        n = len(view)
        size = self.header.chunk_size
        self._buf += view
        if len(self._buf) > size:
            # A full chunk is sealed only once a later byte exists, so the last one can be final.
            pos = 0
            with memoryview(self._buf) as buf:
                while len(buf) - pos > size:
                    self._seal(buf[pos : pos + size], final=False)
                    pos += size
            del self._buf[:pos]
        return n

    def abort(self) -> None:
        """Close without sealing: the output stays an invalid (truncated) container."""
        self._aborted = True
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        try:
            if not self._aborted:
                self._seal(self._buf, final=True)
                self._buf = bytearray()
        finally:
            super().close()


class DecryptingReader(io.RawIOBase):
    """Reads plaintext out of a container in ``source``.

    The header and key-check tag are read and verified at construction, so a wrong
    password raises ``AuthError`` before any chunk moves. Reading past the end verifies
    that the stream ended with its final chunk; any failure raises ``IntegrityError``.
    """

    def __init__(self, source: Readable, password: SecretStr | None) -> None:
        super().__init__()
        self._source = source
        raw = _read_exact(source, HEADER_LEN + CHECK_LEN)
        if len(raw) < HEADER_LEN + CHECK_LEN:
            if not raw.startswith(MAGIC[: len(raw)]) or len(raw) < len(MAGIC):
                raise DataError("not a promkit encrypted file (too short or bad magic)")
            raise IntegrityError("encrypted file is truncated inside its header")
        self.header = ContainerHeader.parse(raw[:HEADER_LEN])
        keys = _Keys.derive(self.header, _require_password(password))
        if not hmac.compare_digest(keys.check_tag(self.header), raw[HEADER_LEN:]):
            raise AuthError(
                "wrong password (or the encryption header was modified)",
                hint="Check PROMKIT_VOLUME_PASSWORD / --password-file; nothing was changed.",
            )
        self._aead = keys.aead
        self._unit = self.header.chunk_size + TAG_LEN
        self._pending = _read_exact(source, self._unit)
        self._out = memoryview(b"")
        self._counter = 0
        self._done = False
        self.bytes_in = HEADER_LEN + CHECK_LEN + len(self._pending)

    def readable(self) -> bool:
        return True

    def _next_chunk(self) -> bytes:
        unit = self._pending
        following = _read_exact(self._source, self._unit) if len(unit) == self._unit else b""
        self.bytes_in += len(following)
        final = not following
        if len(unit) < TAG_LEN:
            raise IntegrityError(
                "encrypted file is truncated (a chunk is shorter than its tag)",
                hint="The stored object is incomplete; use another version.",
            )
        aad = self.header.raw + (b"\x01" if final else b"\x00")
        try:
            plain = self._aead.decrypt(_nonce(self.header.nonce_prefix, self._counter), unit, aad)
        except InvalidTag:
            what = "truncated, reordered or modified" if final else "modified or reordered"
            raise IntegrityError(
                f"encrypted file failed authentication at chunk {self._counter} ({what})",
                hint="The stored object is damaged or incomplete; use another version.",
            ) from None
        self._counter += 1
        self._pending = following
        if final:
            self._done = True
        return plain

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = [bytes(self._out)]
            self._out = memoryview(b"")
            while not self._done:
                parts.append(self._next_chunk())
            return b"".join(parts)
        while not self._out and not self._done:
            self._out = memoryview(self._next_chunk())
        data = bytes(self._out[:size])
        self._out = self._out[size:]
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        n = len(data)
        memoryview(buffer).cast("B")[:n] = data
        return n


def _read_exact(source: Readable, n: int) -> bytes:
    """Read exactly ``n`` bytes unless the stream ends first (object stores return short reads)."""
    first = source.read(n)
    if len(first) == n or not first:
        return first
    parts = [first]
    got = len(first)
    while got < n:
        more = source.read(n - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def read_header(source: BinaryIO) -> ContainerHeader:
    """Parse a container's header without a password (for ``info``)."""
    return ContainerHeader.parse(_read_exact(source, HEADER_LEN))
