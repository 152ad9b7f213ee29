"""The DVOM reader turns every damaged byte into an IntegrityError, never a codec exception."""

from __future__ import annotations

import gzip
import io

import pytest

from promkit.core.errors import IntegrityError
from promkit.volume.legacy import dvom_tar_pieces


def test_dvom_flipped_bytes_are_integrity_errors() -> None:
    text = "".join(f"series {i} value {i * 7919 % 1009}\n" for i in range(20_000)).encode()
    clean = gzip.compress(text, mtime=0)
    assert b"".join(dvom_tar_pieces(io.BytesIO(clean), None)) == text
    # Past the 10-byte gzip header (its mtime/OS bytes are not covered by any checksum).
    for at in range(10, len(clean), max(1, len(clean) // 300)):
        blob = bytearray(clean)
        blob[at] ^= 0x01
        with pytest.raises(IntegrityError):
            b"".join(dvom_tar_pieces(io.BytesIO(bytes(blob)), None))
