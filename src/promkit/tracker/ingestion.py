"""Ingestion: a batch of samples for one API key becomes store operations plus per-item errors.

Only defined, active metrics are accepted, with their own type semantics: a counter adds a
non-negative amount, a gauge sets (default) or increments/decrements, a histogram or
summary observes. Labels must be declared on the definition; defaults fill the rest; a
new label set counts against the user's series limit. This module is the whole request
path, shared by the fast ASGI path and the documented FastAPI route.
"""

from __future__ import annotations

import asyncio
import math
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from promkit.core.errors import AuthError, UsageError
from promkit.tracker.apikeys import key_hash
from promkit.tracker.catalog import Definition, KeyInfo
from promkit.tracker.ratelimit import enforce, enforce_now
from promkit.tracker.store import ADD, OBSERVE, SET, Op

if TYPE_CHECKING:
    from promkit.tracker.context import TrackerContext

MAX_FLOAT = sys.float_info.max
NUMBER_RE = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


class ItemRefused(Exception):
    """An item that is not recorded; the message is the per-item reason."""


class PayloadTooLargeError(UsageError):
    http_status = 413


@dataclass(slots=True)
class Limits:
    max_label_value_length: int


def parse_value(raw: Any) -> float:
    kind = type(raw)
    if kind is int and not -MAX_FLOAT <= raw <= MAX_FLOAT:
        raise ItemRefused("value must be finite")
    if kind is float or kind is int or (kind is str and len(raw) <= 64 and NUMBER_RE.match(raw)):
        value = float(raw)
    elif kind is bool or raw is None:
        raise ItemRefused("value must be a number")
    else:
        raise ItemRefused("value must be a number (strings like '12abc' are refused)")
    if not math.isfinite(value):
        raise ItemRefused("value must be finite")
    return value


def _label_text(name: str, value: Any, limit: int) -> str:
    kind = type(value)
    if kind is str:
        text: str = value
    elif kind is bool:
        text = "true" if value else "false"
    elif (kind is int or kind is float) and math.isfinite(value):
        text = str(value)
    else:
        raise ItemRefused(f"label {name!r} must be a string or a number")
    if len(text) > limit:
        raise ItemRefused(f"label {name!r} is longer than {limit} characters")
    return text


RESOLVED_CACHE_SIZE = 1024  # label sets remembered per definition


def resolve_labels(definition: Definition, raw: Any, limits: Limits) -> tuple[tuple[str, str], ...]:
    """The sample's label pairs, sorted, defaults filled in, empty values dropped."""
    if not raw:
        if raw is None or isinstance(raw, Mapping):
            return definition.defaults
        raise ItemRefused("labels must be an object")
    if type(raw) is not dict and not isinstance(raw, Mapping):
        raise ItemRefused("labels must be an object")
    try:
        # Only all-string label sets are stored, and a string never equals a number or a
        # bool, so a hit always has exactly these values.
        seen = tuple(raw.items())
        hit = definition.resolved.get(seen)
    except TypeError:  # an unhashable value (list, object): refused below
        seen, hit = None, None
    if hit is not None:
        return hit
    allowed = definition.label_names
    limit = limits.max_label_value_length
    pairs: list[tuple[str, str]] = []
    all_strings = True
    for name, value in raw.items():
        if name not in allowed:
            raise ItemRefused(
                f"label {str(name)[:64]!r} is not defined for {definition.metric_name}"
            )
        if type(value) is not str or len(value) > limit:  # the common case costs one check
            all_strings = False
            value = _label_text(name, value, limit)
        if value:
            pairs.append((name, value))
    for name, default in definition.defaults:
        if name not in raw:
            pairs.append((name, default))
    pairs.sort()
    resolved = tuple(pairs)
    if all_strings and seen is not None:
        cache = definition.resolved
        if len(cache) >= RESOLVED_CACHE_SIZE:
            cache.clear()
        cache[seen] = resolved
    return resolved


def to_op(user_id: int, item: Any, definitions: Mapping[str, Definition], limits: Limits) -> Op:
    """The store operation for ``item``; :class:`ItemRefused` says why not."""
    if type(item) is not dict:
        raise ItemRefused("each item must be an object")
    name = item.get("name")
    if type(name) is not str or not name:
        raise ItemRefused("name is required")
    definition = definitions.get(name)
    if definition is None:
        name = name.strip()
        definition = definitions.get(name)
        if definition is None:
            raise ItemRefused(f"metric {name[:150]!r} is not defined (create it in metric-configs)")
    if definition.status != "active":
        raise ItemRefused(f"metric {name!r} is {definition.status}, not active")
    mtype = definition.metric_type
    declared = item.get("type")
    if declared is not None and declared != mtype:
        raise ItemRefused(f"metric {name!r} is a {mtype}, not {str(declared)[:20]!r}")
    raw: Any = item.get("value")
    kind = type(raw)
    if (kind is float or kind is int) and -MAX_FLOAT <= raw <= MAX_FLOAT:  # the common case
        value = float(raw)
    else:
        value = parse_value(raw)
    key = (user_id, name, mtype, resolve_labels(definition, item.get("labels"), limits))
    operation = item.get("operation")
    if mtype == "counter":
        if operation is not None and operation != "inc":
            raise ItemRefused("a counter only supports operation 'inc'")
        if value < 0:
            raise ItemRefused("a counter can only increase (value must be >= 0)")
        return (ADD, key, value, None)
    if mtype == "gauge":
        if operation is None or operation == "set":
            return (SET, key, value, None)
        if operation == "inc":
            return (ADD, key, value, None)
        if operation == "dec":
            return (ADD, key, -value, None)
        raise ItemRefused("gauge operation must be set, inc or dec")
    if operation is not None and operation != "observe":
        raise ItemRefused(f"a {mtype} only supports operation 'observe'")
    return (OBSERVE, key, value, definition.buckets if mtype == "histogram" else None)


