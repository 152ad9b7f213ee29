"""Turning one ingestion item into a store operation, or a reason it was refused.

Only defined, active metrics are accepted, with their own type semantics: a counter adds a
non-negative amount, a gauge sets (default) or increments/decrements, a histogram or
summary observes. Labels must be declared on the definition; defaults fill the rest.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from promkit.tracker.catalog import Definition
from promkit.tracker.store import Op, labels_hash

NUMBER_RE = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")
GAUGE_OPERATIONS = {"set", "inc", "dec"}


class ItemRefused(Exception):
    """An item that is not recorded; the message is the per-item reason."""


@dataclass(frozen=True)
class Limits:
    max_label_value_length: int


def parse_value(raw: Any) -> float:
    if isinstance(raw, bool) or raw is None:
        raise ItemRefused("value must be a number")
    if isinstance(raw, int | float) or (
        isinstance(raw, str) and len(raw) <= 64 and NUMBER_RE.match(raw)
    ):
        value = float(raw)
    else:
        raise ItemRefused("value must be a number (strings like '12abc' are refused)")
    if not math.isfinite(value):
        raise ItemRefused("value must be finite")
    return value


def resolve_labels(definition: Definition, raw: Any, limits: Limits) -> dict[str, str]:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ItemRefused("labels must be an object")
    allowed = definition.label_names
    labels: dict[str, str] = {}
    for name, value in raw.items():
        if name not in allowed:
            raise ItemRefused(
                f"label {str(name)[:64]!r} is not defined for {definition.metric_name}"
            )
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            text = value
        elif isinstance(value, int | float) and math.isfinite(value):
            text = str(value)
        else:
            raise ItemRefused(f"label {name!r} must be a string or a number")
        if len(text) > limits.max_label_value_length:
            raise ItemRefused(
                f"label {name!r} is longer than {limits.max_label_value_length} characters"
            )
        labels[name] = text
    for name, default in definition.labels:
        if name not in labels and default:
            labels[name] = default
    return {k: v for k, v in sorted(labels.items()) if v != ""}


def to_op(user_id: int, item: Any, definitions: Mapping[str, Definition], limits: Limits) -> Op:
    """The store operation for ``item``; :class:`ItemRefused` says why not."""
    if not isinstance(item, Mapping):
        raise ItemRefused("each item must be an object")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ItemRefused("name is required")
    name = name.strip()
    definition = definitions.get(name)
    if definition is None:
        raise ItemRefused(f"metric {name[:150]!r} is not defined (create it in metric-configs)")
    if definition.status != "active":
        raise ItemRefused(f"metric {name!r} is {definition.status}, not active")
    declared = item.get("type")
    if declared is not None and declared != definition.metric_type:
        raise ItemRefused(f"metric {name!r} is a {definition.metric_type}, not {declared!r}")
    value = parse_value(item.get("value"))
    labels = resolve_labels(definition, item.get("labels"), limits)
    key = (user_id, name, definition.metric_type, labels_hash(labels))
    mtype = definition.metric_type
    operation = item.get("operation")
    if mtype == "counter":
        if operation not in (None, "inc"):
            raise ItemRefused("a counter only supports operation 'inc'")
        if value < 0:
            raise ItemRefused("a counter can only increase (value must be >= 0)")
        return Op("add", key, labels, value)
    if mtype == "gauge":
        operation = operation or "set"
        if operation not in GAUGE_OPERATIONS:
            raise ItemRefused("gauge operation must be set, inc or dec")
        if operation == "set":
            return Op("set", key, labels, value)
        return Op("add", key, labels, value if operation == "inc" else -value)
    if operation not in (None, "observe"):
        raise ItemRefused(f"a {mtype} only supports operation 'observe'")
    return Op("observe", key, labels, value, definition.buckets if mtype == "histogram" else None)


__all__ = ["ItemRefused", "Limits", "parse_value", "resolve_labels", "to_op"]
