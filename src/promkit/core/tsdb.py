"""A synchronous client for the Prometheus / VictoriaMetrics HTTP API.

``TSDBClient(conn)`` wraps one ``httpx.Client`` built by ``Connection.client()``. Every
transport or HTTP failure becomes a ``PromkitError`` with a hint; upstream text is scrubbed
of the connection's secrets before it reaches a message or a log line.

``validate`` makes the requests; which server answered is decided by
``promkit.core.flavour`` (its docstring lists the signals).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import quote as urlquote

import httpx
import orjson

from promkit.core.connection import Connection, scrub_secrets
from promkit.core.errors import (
    PromkitError,
    UpstreamError,
)
from promkit.core.flavour import (
    Attempt,
    Flavour,
    ValidationResult,
    buildinfo_flavour,
    metrics_flavour,
    parse_labels,
    validation_result,
)
from promkit.core.promql import validate_label_name
from promkit.core.tsdb_errors import body_message, http_error, strip_query, transport_error

log = logging.getLogger("promkit.tsdb")

EXPORT_CHUNK = 1 << 20


def _ts(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


class ExportStream(Iterator[bytes]):
    """Raw body chunks of a streaming export; closes the response when done or closed."""

    def __init__(self, response: httpx.Response, client: TSDBClient, chunk_size: int) -> None:
        self._response = response
        self._client = client
        self._chunks = response.iter_bytes(chunk_size)
        self.bytes_read = 0

    def __iter__(self) -> ExportStream:
        return self

    def __next__(self) -> bytes:
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self.close()
            raise
        except httpx.HTTPError as exc:
            self.close()
            raise self._client._transport_error(exc, str(self._response.url), "export") from None
        self.bytes_read += len(chunk)
        return chunk

    def close(self) -> None:
        self._response.close()

    def __enter__(self) -> ExportStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TSDBClient:
    """Prometheus/VictoriaMetrics API client. Use as a context manager or call ``close()``."""

    def __init__(self, conn: Connection, *, transport: httpx.BaseTransport | None = None) -> None:
        self.conn = conn
        self._http = conn.client(transport=transport)
        self._secrets = sorted(set(conn.secrets()), key=len, reverse=True)

    def __enter__(self) -> TSDBClient:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"TSDBClient({self.conn!r})"

    # ------------------------------------------------------------------ plumbing
    def scrub(self, text: str) -> str:
        """``text`` with every secret of the connection replaced by ``***``."""
        return scrub_secrets(text, self._secrets)

    def _transport_error(self, exc: httpx.HTTPError, url: str, what: str) -> PromkitError:
        return transport_error(self.conn, exc, url, what, scrub=self.scrub)

    def _send(
        self, method: str, url: str, what: str, *, stream: bool = False, **kwargs: Any
    ) -> httpx.Response:
        try:
            request = self._http.build_request(method, url, **kwargs)
            response = self._http.send(request, stream=stream)
        except httpx.HTTPError as exc:
            log.debug("%s %s failed: %s", method, strip_query(url), type(exc).__name__)
            raise self._transport_error(exc, url, what) from None
        log.debug("%s %s -> %s", method, strip_query(url), response.status_code)
        return response

    def _body_message(self, response: httpx.Response) -> str:
        return body_message(response, scrub=self.scrub)

    def _http_error(self, response: httpx.Response, what: str) -> PromkitError:
        return http_error(self.conn, response, what, self._body_message(response))

    def _call(self, method: str, url: str, what: str, **kwargs: Any) -> tuple[Any, httpx.Response]:
        """Call a JSON API URL; return its ``data`` and the response."""
        response = self._send(method, url, what, **kwargs)
        if response.status_code >= 300:
            raise self._http_error(response, what)
        try:
            doc = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise UpstreamError(
                f"{strip_query(url)} did not answer with Prometheus API JSON",
                hint="Check the URL: it must point at a Prometheus-compatible API.",
            ) from None
        if not isinstance(doc, dict) or doc.get("status") != "success":
            err = doc.get("error") if isinstance(doc, dict) else None
            raise UpstreamError(f"{what} failed: {self.scrub(str(err or doc))[:300]}")
        return doc.get("data"), response

    def _api(self, method: str, endpoint: str, what: str, **kwargs: Any) -> Any:
        """Call a JSON API endpoint on the query base and return its ``data``."""
        return self._call(method, self.conn.api_url(endpoint), what, **kwargs)[0]

    @staticmethod
    def _range(start: float | None, end: float | None) -> dict[str, str]:
        out: dict[str, str] = {}
        if start is not None:
            out["start"] = _ts(start)
        if end is not None:
            out["end"] = _ts(end)
        return out

    # ------------------------------------------------------------------ reads
    def query(self, q: str, time: float | None = None) -> list[dict[str, Any]]:
        form = {"query": q, **({"time": _ts(time)} if time is not None else {})}
        data = self._api("POST", "query", "query", data=form)
        return _result(data)

    def query_range(self, q: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        form = {"query": q, "start": _ts(start), "end": _ts(end), "step": _ts(step)}
        return _result(self._api("POST", "query_range", "query_range", data=form))

    def series(
        self,
        match: Sequence[str],
        start: float | None = None,
        end: float | None = None,
        limit: int | None = None,
    ) -> list[dict[str, str]]:
        form: dict[str, Any] = {"match[]": list(match), **self._range(start, end)}
        if limit is not None:
            form["limit"] = str(limit)
        data = self._api("POST", "series", "series", data=form)
        result: list[dict[str, str]] = list(data or [])
        return result[:limit] if limit is not None else result

    def label_names(
        self, match: Sequence[str] = (), start: float | None = None, end: float | None = None
    ) -> list[str]:
        form: dict[str, Any] = {**self._range(start, end)}
        if match:
            form["match[]"] = list(match)
        return list(self._api("POST", "labels", "labels", data=form) or [])

    def label_values(
        self,
        name: str,
        match: Sequence[str] = (),
        start: float | None = None,
        end: float | None = None,
    ) -> list[str]:
        validate_label_name(name)
        params: dict[str, Any] = {**self._range(start, end)}
        if match:
            params["match[]"] = list(match)
        endpoint = f"label/{urlquote(name, safe='')}/values"
        return list(self._api("GET", endpoint, "labels", params=params) or [])

    def export(
        self,
        match: Sequence[str],
        start: float | None = None,
        end: float | None = None,
        *,
        chunk_size: int = EXPORT_CHUNK,
    ) -> ExportStream:
        """Stream ``/api/v1/export`` (VM JSON lines) as raw body chunks.

        The request is sent here, so a server without an export API raises
        ``UnsupportedError`` at once. Iterate the result to the end or close it.
        """
        url = self.conn.api_url("export", base=self.conn.export_base_url)
        form: dict[str, Any] = {"match[]": list(match), **self._range(start, end)}
        response = self._send(
            "POST", url, "export", stream=True, data=form, headers={"Accept-Encoding": "identity"}
        )
        if response.status_code >= 300:
            try:
                raise self._http_error(response, "export")
            finally:
                response.close()
        return ExportStream(response, self, chunk_size)

    # ------------------------------------------------------------------ writes
    def import_stream(
        self,
        chunks: Iterable[bytes],
        *,
        gzip: bool = False,
        extra_labels: Mapping[str, str] | None = None,
    ) -> None:
        """Stream VM JSON lines to ``/api/v1/import`` (chunked POST, bounded memory).

        ``gzip=True`` compresses on the fly and sends ``Content-Encoding: gzip``.
        ``extra_labels`` are added to every imported series by the server.
        """
        url = self.conn.api_url("import", base=self.conn.import_base_url)
        params = [
            ("extra_label", f"{validate_label_name(k)}={v}")
            for k, v in (extra_labels or {}).items()
        ]
        headers = {"Content-Type": "application/json"}
        body: Iterable[bytes] = chunks
        if gzip:
            headers["Content-Encoding"] = "gzip"
            body = _gzip(chunks)
        response = self._send("POST", url, "import", params=params, content=body, headers=headers)
        if response.status_code >= 300:
            raise self._http_error(response, "import")

    # ------------------------------------------------------------------ server info
    def metrics_text(self) -> str | None:
        """The server's own ``/metrics`` (at the origin), or None if not reachable."""
        try:
            response = self._send("GET", self.conn.origin + "/metrics", "metrics")
        except PromkitError:
            return None
        if response.status_code != 200:
            return None
        return response.text

    def flags(self) -> dict[str, str]:
        """VictoriaMetrics command-line flags from ``flag{name=,value=}`` in ``/metrics``.

        Empty when ``/metrics`` is not reachable or is not VictoriaMetrics. Behind vmauth these
        are vmauth's own flags.
        """
        text = self.metrics_text() or ""
        out: dict[str, str] = {}
        for line in text.splitlines():
            if line.startswith("flag{"):
                labels = parse_labels(line[4 : line.rfind("}") + 1])
                if "name" in labels:
                    out[labels["name"]] = labels.get("value", "")
        return out

    def validate(self) -> ValidationResult:
        """Check that the API answers and tell which server it is.

        Raises ConnectError/AuthError/UsageError/UpstreamError; the attempts made so far are
        attached to the exception as ``attempts`` (a list of ``Attempt``).
        """
        attempts: list[Attempt] = []

        def attempt(method: str, url: str, what: str, **kw: Any) -> httpx.Response | None:
            shown = strip_query(url)
            try:
                response = self._send(method, url, what, **kw)
            except PromkitError as exc:
                attempts.append(Attempt(endpoint=shown, ok=False, error=exc.message))
                return None
            ok = response.status_code < 300
            err = None if ok else f"HTTP {response.status_code}: {self._body_message(response)}"
            attempts.append(Attempt(endpoint=shown, ok=ok, status=response.status_code, error=err))
            return response

        probe_url = self.conn.api_url("query")
        try:
            _, probe = self._call("GET", probe_url, "query", params={"query": "vector(1)"})
        except PromkitError as exc:
            attempts.append(Attempt(endpoint=probe_url, ok=False, error=exc.message))
            exc.attempts = attempts  # type: ignore[attr-defined]
            raise
        attempts.append(Attempt(endpoint=probe_url, ok=True, status=probe.status_code))
        proxied = len(probe.headers.get_list("x-server-hostname")) >= 2
        vm_header = "x-server-hostname" in probe.headers

        metrics = attempt("GET", self.conn.origin + "/metrics", "metrics")
        text = metrics.text if metrics is not None and metrics.status_code == 200 else ""
        flavour, version = metrics_flavour(
            text, proxied=proxied, vm_header=vm_header, is_cluster=self.conn.is_cluster
        )
        if flavour in (Flavour.PROMETHEUS, Flavour.UNKNOWN):
            info = attempt("GET", self.conn.api_url("status/buildinfo"), "buildinfo")
            flavour, version = buildinfo_flavour(flavour, version, info)
        return validation_result(self.conn, flavour, version, attempts)


def _result(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, dict):
        return []
    result = data.get("result")
    if data.get("resultType") in ("scalar", "string"):
        return [{"metric": {}, "value": result}]
    return list(result or [])


def _gzip(chunks: Iterable[bytes]) -> Iterator[bytes]:
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    for chunk in chunks:
        out = comp.compress(chunk)
        if out:
            yield out
    yield comp.flush()


__all__ = [
    "Attempt",
    "ExportStream",
    "Flavour",
    "TSDBClient",
    "ValidationResult",
    "parse_labels",
]
