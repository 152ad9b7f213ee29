"""Prometheus remote write 1.0 wire format, encoded by hand.

Only the messages a writer needs (``prompb/remote.proto``, ``prompb/types.proto``)::

    WriteRequest { repeated TimeSeries timeseries = 1; }
    TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
    Label        { string name = 1; string value = 2; }
    Sample       { double value = 1; int64 timestamp = 2; }   // timestamp in ms

Hand encoding avoids protoc and is faster than the upb runtime (the protobuf package makes
one Python object per sample). Samples are framed without a per-sample Python loop: the
doubles come from one ``struct`` pack, the timestamp varints are built for all samples at once
with big-integer bit arithmetic (each timestamp in its own 64-bit lane), and both are
interleaved into a record template with strided slice assignment. Series whose timestamps
need different varint widths (never the case for ms timestamps between 1971 and 2109) take
a per-sample path. The unit tests decode our bytes with a real protobuf runtime.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

import cramjam

from promkit.core.errors import DataError
from promkit.core.series import Labels, Series

__all__ = [
    "STALE_NAN",
    "compress",
    "encode_labels",
    "encode_samples",
    "encode_timeseries",
    "encode_write_request",
    "is_stale_nan",
]

# Prometheus' staleness marker: a NaN with a distinct bit pattern (value.StaleNaN).
STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1


def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64  # int64 negatives are 10-byte two's complement varints
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    return bytes((tag,)) + _varint(len(payload)) + payload


def encode_labels(labels: Mapping[str, str]) -> bytes:
    """The ``labels`` fields of a TimeSeries, sorted by name (cached on ``Labels``)."""
    if isinstance(labels, Labels):
        if labels._pb is None:
            labels._pb = _encode_labels(labels.items())
        return labels._pb
    return _encode_labels(sorted(labels.items()))


def _encode_labels(items: Iterable[tuple[str, str]]) -> bytes:
    parts = []
    for name, value in items:
        if not name:
            raise DataError("a label with an empty name cannot be sent by remote write")
        pair = _field(0x0A, name.encode()) + _field(0x12, value.encode())
        parts.append(_field(0x0A, pair))
    return b"".join(parts)


def _width(ts: int) -> int:
    return 10 if ts < 0 else max(1, (ts.bit_length() + 6) // 7)


def encode_samples(values: Sequence[float], timestamps: Sequence[int]) -> bytes:
    """The ``samples`` fields of a TimeSeries (each: tag, length, Sample message)."""
    n = len(timestamps)
    if n != len(values):
        raise DataError(f"{len(values)} values but {n} timestamps")
    if n == 0:
        return b""
    try:
        doubles = _packer("d", n).pack(*values)
        raw = _packer("q", n).pack(*timestamps)
    except struct.error as exc:
        raise DataError(f"cannot encode samples: {exc}") from None
    x = int.from_bytes(raw, "little")
    width = _width(max(timestamps[0], timestamps[-1]))
    if width > 8 or not _all_width(x, n, width):
        return _encode_samples_slow(doubles, timestamps)
    rec = 12 + width
    out = bytearray(_template(width) * n)
    for j in range(8):
        out[3 + j :: rec] = doubles[j::8]
    y = 0
    low7 = _lane_mask(n, b"\x7f")
    for j in range(width):
        y |= ((x >> (7 * j)) & low7) << (8 * j)
    varints = (y | _lane_mask(n, b"\x80" * (width - 1))).to_bytes(8 * n, "little")
    for j in range(width):
        out[12 + j :: rec] = varints[j::8]
    return bytes(out)


@lru_cache(maxsize=64)
def _packer(kind: str, n: int) -> struct.Struct:
    return struct.Struct(f"<{n}{kind}")


@lru_cache(maxsize=8)
def _template(width: int) -> bytes:
    """One Sample field with its constant bytes set: tag, length, value tag, timestamp tag."""
    return bytes((0x12, 10 + width, 0x09)) + bytes(8) + b"\x10" + bytes(width)


@lru_cache(maxsize=256)
def _lane_mask(n: int, low_bytes: bytes) -> int:
    """An integer of n little-endian 64-bit lanes, each starting with ``low_bytes``."""
    return int.from_bytes((low_bytes + bytes(8 - len(low_bytes))) * n, "little")


def _all_width(x: int, n: int, width: int) -> bool:
    """Every 64-bit lane of x is a non-negative number whose varint has ``width`` bytes."""
    if x & ~_lane_mask(n, _low_bits(7 * width)):
        return False  # a lane has bits at or above 7*width set (or is negative)
    if width == 1:
        return True
    low7 = _lane_mask(n, b"\x7f")
    top = (x >> (7 * (width - 1))) & low7  # each lane's highest 7-bit group
    # adding 0x7f carries into bit 7 exactly when the group is non-zero
    return ((top + low7) & _lane_mask(n, b"\x80")) == _lane_mask(n, b"\x80")


@lru_cache(maxsize=16)
def _low_bits(bits: int) -> bytes:
    return ((1 << bits) - 1).to_bytes(8, "little")


def _encode_samples_slow(doubles: bytes, timestamps: Sequence[int]) -> bytes:
    parts = []
    for i, ts in enumerate(timestamps):
        body = b"\x09" + doubles[8 * i : 8 * i + 8] + b"\x10" + _varint(ts)
        parts.append(b"\x12" + _varint(len(body)) + body)
    return b"".join(parts)


def encode_timeseries(
    labels: Mapping[str, str], values: Sequence[float], timestamps: Sequence[int]
) -> bytes:
    """One ``timeseries`` field of a WriteRequest (tag + length + TimeSeries)."""
    return _field(0x0A, encode_labels(labels) + encode_samples(values, timestamps))


def encode_write_request(series: Iterable[Series]) -> bytes:
    """The uncompressed WriteRequest holding ``series`` (labels sorted by name)."""
    return b"".join(encode_timeseries(s.labels, s.values, s.timestamps) for s in series)


def compress(payload: bytes) -> bytes:
    """Snappy block format, as remote write requires (not the framed stream format)."""
    return bytes(cramjam.snappy.compress_raw(payload))


def is_stale_nan(value: float) -> bool:
    return math.isnan(value) and struct.pack("<d", value) == struct.pack("<d", STALE_NAN)
