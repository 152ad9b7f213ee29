"""Series values and the VictoriaMetrics JSON-lines codec.

One line per series, as ``/api/v1/export`` writes and ``/api/v1/import`` reads::

    {"metric":{"__name__":"up","job":"a"},"values":[1,0.5,+Inf],"timestamps":[1700000000000,...]}

The decoder is tolerant, because real exports are not always valid JSON: VictoriaMetrics
1.79 writes the bare tokens ``+Inf`` and ``-Inf`` (``NaN`` too, in other versions and
tools), others write ``null``,
``"NaN"``, ``"Infinity"``, numbers as strings or booleans. A point that cannot be read is
skipped and counted; it never drops the whole series. Only a line that is not a series at
all raises ``DataError``. ``null`` points are skipped too: VictoriaMetrics 1.79 exports
Prometheus staleness markers as ``null`` and refuses ``null`` on import.

The encoder writes what VictoriaMetrics' import accepts: finite numbers as JSON numbers and
non-finite values as the bare tokens ``+Inf``, ``-Inf``, ``NaN`` (VM 1.79 rejects strings
and ``null`` in ``values`` and then drops the whole line; it accepts ``NaN`` but does not
store it).

``rewrite_metric`` is the fast path for label rewriting: it parses only the ``"metric"``
object and passes the value and timestamp arrays through as raw bytes (about 6x faster
than a full decode and re-encode; see ``bench/codec.py``). ``MetricRewriter`` does the same
for a stream and remembers each distinct metric object's rewritten bytes, so a series that
comes back (once per export window) costs a dict lookup instead of a parse, a rewrite and a
dump.
"""

from __future__ import annotations

import json
import math
import re
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from promkit.core.errors import DataError

__all__ = [
    "DecodeStats",
    "Labels",
    "MetricRewriter",
    "Sample",
    "Series",
    "decode_line",
    "encode_line",
    "encode_series",
    "iter_lines",
    "iter_series",
    "rewrite_metric",
]


