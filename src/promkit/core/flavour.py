"""Which server answers: flavour detection from ``/metrics`` and ``buildinfo``, and the result.

``TSDBClient.validate`` makes the requests; these functions decide, from what came back,
using signals observed on the real binaries:
- vmauth serves its own ``/metrics`` (``vmauth_*`` series) whatever its routes are, answers
  401 ``missing `Authorization` request header`` without credentials and 400 ``cannot find
  the provided auth token`` for wrong ones; proxied answers carry a second
  ``X-Server-Hostname`` header;
- VictoriaMetrics exposes ``vm_app_version`` (empty version labels in Debian's 1.79 build)
  and, on single-node, storage series such as ``vm_rows``; vmselect lives under
  ``/select/<tenant>/prometheus``;
- Prometheus answers ``/api/v1/status/buildinfo`` with its version and exposes
  ``prometheus_build_info``.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

import httpx
import orjson
from pydantic import BaseModel

from promkit.core.connection import Connection

_LABEL_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"')


class Flavour(StrEnum):
    VMSINGLE = "vmsingle"
    VMSELECT = "vmselect"
    VMAUTH = "vmauth"
    PROMETHEUS = "prometheus"
    UNKNOWN = "unknown"


_FLAVOUR_NAMES = {
    Flavour.VMSINGLE: "VictoriaMetrics single-node",
    Flavour.VMSELECT: "VictoriaMetrics cluster (vmselect)",
    Flavour.VMAUTH: "vmauth (VictoriaMetrics auth proxy)",
    Flavour.PROMETHEUS: "Prometheus",
    Flavour.UNKNOWN: "Prometheus-compatible API",
}


class Attempt(BaseModel):
    endpoint: str
    ok: bool
    status: int | None = None
    error: str | None = None


class ValidationResult(BaseModel):
    flavour: Flavour
    version: str | None
    endpoint: str
    api_base_path: str
    tenant_id: str | None
    attempts: list[Attempt]
    message: str
    export_endpoint: str | None = None
    import_endpoint: str | None = None


def parse_labels(text: str) -> dict[str, str]:
    """Labels of one exposition-format line's ``{...}`` part (escapes undone)."""
    out: dict[str, str] = {}
    for name, raw in _LABEL_PAIR.findall(text):
        out[name] = raw.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
    return out


def metrics_flavour(
    text: str, *, proxied: bool, vm_header: bool, is_cluster: bool
) -> tuple[Flavour, str | None]:
    """Flavour and version from the server's ``/metrics`` text (empty if unreachable) and the
    query probe's headers (``proxied``: two ``X-Server-Hostname``; ``vm_header``: one)."""
    flavour, version = Flavour.UNKNOWN, None
    families = _families(text)
    if "vmauth_http_requests_total" in families or any(f.startswith("vmauth_") for f in families):
        flavour = Flavour.VMAUTH
    elif "vm_app_version" in families:
        storage = "vm_rows" in families or "vm_data_size_bytes" in families
        flavour = Flavour.VMSELECT if is_cluster or not storage else Flavour.VMSINGLE
    elif "prometheus_build_info" in families:
        flavour = Flavour.PROMETHEUS
    elif proxied:
        flavour = Flavour.VMAUTH
    elif vm_header:
        flavour = Flavour.VMSELECT if is_cluster else Flavour.VMSINGLE
    if flavour in (Flavour.VMAUTH, Flavour.VMSINGLE, Flavour.VMSELECT):
        labels = _first_labels(text, "vm_app_version")
        version = labels.get("short_version") or labels.get("version") or None
    elif flavour is Flavour.PROMETHEUS:
        version = _first_labels(text, "prometheus_build_info").get("version") or None
    return flavour, version


def buildinfo_flavour(
    flavour: Flavour, version: str | None, response: httpx.Response | None
) -> tuple[Flavour, str | None]:
    """Prometheus when ``/api/v1/status/buildinfo`` answers like Prometheus does."""
    data = _json_data(response)
    if data.get("version") and ("revision" in data or "goVersion" in data):
        return Flavour.PROMETHEUS, version or str(data["version"])
    return flavour, version


def validation_result(
    conn: Connection, flavour: Flavour, version: str | None, attempts: list[Attempt]
) -> ValidationResult:
    shown_version = version or "(version unknown: the server does not report it)"
    message = f"{_FLAVOUR_NAMES[flavour]} {shown_version} at {conn.display_url}"
    if conn.tenant_id is not None:
        message += f", tenant {conn.tenant_id}"
    return ValidationResult(
        flavour=flavour,
        version=version,
        endpoint=conn.display_url,
        api_base_path=conn.base_path,
        tenant_id=conn.tenant_id,
        attempts=attempts,
        message=message,
        export_endpoint=None if flavour is Flavour.PROMETHEUS else conn.export_base_url,
        import_endpoint=None if flavour is Flavour.PROMETHEUS else conn.import_base_url,
    )


def _families(text: str) -> set[str]:
    names: set[str] = set()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            end = min((i for i in (line.find("{"), line.find(" ")) if i >= 0), default=len(line))
            names.add(line[:end])
    return names


def _first_labels(text: str, family: str) -> dict[str, str]:
    for line in text.splitlines():
        if line.startswith(family + "{"):
            return parse_labels(line[len(family) : line.rfind("}") + 1])
    return {}


def _json_data(response: httpx.Response | None) -> dict[str, Any]:
    if response is None or response.status_code != 200:
        return {}
    try:
        doc = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return {}
    data = doc.get("data") if isinstance(doc, dict) else None
    return data if isinstance(data, dict) else {}


__all__ = [
    "Attempt",
    "Flavour",
    "ValidationResult",
    "buildinfo_flavour",
    "metrics_flavour",
    "parse_labels",
    "validation_result",
]
