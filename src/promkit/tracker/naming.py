"""Prometheus naming rules for metric definitions and sample labels.

Stricter than the text format, so nothing a user defines can break the exposition:
no colons (reserved for recording rules), no ``__`` prefix (reserved for Prometheus), no
suffix that the exposition itself appends, and no label that the service sets itself.
"""

from __future__ import annotations

import itertools
import re

METRIC_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
MAX_METRIC_NAME = 150
MAX_LABEL_NAME = 100
RESERVED_SUFFIXES = ("_total", "_bucket", "_sum", "_count", "_created", "_info")
# Labels the service sets (user_id) or the exposition/Prometheus own (le, quantile, job...).
RESERVED_LABELS = frozenset({"user_id", "le", "quantile", "job", "instance"})
METRIC_TYPES = ("counter", "gauge", "histogram", "summary")
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
    25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
)  # fmt: skip
MAX_BUCKETS = 40


def check_metric_name(name: str) -> str:
    if not name or len(name) > MAX_METRIC_NAME:
        raise ValueError(f"metric name must have 1 to {MAX_METRIC_NAME} characters")
    if not METRIC_NAME_RE.match(name):
        raise ValueError(
            f"invalid metric name {name!r}: use letters, digits and underscores, "
            "not starting with a digit"
        )
    if name.startswith("__"):
        raise ValueError("metric names starting with '__' are reserved for Prometheus")
    for suffix in RESERVED_SUFFIXES:
        if name.endswith(suffix):
            raise ValueError(f"metric name must not end with {suffix!r} (the exposition adds it)")
    return name


def check_label_name(name: str) -> str:
    if not name or len(name) > MAX_LABEL_NAME:
        raise ValueError(f"label name must have 1 to {MAX_LABEL_NAME} characters")
    if not LABEL_NAME_RE.match(name):
        raise ValueError(
            f"invalid label name {name!r}: use letters, digits and underscores, "
            "not starting with a digit"
        )
    if name.startswith("__"):
        raise ValueError(f"label name {name!r}: '__' prefix is reserved for Prometheus")
    if name in RESERVED_LABELS:
        raise ValueError(f"label name {name!r} is reserved")
    return name


def check_buckets(buckets: list[float]) -> list[float]:
    if not 1 <= len(buckets) <= MAX_BUCKETS:
        raise ValueError(f"a histogram needs 1 to {MAX_BUCKETS} buckets")
    if any(b != b or b in (float("inf"), float("-inf")) for b in buckets):
        raise ValueError("bucket bounds must be finite numbers (+Inf is added automatically)")
    if any(a >= b for a, b in itertools.pairwise(buckets)):
        raise ValueError("bucket bounds must be strictly increasing")
    return [float(b) for b in buckets]


def metric_name_from_title(title: str) -> str:
    """The reference UI's rule: "Page Views" becomes ``page_views``."""
    name = re.sub(r"[^a-z0-9_]", "_", title.strip().lower())
    name = re.sub(r"_+", "_", name).strip("_")
    if not name or name[0].isdigit():
        name = f"metric_{name}".rstrip("_")
    for suffix in RESERVED_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)] + "_value"
    return name[:MAX_METRIC_NAME]


__all__ = [
    "DEFAULT_BUCKETS",
    "METRIC_TYPES",
    "RESERVED_LABELS",
    "check_buckets",
    "check_label_name",
    "check_metric_name",
    "metric_name_from_title",
]