class Labels(Mapping[str, str]):
    """An immutable, hashable label set kept sorted by label name (byte order of UTF-8)."""

    __slots__ = ("_d", "_hash", "_pb")

    def __init__(self, labels: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        items = labels.items() if isinstance(labels, Mapping) else labels
        self._d: dict[str, str] = dict(sorted(items))
        self._hash: int | None = None
        # Lazily filled by the remote-write encoder: the labels' protobuf bytes.
        self._pb: bytes | None = None

    def __getitem__(self, name: str) -> str:
        return self._d[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __contains__(self, name: object) -> bool:
        return name in self._d

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(tuple(self._d.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Labels):
            return self._d == other._d
        if isinstance(other, Mapping):
            return self._d == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._d.items())
        return f"Labels({{{inner}}})"

    @property
    def name(self) -> str:
        """The metric name (``__name__``), empty if absent."""
        return self._d.get("__name__", "")

    def pairs(self) -> tuple[tuple[str, str], ...]:
        return tuple(self._d.items())

    def to_dict(self) -> dict[str, str]:
        """A fresh, mutable copy."""
        return dict(self._d)

    def with_labels(self, updates: Mapping[str, str]) -> Labels:
        """A copy with ``updates`` set (overwriting labels of the same name)."""
        return Labels({**self._d, **updates})

    def without(self, names: Iterable[str]) -> Labels:
        drop = set(names)
        return Labels((k, v) for k, v in self._d.items() if k not in drop)


class Sample(NamedTuple):
    value: float
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class Series:
    """One series: labels plus parallel lists of values and millisecond timestamps."""

    labels: Labels
    values: list[float]
    timestamps: list[int]

    def __post_init__(self) -> None:
        if len(self.values) != len(self.timestamps):
            raise DataError(
                f"series {self.labels.name or '{}'} has {len(self.values)} values "
                f"but {len(self.timestamps)} timestamps"
            )

    @classmethod
    def of(
        cls,
        labels: Mapping[str, str] | Labels,
        values: Sequence[float],
        timestamps: Sequence[int],
    ) -> Series:
        lab = labels if isinstance(labels, Labels) else Labels(labels)
        return cls(lab, list(values), list(timestamps))

    @property
    def name(self) -> str:
        return self.labels.name

    def __len__(self) -> int:
        return len(self.timestamps)

    def samples(self) -> Iterator[Sample]:
        return map(Sample._make, zip(self.values, self.timestamps, strict=True))


@dataclass
class DecodeStats:
    """What a decoder saw; shared by a whole stream."""

    lines: int = 0
    series: int = 0
    samples: int = 0
    skipped_points: int = 0
    bad_lines: int = 0
    errors: list[str] = field(default_factory=list)  # the first few bad-line messages

    def note_error(self, message: str, keep: int = 10) -> None:
        self.bad_lines += 1
        if len(self.errors) < keep:
            self.errors.append(message)


# ------------------------------------------------------------------------- line splitting


def iter_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Split a byte stream into lines (without ``\\n`` / ``\\r\\n``), skipping blank lines.

    No length limit: a line may span any number of chunks. Memory holds one partial line.
    """
    pending = bytearray()
    for chunk in chunks:
        if not chunk:
            continue
        parts = bytes(chunk).split(b"\n")
        if len(parts) == 1:
            pending += parts[0]
            continue
        first = parts[0]
        if pending:
            pending += first
            first = bytes(pending)
            pending.clear()
        parts[0] = first
        pending += parts.pop()
        for line in parts:
            if line.endswith(b"\r"):
                line = line[:-1]
            if line and not line.isspace():
                yield line
    if pending:
        line = bytes(pending).rstrip(b"\r")
        if line and not line.isspace():
            yield line


# ------------------------------------------------------------------------- decoding

# A JSON string (kept as it is) or a bare non-finite token outside strings.
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|([+-]?)(Infinity|Inf|NaN)', re.DOTALL)
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_SPECIAL = {
    "nan": math.nan,
    "+nan": math.nan,
    "-nan": math.nan,
    "inf": math.inf,
    "+inf": math.inf,
    "infinity": math.inf,
    "+infinity": math.inf,
    "-inf": -math.inf,
    "-infinity": -math.inf,
}
_INT64 = (-(1 << 63), (1 << 63) - 1)


def _js_token(m: re.Match[bytes]) -> bytes:
    """Bare tokens become the spellings Python's json module reads as floats."""
    word = m.group(2)
    if word is None:
        return m.group(0)
    if word == b"NaN":
        return b"NaN"
    return b"-Infinity" if m.group(1) == b"-" else b"Infinity"


def _load(line: bytes) -> tuple[Any, bytes]:
    """Parse one line; returns the object and the bytes that were parsed."""
    try:
        return orjson.loads(line), line
    except orjson.JSONDecodeError as exc:
        first = exc
    if b"Inf" in line or b"NaN" in line:
        quoted = _quote_tokens(line)
        if quoted is not None:
            try:
                return orjson.loads(quoted), quoted
            except orjson.JSONDecodeError:
                pass
        line = _TOKENS.sub(_js_token, line)
    # The stdlib reads what orjson refuses: tokens spelled its way, 1e400, huge integers.
    try:
        return json.loads(line), line
    except ValueError:
        raise DataError(
            f"not a JSON line: {first}",
            hint="Each line must be one JSON object as /api/v1/export writes it.",
        ) from None


def _quote_tokens(line: bytes) -> bytes | None:
    """VM's layout with bare tokens in the arrays: quote them with plain replaces (the
    arrays hold no strings), so orjson can read the line; None for other layouts."""
    cut = line.find(_VALUES_KEY)
    if cut < 0 or line.count(b'"', cut) != 4:  # only the two keys' quotes
        return None
    arrays = (
        line[cut:]
        .replace(b"Infinity", b"Inf")
        .replace(b"+Inf", b"Inf")
        .replace(b"-Inf", b"\x00")  # NUL cannot occur in JSON outside strings
        .replace(b"Inf", b'"+Inf"')
        .replace(b"\x00", b'"-Inf"')
        .replace(b"+NaN", b"NaN")
        .replace(b"-NaN", b"NaN")
        .replace(b"NaN", b'"NaN"')
    )
    return line[:cut] + arrays


def _value(v: Any) -> float | None:
    t = type(v)
    if t is float:
        return float(v)
    if t is int:
        return int(v) if _INT64[0] <= v <= _INT64[1] else float(v)
    if t is bool:
        return 1 if v else 0
    if t is str:
        s = v.strip()
        special = _SPECIAL.get(s.lower())
        if special is not None:
            return special
        if _NUMBER.fullmatch(s):
            return float(s)
    return None  # null, objects, garbage: the point is skipped


def _timestamp(t: Any) -> int | None:
    kind = type(t)
    if kind is int:
        return int(t) if _INT64[0] <= t <= _INT64[1] else None
    if kind is float and math.isfinite(t) and t == int(t):
        return _timestamp(int(t))
    if kind is str and _NUMBER.fullmatch(t.strip()):
        return _timestamp(float(t))
    return None


def _points(line: bytes, values: Any, timestamps: Any) -> tuple[list[float], list[int], int]:
    if type(values) is not list or type(timestamps) is not list:
        raise DataError('"values" and "timestamps" must be arrays')
    # Fast path: the raw arrays hold only number characters, so orjson gave ints and
    # floats (no strings, null, booleans or nesting) and non-negative integer timestamps
    # (ints beyond uint64 come back as floats, and fail the int64 bound too).
    if (
        len(values) == len(timestamps)
        and _numbers_only(line)
        and (not timestamps or max(timestamps) <= _INT64[1])
    ):
        return values, timestamps, 0
    if len(values) == len(timestamps) and _int64_list(line, timestamps):
        # Timestamps are fine: repair only the values that are not numbers already.
        odd = [i for i, v in enumerate(values) if type(v) is not float and type(v) is not int]
        values = list(values)
        drop = set()
        for i in odd:
            fv = _value(values[i])
            if fv is None:
                drop.add(i)
            else:
                values[i] = fv
        if not drop:
            return values, timestamps, 0
        kept = [i for i in range(len(values)) if i not in drop]
        return [values[i] for i in kept], [timestamps[i] for i in kept], len(drop)
    vals: list[float] = []
    tss: list[int] = []
    for v, t in zip(values, timestamps, strict=False):
        fv = _value(v)
        ts = _timestamp(t)
        if fv is not None and ts is not None:
            vals.append(fv)
            tss.append(ts)
    skipped = max(len(values), len(timestamps)) - len(vals)
    return vals, tss, skipped


def _int64_list(line: bytes, timestamps: list[Any]) -> bool:
    """All timestamps are int64 integers (array() checks in C; it would take booleans,
    so a line that mentions them is left to the per-point path)."""
    if b"true" in line or b"false" in line:
        return False
    try:
        array("q", timestamps)
    except (TypeError, OverflowError):
        return False
    return True


_VALUES_KEY = b',"values":['
_TIMESTAMPS_KEY = b'],"timestamps":['
_NUMBER_CHARS = b"0123456789.eE+-, \t\rInfityNa"  # with json's Infinity and NaN
_INTEGER_CHARS = b"0123456789,]} \t\r\n"


def _numbers_only(line: bytes) -> bool:
    """True if the line has VictoriaMetrics' layout, its value array holds only numbers
    and its timestamp array only non-negative integers.

    Neither key can occur inside a JSON string (a quote there follows a backslash), so
    the first match of each delimits the value array.
    """
    start = line.find(_VALUES_KEY)
    end = line.find(_TIMESTAMPS_KEY, start)
    if start < 0 or end < 0:
        return False
    if line[start + len(_VALUES_KEY) : end].translate(None, _NUMBER_CHARS):
        return False
    return not line[end + len(_TIMESTAMPS_KEY) :].translate(None, _INTEGER_CHARS)


def _metric(obj: Any) -> dict[str, str]:
    if type(obj) is not dict:
        raise DataError('"metric" must be an object of label names to values')
    for k, v in obj.items():
        if type(v) is not str:
            if v is None or isinstance(v, dict | list):
                raise DataError(f"label {k!r} has a non-string value {v!r}")
            obj[k] = orjson.dumps(v).decode() if type(v) is bool else str(v)
    return obj


def decode_line(line: bytes) -> tuple[Series, int]:
    """One JSON line to ``(series, skipped_points)``; ``DataError`` if it is no series."""
    obj, line = _load(line)
    if type(obj) is not dict or "metric" not in obj:
        raise DataError(
            'a line without a "metric" object',
            hint='Expected {"metric":{...},"values":[...],"timestamps":[...]} per line.',
        )
    metric = _metric(obj["metric"])
    values, timestamps, skipped = _points(line, obj.get("values", []), obj.get("timestamps", []))
    return Series(Labels(metric), values, timestamps), skipped


def iter_series(
    lines: Iterable[bytes], *, stats: DecodeStats | None = None, strict: bool = False
) -> Iterator[Series]:
    """Decode lines to series; bad lines are counted in ``stats`` (or raise when strict)."""
    st = stats if stats is not None else DecodeStats()
    for line in lines:
        st.lines += 1
        try:
            series, skipped = decode_line(line)
        except DataError as exc:
            msg = f"line {st.lines}: {exc.message}"
            if strict:
                raise DataError(msg, hint=exc.hint) from None
            st.note_error(msg)
            continue
        st.series += 1
        st.samples += len(series.timestamps)
        st.skipped_points += skipped
        yield series


# ------------------------------------------------------------------------- encoding


def _float_token(v: float) -> bytes:
    if v != v:
        return b"NaN"
    if v == math.inf:
        return b"+Inf"
    if v == -math.inf:
        return b"-Inf"
    return orjson.dumps(v)


def _encode_values(values: Sequence[float]) -> bytes:
    out = orjson.dumps(values)
    if b"null" not in out:
        return out
    # orjson writes NaN and +-Inf as null; VictoriaMetrics wants the bare tokens.
    if any(v is None for v in values):
        raise DataError("cannot encode a null value: drop the point instead")
    return b"[" + b",".join(map(_float_token, values)) + b"]"


def encode_line(
    metric: Mapping[str, str], values: Sequence[float], timestamps: Sequence[int]
) -> bytes:
    """One import line, ending in ``\\n``."""
    m = _plain(metric)
    try:
        line = orjson.dumps(
            {"metric": m, "values": values, "timestamps": timestamps},
            option=orjson.OPT_APPEND_NEWLINE,
        )
        if b"null" not in line:  # orjson writes NaN and +-Inf as null
            return line
        return b"".join(
            (
                b'{"metric":',
                orjson.dumps(m),
                b',"values":',
                _encode_values(values),
                b',"timestamps":',
                orjson.dumps(timestamps),
                b"}\n",
            )
        )
    except TypeError as exc:
        raise DataError(f"cannot encode series {dict(m)!r}: {exc}") from None


def encode_series(series: Series) -> bytes:
    return encode_line(series.labels, series.values, series.timestamps)


_PREFIX = b'{"metric":'
_CUT = b',"values":['


def rewrite_metric(
    line: bytes,
    rewrite: Callable[[dict[str, str]], Mapping[str, str]],
    *,
    stats: DecodeStats | None = None,
) -> bytes:
    """Apply ``rewrite`` to the labels of one line, leaving the points untouched.

    For lines in VictoriaMetrics' own layout only the ``metric`` object is parsed and the
    value/timestamp arrays are copied as bytes (bare ``+Inf``/``NaN`` stay as they are).
    Other layouts, and points VictoriaMetrics would refuse (strings, ``null``, booleans),
    are decoded and re-encoded in full (skipped points go to ``stats``).
    Returns the new line ending in ``\\n``; raises ``DataError`` if it is no series.
    """
    line, cut, _ = _fast_layout(line)
    if cut > 0:
        head = _rewritten_head(line[10:cut], rewrite)
        if head is not None:
            return b"".join((head, line[cut:], b"\n"))
    return _rewrite_decoded(line, rewrite, stats)[0]


class MetricRewriter:
    """``rewrite_metric`` for a stream of lines, with the rewritten ``metric`` object of
    each distinct raw one cached (up to ``cache_size`` entries, then the cache restarts).

    ``rewrite`` must give the same labels whenever it sees the same labels (the export's
    ``Obfuscator`` does: its mapping is fixed once a value has been seen).
    """

    __slots__ = ("_heads", "_limit", "rewrite", "stats")

    def __init__(
        self,
        rewrite: Callable[[dict[str, str]], Mapping[str, str]],
        *,
        stats: DecodeStats | None = None,
        cache_size: int = 20_000,
    ) -> None:
        self.rewrite = rewrite
        self.stats = stats
        self._heads: dict[bytes, bytes] = {}
        self._limit = cache_size

    def __call__(self, line: bytes) -> bytes:
        return self.counted(line)[0]

    def counted(self, line: bytes) -> tuple[bytes, int]:
        """``(new line, number of points in it)``; the count comes from the same pass
        that checks the points, so callers need not scan the line again."""
        line, cut, points = _fast_layout(line)
        if cut > 0:
            key = line[10:cut]
            head = self._heads.get(key)
            if head is None:
                head = _rewritten_head(key, self.rewrite)
                if head is not None:
                    if len(self._heads) >= self._limit:
                        self._heads.clear()
                    self._heads[key] = head
            if head is not None:
                return b"".join((head, line[cut:], b"\n")), points
        return _rewrite_decoded(line, self.rewrite, self.stats)


def _fast_layout(line: bytes) -> tuple[bytes, int, int]:
    """``(line, cut, points)``: ``cut`` > 0 is where ``,"values":[`` starts in a line of
    VictoriaMetrics' layout whose points can be copied as they are, ``points`` how many
    there are; else ``cut`` <= 0.

    ',"values":[' cannot occur inside a JSON string (a quote there is escaped), so the
    first one ends the metric object (whose parse, by the caller, proves it is one).
    """
    if not line.endswith(b"}"):
        line = line.rstrip()
        if not line.endswith(b"}"):
            return line, -1, 0
    if not line.startswith(_PREFIX):
        return line, -1, 0
    cut = line.find(_CUT)
    if cut > 0:
        points = _importable_points(line[cut:])
        if points >= 0:
            return line, cut, points
    return line, -1, 0


def _rewritten_head(
    raw_metric: bytes, rewrite: Callable[[dict[str, str]], Mapping[str, str]]
) -> bytes | None:
    """``{"metric":<rewritten>`` for the raw metric object, or None unless it is an object
    of string values."""
    try:
        metric = orjson.loads(raw_metric)
    except orjson.JSONDecodeError:
        return None
    if type(metric) is not dict or not all(type(v) is str for v in metric.values()):
        return None
    return _PREFIX + orjson.dumps(_plain(rewrite(metric)))


def _rewrite_decoded(
    line: bytes,
    rewrite: Callable[[dict[str, str]], Mapping[str, str]],
    stats: DecodeStats | None,
) -> tuple[bytes, int]:
    series, skipped = decode_line(line)
    if stats is not None:
        stats.skipped_points += skipped
    new = encode_line(rewrite(series.labels.to_dict()), series.values, series.timestamps)
    return new, len(series.timestamps)


# Characters of numbers and of the bare tokens +Inf, -Inf and NaN. Commas, structure
# characters and blanks are not among them: they must come exactly as in the skeleton,
# with as many commas in the timestamps as in the values.
_POINT_CHARS = b"0123456789.eE+-InfNa"
_SKELETON = tuple(
    part.translate(None, _POINT_CHARS) for part in (b',"values":[', b'],"timestamps":[', b"]}")
)
_SKELETON_LEN = sum(map(len, _SKELETON))
_RESIDUES: dict[int, bytes] = {}


def _importable_points(tail: bytes) -> int:
    """The number of points if ``tail`` is ``,"values":[...],"timestamps":[...]}`` with
    only number characters and bare tokens in two arrays of equal length (no strings,
    ``null``, booleans, objects, nested arrays or blanks: those lines take the full
    decode); else -1. One C-level pass over the tail; it does not prove every number
    well formed (VictoriaMetrics never writes a malformed one).
    """
    residue = tail.translate(None, _POINT_CHARS)
    extra = len(residue) - _SKELETON_LEN
    if extra < 0 or extra & 1:
        return -1
    commas = extra >> 1
    expected = _RESIDUES.get(commas)
    if expected is None:
        sep = b"," * commas
        expected = b"".join((_SKELETON[0], sep, _SKELETON[1], sep, _SKELETON[2]))
        if len(_RESIDUES) >= 1024:
            _RESIDUES.clear()
        _RESIDUES[commas] = expected
    if residue != expected:
        return -1
    if commas:
        return commas + 1
    no_values = tail.startswith(b"[]", len(_CUT) - 1)
    if no_values != tail.endswith(b"[]}"):
        return -1  # one array empty, the other not
    return 0 if no_values else 1


def _plain(metric: Mapping[str, str]) -> dict[str, str]:
    if isinstance(metric, Labels):
        return metric._d
    return metric if type(metric) is dict else dict(metric)