@dataclass
class BatchResult:
    processed: int
    total: int
    errors: list[dict[str, Any]] = field(default_factory=list)


async def key_info(ctx: TrackerContext, raw_key: str | None, origin: str | None) -> KeyInfo:
    """The active key behind ``raw_key`` (rate-limited per key before any database read),
    used from an origin its allow-list (if any) contains."""
    return _checked(await _lookup_key(ctx, raw_key), origin)


async def _lookup_key(ctx: TrackerContext, raw_key: str | None) -> KeyInfo | None:
    if not raw_key:
        raise AuthError(
            "API key required", hint="send the X-API-Key header (or ?api_key= for beacons)"
        )
    digest = key_hash(raw_key)
    s = ctx.settings
    if s.ingest_rate_limit:
        window = s.rate_limit_window_seconds
        await enforce(ctx.limiter, _limit_key(digest), s.ingest_rate_limit, window, "ingest")
    hit, info = ctx.catalog.cached_key(digest)
    if not hit:
        info = await asyncio.to_thread(ctx.catalog.load_key, digest)
    return info


def _limit_key(digest: str) -> str:
    return f"ingest:{digest[:24]}"


def _checked(info: KeyInfo | None, origin: str | None) -> KeyInfo:
    if info is None or not info.active:
        raise AuthError("invalid or inactive API key", hint="check the key in your API keys list")
    if info.origins and (origin or "").lower() not in info.origins:
        raise AuthError(
            "this API key may not be used from this origin",
            hint="add the site's origin to the key's allowed_origins",
        )
    return info


def parse_items(raw: bytes, max_items: int) -> list[Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UsageError("the body is not valid JSON", hint='send {"metrics": [...]}') from None
    items = body.get("metrics") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise UsageError("metrics must be a non-empty array", hint='send {"metrics": [...]}')
    if len(items) > max_items:
        raise UsageError(f"at most {max_items} metrics per request", hint="split the batch")
    return items


def ingest_now(
    ctx: TrackerContext, raw_key: str | None, body: bytes, origin: str | None = None
) -> BatchResult | None:
    """:func:`ingest` without waiting for anything, or None (and nothing done, nothing
    counted) when the batch needs a database read, the store's user state or a rate limit
    kept in Redis first.

    The common case (key, definitions and user cached; limits in process memory) is this one.
    """
    if not raw_key:
        return None
    digest = key_hash(raw_key)
    hit, cached = ctx.catalog.cached_key(digest)
    if not hit:
        return None
    info = _checked(cached, origin)
    definitions = ctx.catalog.cached_definitions(info.user_id)
    if definitions is None or not ctx.store.knows(info.user_id):
        return None
    s = ctx.settings
    limit, window = s.ingest_rate_limit, s.rate_limit_window_seconds
    if limit and not enforce_now(ctx.limiter, _limit_key(digest), limit, window, "ingest"):
        return None
    return _record(ctx, info, body, definitions)


async def ingest(
    ctx: TrackerContext, raw_key: str | None, body: bytes, origin: str | None = None
) -> BatchResult:
    """Authenticate, validate and record one batch; items fail one by one."""
    done = ingest_now(ctx, raw_key, body, origin)
    if done is not None:
        return done
    info = _checked(await _lookup_key(ctx, raw_key), origin)
    user_id = info.user_id
    definitions = ctx.catalog.cached_definitions(user_id)
    if definitions is None:
        definitions = await asyncio.to_thread(ctx.catalog.load_definitions, user_id)
    if not ctx.store.knows(user_id):
        await ctx.store.prepare_user(user_id)
    return _record(ctx, info, body, definitions)


def _record(
    ctx: TrackerContext, info: KeyInfo, body: bytes, definitions: Mapping[str, Definition]
) -> BatchResult:
    s = ctx.settings
    if len(body) > s.max_body_bytes:
        raise PayloadTooLargeError(f"the body is larger than {s.max_body_bytes} bytes")
    items = parse_items(body, s.max_batch_items)
    user_id = info.user_id
    limits = Limits(s.max_label_value_length)
    ops: list[Op] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            ops.append(to_op(user_id, item, definitions, limits))
        except ItemRefused as exc:
            errors.append(_item_error(index, item, str(exc)))
    over = ctx.store.record(ops, info.key_id, len(errors), time.time())
    if over:  # new series past the user's series limit: refused, in item order
        refused = {id(op) for op in over}
        reason = f"series limit reached ({s.max_series_per_user} per user)"
        errors.extend(
            _item_error(index, items[index], reason)
            for index, op in zip(_accepted_indexes(len(items), errors), ops, strict=True)
            if id(op) in refused
        )
        errors.sort(key=lambda error: error["index"])
    return BatchResult(processed=len(ops) - len(over), total=len(items), errors=errors)


def _item_error(index: int, item: Any, reason: str) -> dict[str, Any]:
    name = item.get("name") if type(item) is dict else None
    return {"index": index, "name": name[:150] if isinstance(name, str) else None, "error": reason}


def _accepted_indexes(total: int, errors: list[dict[str, Any]]) -> list[int]:
    refused = {error["index"] for error in errors}
    return [index for index in range(total) if index not in refused]


__all__ = [
    "BatchResult",
    "ItemRefused",
    "Limits",
    "PayloadTooLargeError",
    "ingest",
    "ingest_now",
    "key_info",
    "parse_items",
    "parse_value",
    "resolve_labels",
    "to_op",
]
