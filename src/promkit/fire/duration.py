"""Durations and instants as written in fire configs and flags.

A duration is a number of seconds (``90``, ``0.5``) or a sequence of ``<number><unit>``
parts with units ``ms s m h d w`` (``90m``, ``1h30m``, ``1.5h``, ``250ms``). An instant is
``now``, ``now-<duration>``, Unix seconds, or an RFC 3339 / ISO 8601 time (a time without a
zone is UTC).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_UNITS: dict[str, float] = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(value: object) -> float:
    """Seconds in ``value``; raises ``ValueError`` with the accepted forms on bad input."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 90s, 15m, 1h30m or a number of seconds")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        try:
            seconds = float(text)
        except ValueError:
            pos = 0
            seconds = 0.0
            for m in _PART.finditer(text):
                if m.start() != pos:
                    break
                seconds += float(m.group(1)) * _UNITS[m.group(2)]
                pos = m.end()
            if pos != len(text) or not text:
                raise ValueError(
                    f"invalid duration {value!r}: use e.g. 90s, 15m, 1h30m, 2d or seconds"
                ) from None
    else:
        raise ValueError("expected a duration such as 90s, 15m, 1h30m or a number of seconds")
    if seconds != seconds or seconds < 0:
        raise ValueError(f"duration must not be negative: {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """A short human form: ``1h30m``, ``45s``, ``250ms``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    rest = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts) or "0s"


def parse_instant(value: object, *, now: float) -> float:
    """Unix seconds for ``value`` (``now``, ``now-1h``, Unix seconds or RFC 3339)."""
    if isinstance(value, bool):
        raise ValueError("expected a time: now, now-1h, Unix seconds or RFC 3339")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
        return dt.timestamp()
    if not isinstance(value, str):
        raise ValueError("expected a time: now, now-1h, Unix seconds or RFC 3339")
    text = value.strip()
    if text.lower() == "now":
        return now
    if text.lower().startswith("now-"):
        return now - parse_duration(text[4:])
    try:
        return float(text)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"invalid time {value!r}: use now, now-1h, Unix seconds or RFC 3339"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


__all__ = ["format_duration", "parse_duration", "parse_instant"]
