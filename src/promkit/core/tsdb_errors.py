"""How a failed Prometheus/VictoriaMetrics API call is told to the user.

Transport failures (no answer) and HTTP error statuses become ``PromkitError`` subclasses
with a hint; the server's text is scrubbed of the connection's secrets (``scrub``) and cut
to one short line first. ``TSDBClient`` calls these for every request it makes.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import orjson

from promkit.core.connection import VMSELECT_HINT, Connection, PathKind
from promkit.core.errors import (
    AuthError,
    ConnectError,
    DataError,
    PromkitError,
    UnsupportedError,
    UpstreamError,
    UsageError,
)

_VM_ERROR_PREFIX = re.compile(r'remoteAddr: "[^"]*"; requestURI: \S*; ?')


def strip_query(url: str) -> str:
    return url.split("?", 1)[0]


def transport_error(
    conn: Connection, exc: httpx.HTTPError, url: str, what: str, *, scrub: Callable[[str], str]
) -> PromkitError:
    """The ``PromkitError`` for a request that got no HTTP answer."""
    where = conn.origin
    reason = scrub(str(exc)) or type(exc).__name__
    net_hint = (
        f"Check the URL ({conn.display_url}) and that the server is running and "
        "reachable from here; behind a proxy check HTTP_PROXY/HTTPS_PROXY/NO_PROXY."
    )
    if isinstance(exc, httpx.TimeoutException):
        return ConnectError(
            f"{what}: no answer from {where} for {conn.timeout_seconds:g}s",
            hint=net_hint + " Raise the timeout for slow servers.",
        )
    if isinstance(exc, httpx.ProxyError):
        return ConnectError(f"proxy error reaching {where}: {reason}", hint=net_hint)
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return UsageError(f"invalid URL {strip_query(url)}: {reason}", hint=net_hint)
    if "CERTIFICATE" in reason.upper() or "SSL" in reason.upper():
        return ConnectError(
            f"TLS error talking to {where}: {reason}",
            hint="Pass the server's CA with ca_file (--ca-file), or skip_tls_verify for a "
            "test server only.",
        )
    if isinstance(exc, httpx.ConnectError):
        return ConnectError(f"cannot connect to {where}: {reason}", hint=net_hint)
    return ConnectError(f"{what}: connection to {where} failed: {reason}", hint=net_hint)


def body_message(response: httpx.Response, *, scrub: Callable[[str], str]) -> str:
    """The server's error text: JSON ``error`` if any, scrubbed, one line, at most 300 chars."""
    try:
        text = response.read().decode("utf-8", "replace")
    except httpx.HTTPError:
        text = ""
    try:
        doc = orjson.loads(text)
        if isinstance(doc, dict) and doc.get("error"):
            text = str(doc["error"])
    except orjson.JSONDecodeError:
        pass
    text = _VM_ERROR_PREFIX.sub("", " ".join(scrub(text).split()))
    return text[:300] + ("..." if len(text) > 300 else "")


def is_auth_refusal(status: int, text: str) -> bool:
    """Credentials missing or refused: 401/403, or vmauth's 400 for a wrong password/token."""
    return status in (401, 403) or "cannot find the provided auth token" in text.lower()


def http_error(conn: Connection, response: httpx.Response, what: str, msg: str) -> PromkitError:
    """The ``PromkitError`` for an HTTP error status; ``msg`` is ``body_message``'s text."""
    status = response.status_code
    url = strip_query(str(response.url))
    low = msg.lower()
    if is_auth_refusal(status, msg):
        if "missing `authorization`" in low or (status == 401 and not conn.secrets()):
            return AuthError(
                f"{conn.origin} requires credentials (HTTP {status})",
                hint="Set basic auth, a bearer token or an auth header (vmauth and most "
                "proxies need one).",
            )
        return AuthError(f"credentials refused by {conn.origin} (HTTP {status})")
    if "cannot parse accountid" in low or "missing accountid" in low:
        return UsageError(
            f"{conn.display_url} looks like a VictoriaMetrics cluster URL without a tenant",
            hint=VMSELECT_HINT,
        )
    unsupported = "unsupported path" in low or "missing route" in low
    if what == "export" and (status == 404 or unsupported):
        return UnsupportedError(
            f"{conn.export_base_url} has no export API (HTTP {status})",
            hint="Prometheus has no /api/v1/export; use query_range instead.",
        )
    if what == "import" and (status == 404 or unsupported):
        return UnsupportedError(
            f"{conn.import_base_url} has no import API (HTTP {status})",
            hint="Import needs VictoriaMetrics (single-node, vminsert or vmauth in front).",
        )
    if (unsupported or status == 404) and conn.kind is PathKind.SELECT:
        return UsageError(
            f"{conn.display_url} is not a VictoriaMetrics cluster endpoint: {msg}",
            hint="For a single-node server or Prometheus drop the /select/<tenant>/prometheus "
            "path, e.g. http://host:8428.",
        )
    if unsupported or status == 404:
        return UpstreamError(
            f"{url}: HTTP {status}{': ' + msg if msg else ''}",
            hint="Check the URL path: is this a Prometheus-compatible API? A cluster needs "
            "/select/<tenant>/prometheus.",
        )
    if status in (400, 422) and what in ("query", "query_range", "series", "labels"):
        return UsageError(
            f"the server rejected the {what}: {msg}",
            hint="Check the query syntax and label names.",
        )
    if status in (400, 422) and what == "import":
        return DataError(f"the server rejected the imported data: {msg}")
    if status == 429:
        return UpstreamError(f"{url}: rate limited (HTTP 429)", hint="Retry later.")
    return UpstreamError(f"{what} failed: {url}: HTTP {status}{': ' + msg if msg else ''}")


__all__ = ["body_message", "http_error", "is_auth_refusal", "strip_query", "transport_error"]
