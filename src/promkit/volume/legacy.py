"""Reading DVOM backups (``<id>.tar.gz``, plain or ``DVOM-ENC`` v1) so its users can migrate.

DVOM v1 encryption: header ``"DVOM-ENC"`` | ``0x01`` | salt (32) | base nonce (12), not
authenticated; key = PBKDF2-HMAC-SHA256(password, salt, 100,000, 32); the tar.gz is cut into
64 KiB chunks, each sealed with AES-256-GCM (no AAD) and written back to back as 65,552-byte
units (the last one shorter); chunk i's nonce is the base nonce with its low 8 bytes XORed
with big-endian i. Reading exact units (DVOM's own reader does not) makes every such file
readable. The format cannot detect truncation at a chunk boundary; the gzip trailer (CRC32
and length) at the end of the plaintext is the only check against that.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from pydantic import SecretStr

from promkit.core.errors import AuthError, DataError, IntegrityError, UsageError

DVOM_MAGIC = b"DVOM-ENC"
DVOM_HEADER_LEN = 8 + 1 + 32 + 12
DVOM_CHUNK = 64 * 1024
DVOM_UNIT = DVOM_CHUNK + 16
DVOM_ITERATIONS = 100_000
PIECE = 1 << 20


class DvomV1Reader(io.RawIOBase):
    """Plaintext (DVOM's tar.gz) of a ``DVOM-ENC`` v1 stream."""

    def __init__(self, source: BinaryIO, password: SecretStr | None) -> None:
        super().__init__()
        header = _read_exact(source, DVOM_HEADER_LEN)
        if len(header) < DVOM_HEADER_LEN or not header.startswith(DVOM_MAGIC):
            raise DataError("not a DVOM encrypted file (no DVOM-ENC header)")
        if header[8] != 1:
            raise DataError(f"unsupported DVOM encryption version {header[8]}")
        if password is None or not password.get_secret_value():
            raise UsageError(
                "this DVOM backup is encrypted; a password is needed",
                hint="Set PROMKIT_VOLUME_PASSWORD or use --password-file.",
            )
        salt, self._nonce = header[9:41], header[41:53]
        kdf = PBKDF2HMAC(
            algorithm=hashes.SHA256(), length=32, salt=salt, iterations=DVOM_ITERATIONS
        )
        self._aead = AESGCM(kdf.derive(password.get_secret_value().encode("utf-8")))
        self._source = source
        self._counter = 0
        self._out = memoryview(b"")
        self._eof = False

    def readable(self) -> bool:
        return True

    def _next(self) -> bytes:
        unit = _read_exact(self._source, DVOM_UNIT)
        if not unit:
            self._eof = True
            return b""
        low = int.from_bytes(self._nonce[4:], "big") ^ self._counter
        nonce = self._nonce[:4] + low.to_bytes(8, "big")
        try:
            plain = self._aead.decrypt(nonce, unit, None)
        except InvalidTag:
            if self._counter == 0:
                raise AuthError(
                    "wrong password for this DVOM backup (or its first chunk is damaged)",
                    hint="Nothing was changed.",
                ) from None
            raise IntegrityError(f"DVOM backup chunk {self._counter} is damaged") from None
        self._counter += 1
        return plain

    def readinto(self, buffer: Any) -> int:
        while not self._out and not self._eof:
            self._out = memoryview(self._next())
        n = min(len(buffer), len(self._out))
        memoryview(buffer).cast("B")[:n] = self._out[:n]
        self._out = self._out[n:]
        return n


def _read_exact(source: BinaryIO, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        data = source.read(n - got)
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def dvom_tar_pieces(source: Any, password: SecretStr | None) -> Iterator[bytes]:
    """The tar inside a DVOM backup file (plain ``tar.gz`` or ``DVOM-ENC`` v1), in pieces.

    The tar's entries are relative (``./...``), as DVOM's ``tar czf - -C /data .`` wrote
    them; extract them at the volume's mount point.
    """
    head = source.read(len(DVOM_MAGIC))
    rest: Any = _Prefixed(head, source)
    plain: Any = DvomV1Reader(rest, password) if head == DVOM_MAGIC else rest
    try:
        with gzip.GzipFile(fileobj=io.BufferedReader(plain, PIECE), mode="rb") as gz:
            while piece := gz.read(PIECE):
                yield piece
    except (OSError, EOFError, zlib.error) as exc:
        raise IntegrityError(f"the DVOM backup is not a valid tar.gz ({exc})") from None


class _Prefixed(io.RawIOBase):
    def __init__(self, prefix: bytes, source: Any) -> None:
        self._prefix = prefix
        self._source = source

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._prefix:
            data = self._prefix if size < 0 else self._prefix[:size]
            self._prefix = self._prefix[len(data) :]
            return data
        more: bytes = self._source.read(size)
        return more

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)
