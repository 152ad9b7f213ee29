"""Safe construction of PromQL/MetricsQL selectors.

VictoriaMetrics and Prometheus both read string literals the way Go's ``strconv.Unquote``
does, and label regexes with RE2 syntax. A value therefore goes through two layers:
``regex_escape`` (RE2 ``QuoteMeta``: only when the value is used as a regex) and ``quote``
(a Go-compatible string literal). Forgetting the second layer is the classic bug: the regex
``a\\.b`` must appear in the query text as ``"a\\\\.b"``; ``"a\\.b"`` is rejected by
VictoriaMetrics with ``cannot parse string literal``.

Every builder here validates names and returns query text that matches exactly what the
caller asked for, whatever the value contains (quotes, backslashes, newlines, unicode).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from promkit.core.errors import UsageError

MatchOp = Literal["=", "!=", "=~", "!~"]
MATCH_OPS: frozenset[str] = frozenset({"=", "!=", "=~", "!~"})

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
# The characters RE2's QuoteMeta escapes; escaping anything else (e.g. a space) is an error in RE2.
_REGEX_META = re.compile(r"([\\.+*?()|\[\]{}^$])")
_STRING = r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'" + r"|`[^`]*`"
_MATCHER = rf"\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(?:=~|!~|!=|=)\s*(?:{_STRING})\s*"
_SELECTOR = re.compile(
    rf"\s*(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)?\s*"
    rf"(?P<braces>\{{(?:{_MATCHER}(?:,{_MATCHER})*,?)?\s*\}})?\s*"
)
_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    '"': '\\"',
    "\\": "\\\\",
}


def quote(value: str) -> str:
    """A double-quoted string literal that Go's ``strconv.Unquote`` reads back as ``value``.

    Output equals Go's ``strconv.Quote`` for valid text: printable characters are kept,
    the usual escapes are used for control characters, ``\\xNN``/``\\uNNNN``/``\\UNNNNNNNN``
    for the rest.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(
            "value is not valid unicode text (it contains a lone surrogate)",
            hint="Pass label values as valid UTF-8 text.",
        ) from None
    out = ['"']
    for ch in value:
        esc = _GO_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            if code < 0x80:
                out.append(f"\\x{code:02x}")
            elif code < 0x10000:
                out.append(f"\\u{code:04x}")
            else:
                out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def regex_escape(value: str) -> str:
    """RE2 ``QuoteMeta``: a regex (unquoted) that matches exactly ``value``."""
    return _REGEX_META.sub(r"\\\1", value)


def regex_literal(value: str) -> str:
    """A quoted regex literal matching exactly ``value``: ``a.b`` → ``"a\\\\.b"``."""
    return quote(regex_escape(value))


def validate_label_name(name: str) -> str:
    """Return ``name`` if it is a valid label name, else raise ``UsageError``."""
    if not isinstance(name, str) or not _LABEL_NAME.fullmatch(name):
        raise UsageError(
            f"invalid label name {name!r}",
            hint="Label names use letters, digits and '_' and do not start with a digit.",
        )
    return name


def validate_metric_name(name: str) -> str:
    """Return ``name`` if it is a valid metric name, else raise ``UsageError``."""
    if not isinstance(name, str) or not _METRIC_NAME.fullmatch(name):
        raise UsageError(
            f"invalid metric name {name!r}",
            hint="Metric names use letters, digits, '_' and ':' and do not start with a digit.",
        )
    return name


def matcher(name: str, op: MatchOp, value: str) -> str:
    """One label matcher. For ``=~``/``!~`` the value is a regex (see ``regex_escape``)."""
    validate_label_name(name)
    if op not in MATCH_OPS:
        raise UsageError(f"invalid matcher operator {op!r}", hint="Use one of = != =~ !~.")
    return f"{name}{op}{quote(value)}"


def one_of(name: str, values: Sequence[str]) -> str:
    """A matcher for "label ``name`` equals one of ``values`` exactly".

    Note the PromQL rule that an empty value also matches series without the label.
    """
    if isinstance(values, str):
        values = [values]
    unique = list(dict.fromkeys(values))
    if not unique:
        raise UsageError(f"no values given for label {name!r}", hint="Pass at least one value.")
    if len(unique) == 1:
        return matcher(name, "=", unique[0])
    return matcher(name, "=~", "|".join(regex_escape(v) for v in unique))


def is_selector(query: str) -> bool:
    """True if ``query`` is a plain series selector (``up``, ``up{job="a"}``, ``{job=~"x"}``).

    Anything else (functions, operators, ranges, MetricsQL ``or`` filters) is a query that
    must go through ``query_range`` rather than ``/api/v1/export``.
    """
    m = _SELECTOR.fullmatch(query)
    return bool(m and (m["name"] or m["braces"]))


def selector(metric: str | None = None, matchers: Sequence[str] = ()) -> str:
    """A series selector: ``metric{m1,m2}``.

    A metric name that is not a plain identifier (e.g. with dots) becomes a ``__name__``
    matcher. Without a metric and matchers the selector matches every series
    (``{__name__!=""}``), because ``{}`` is rejected by the servers.
    """
    parts = list(matchers)
    if metric is not None and metric != "":
        if _METRIC_NAME.fullmatch(metric):
            return f"{metric}{{{','.join(parts)}}}" if parts else metric
        parts.insert(0, matcher("__name__", "=", metric))
    if not parts:
        parts = ['__name__!=""']
    return "{" + ",".join(parts) + "}"


__all__ = [
    "MATCH_OPS",
    "MatchOp",
    "is_selector",
    "matcher",
    "one_of",
    "quote",
    "regex_escape",
    "regex_literal",
    "selector",
    "validate_label_name",
    "validate_metric_name",
]
