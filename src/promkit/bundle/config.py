"""The export request: THE schema of ``promkit gather --config export.json`` and of the web API.

``ExportRequest`` is strict (unknown keys are errors, reported with their key path) so a typo
never silently widens or narrows an export. ``parse_request`` turns a JSON object into one and
raises ``ConfigError`` with a readable message; ``load_config`` reads a file and also accepts
vmgather's oneshot config (``ExportConfig``: ``mode: cluster|custom``, ``query_type``,
``obfuscate_instance``, ``batching.strategy``, ``metric_step_seconds``...) as is, converting it
with ``from_vmgather`` and listing what it changed or ignored as notes.

``to_export_spec`` turns a request into the engine's ``ExportSpec`` (milliseconds, resolved
components → jobs, component hints for job obfuscation). Time values are RFC3339, unix
seconds, ``now`` or ``now-<duration>``; durations are ``30s``/``5m``/``1h`` or bare seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from promkit.bundle.export import ExportSpec
from promkit.bundle.obfuscation import ObfuscationSettings
from promkit.bundle.windows import (
    MAX_WINDOW_MS,
    MIN_WINDOW_MS,
    parse_duration_ms,
    parse_time_ms,
    seconds_to_ms,
)
from promkit.core.connection import Auth, ConnectionConfig
from promkit.core.errors import ConfigError, PromkitError, UsageError
from promkit.core.tsdb import TSDBClient

__all__ = [
    "BatchingConfig",
    "ExportRequest",
    "ObfuscationConfig",
    "RequestAuth",
    "RequestConnection",
    "TimeRangeConfig",
    "from_vmgather",
    "is_vmgather_config",
    "load_config",
    "parse_request",
    "to_export_spec",
]

Mode = Literal["cluster", "selector", "query"]
TimeValue = str | int | float
DurationValue = str | int | float

_STRICT = ConfigDict(extra="forbid")


class RequestAuth(Auth):
    """``connection.auth`` with unknown keys refused."""

    model_config = _STRICT


class RequestConnection(ConnectionConfig):
    """``connection`` with unknown keys refused (same fields as ``ConnectionConfig``)."""

    model_config = _STRICT

    auth: RequestAuth = Field(default_factory=RequestAuth)


class TimeRangeConfig(BaseModel):
    """``{start, end}``: RFC3339, unix seconds, ``now`` or ``now-1h``; ``end`` is inclusive."""

    model_config = _STRICT

    start: TimeValue
    end: TimeValue = "now"

    def to_ms(self, now_ms: int | None = None) -> tuple[int, int]:
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        start, end = (
            parse_time_ms(str(v) if not isinstance(v, str) else v, now_ms=now)
            for v in (self.start, self.end)
        )
        if end < start:
            raise UsageError(
                "the time range ends before it starts", hint="make start earlier than end"
            )
        return start, end


class ObfuscationConfig(BaseModel):
    """What to obfuscate; ``drop_labels`` apply even when ``enabled`` is false."""

    model_config = _STRICT

    enabled: bool = False
    instance: bool = True
    job: bool = True
    ip_literals: bool = True
    tenant: bool = True
    custom_labels: list[str] = []
    drop_labels: list[str] = []

    def settings(self) -> ObfuscationSettings:
        return ObfuscationSettings(
            enabled=self.enabled,
            instance=self.instance,
            job=self.job,
            ip_literals=self.ip_literals,
            tenant=self.tenant,
            custom_labels=tuple(dict.fromkeys(self.custom_labels)),
            drop_labels=tuple(dict.fromkeys(self.drop_labels)),
        )


class BatchingConfig(BaseModel):
    """Time windows: ``window`` null = auto; ``enabled: false`` = as few windows as allowed."""

    model_config = _STRICT

    enabled: bool = True
    window: DurationValue | None = None

    @field_validator("window")
    @classmethod
    def _check_window(cls, value: DurationValue | None) -> DurationValue | None:
        if value is not None:
            ms = _duration_ms(value)
            if not MIN_WINDOW_MS <= ms <= MAX_WINDOW_MS:
                raise ValueError("window must be between 30s and 24h")
        return value


def _duration_ms(value: DurationValue) -> int:
    if isinstance(value, bool):
        raise ValueError("expected a duration like 60s or a number of seconds")
    try:
        if isinstance(value, int | float):
            return seconds_to_ms(value, value)
        return parse_duration_ms(value)
    except UsageError as exc:
        raise ValueError(exc.message) from None


class ExportRequest(BaseModel):
    """One export (or discovery/sample) request, as the CLI config file and the web API take it.

    Example::

        {"connection": {"url": "http://localhost:8428"},
         "time_range": {"start": "now-1h", "end": "now"},
         "mode": "cluster", "jobs": ["vmstorage-prod"],
         "obfuscation": {"enabled": true}}
    """

    model_config = _STRICT

    connection: RequestConnection
    time_range: TimeRangeConfig = TimeRangeConfig(start="now-1h", end="now")
    mode: Mode = "cluster"
    components: list[str] = []
    jobs: list[str] = []
    selector: str | None = None
    query: str | None = None
    step: DurationValue | None = None
    obfuscation: ObfuscationConfig = ObfuscationConfig()
    batching: BatchingConfig = BatchingConfig()
    staging_dir: str | None = None
    output_dir: str | None = None

    @field_validator("step")
    @classmethod
    def _check_step(cls, value: DurationValue | None) -> DurationValue | None:
        if value is not None and _duration_ms(value) <= 0:
            raise ValueError("step must be positive")
        return value

    def step_ms(self) -> int | None:
        return None if self.step is None else _duration_ms(self.step)

    def window_ms(self, start_ms: int, end_ms: int) -> int | None:
        if not self.batching.enabled:
            return max(MIN_WINDOW_MS, min(MAX_WINDOW_MS, end_ms - start_ms + 1))
        return None if self.batching.window is None else _duration_ms(self.batching.window)


def _loc(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _validation_message(exc: ValidationError, source: str) -> ConfigError:
    problems: list[str] = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = list(err.get("loc", ()))
        # pydantic adds the union member tried ("str", "int") to the location: drop it.
        loc = [p for p in loc if p not in ("str", "int", "float", "function-after[_check]")]
        path = _loc(loc)
        if err["type"] == "extra_forbidden":
            problems.append(f"{path}: unknown key")
        elif err["type"] == "missing":
            problems.append(f"{path}: required key is missing")
        else:
            problems.append(f"{path}: {err['msg']}")
    unique = list(dict.fromkeys(problems))
    return ConfigError(
        f"invalid {source}: " + "; ".join(unique[:8]) + ("; ..." if len(unique) > 8 else ""),
        hint="see `promkit gather export --help` and README (gather) for the config schema",
    )


def parse_request(data: Any, *, source: str = "export config") -> ExportRequest:
    """Validate a JSON object as an ``ExportRequest``; errors name every bad key path."""
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"invalid {source}: expected a JSON object", hint='start with {"connection": ...}'
        )
    try:
        return ExportRequest.model_validate(dict(data))
    except ValidationError as exc:
        raise _validation_message(exc, source) from None


# ------------------------------------------------------------------ vmgather's ExportConfig

_VMGATHER_TOP = {"query_type", "metric_step_seconds", "output_settings", "staging_file"}
_VMGATHER_TOP |= {"resume_from_batch"}
_VMGATHER_OBF = {"obfuscate_instance", "obfuscate_job", "preserve_structure"}
_VMGATHER_BATCH = {"strategy", "custom_interval_seconds"}
_VMGATHER_CONN = {"full_api_url", "is_multitenant", "debug"}


def _keys(data: Mapping[str, Any], key: str) -> set[str]:
    value = data.get(key)
    return set(value) if isinstance(value, Mapping) else set()


def is_vmgather_config(data: Mapping[str, Any]) -> bool:
    """True when ``data`` uses a field only vmgather's ``ExportConfig`` has."""
    return bool(
        data.get("mode") == "custom"
        or _VMGATHER_TOP & set(data)
        or _VMGATHER_OBF & _keys(data, "obfuscation")
        or _VMGATHER_BATCH & _keys(data, "batching")
        or _VMGATHER_CONN & _keys(data, "connection")
    )


def _as_dict(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"invalid vmgather config: {path} must be an object")
    return dict(value)


def _vmgather_connection(raw: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    conn = dict(raw)
    full = conn.pop("full_api_url", None)
    if full:
        conn["url"], conn["api_base_path"] = full, None
    if conn.pop("is_multitenant", None) and not conn.get("tenant_id"):
        notes.append("connection.is_multitenant: the tenant comes from the URL path")
    conn.pop("debug", None)
    auth = _as_dict(conn.get("auth"), "connection.auth")
    conn["auth"] = {k: v for k, v in auth.items() if v not in ("", None)}
    return {k: v for k, v in conn.items() if v is not None and v != ""}


def _vmgather_batching(raw: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    if raw.get("enabled") is False:
        return {"enabled": False}
    if raw.get("strategy") == "custom":
        seconds = float(raw.get("custom_interval_seconds") or 0)
        clamped = min(max(seconds, MIN_WINDOW_MS / 1000), MAX_WINDOW_MS / 1000)
        if clamped != seconds:
            notes.append(f"batching.custom_interval_seconds {seconds:g} clamped to {clamped:g}")
        return {"enabled": True, "window": clamped}
    return {"enabled": True}


def from_vmgather(data: Mapping[str, Any]) -> tuple[ExportRequest, list[str]]:
    """vmgather's oneshot ``ExportConfig`` → ``ExportRequest`` plus notes on what differs.

    Differences from vmgather, on purpose: ``batching.enabled: false`` is honoured; a cluster
    export with neither jobs nor components is refused (vmgather exported the whole TSDB);
    a selector with jobs still reads raw samples (the job filter is folded into it).
    """
    notes: list[str] = []
    raw = dict(data)
    known = {"connection", "time_range", "components", "jobs", "mode", "query_type", "query"}
    known |= {"obfuscation", "batching", "staging_dir", "staging_file", "resume_from_batch"}
    known |= {"metric_step_seconds", "output_settings"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            "invalid vmgather config: " + "; ".join(f"{k}: unknown key" for k in unknown),
            hint="vmgather's oneshot config has the fields of its ExportConfig (docs: README)",
        )
    out: dict[str, Any] = {
        "connection": _vmgather_connection(_as_dict(raw.get("connection"), "connection"), notes),
        "components": list(raw.get("components") or []),
        "jobs": list(raw.get("jobs") or []),
    }
    if raw.get("time_range") is not None:
        out["time_range"] = _as_dict(raw["time_range"], "time_range")
    if raw.get("mode") == "custom":
        query = str(raw.get("query") or "")
        if raw.get("query_type") == "metricsql":
            out |= {"mode": "query", "query": query}
            if out["jobs"]:
                notes.append("jobs: ignored for a MetricsQL query (as vmgather does)")
                out["jobs"] = []
        else:
            out |= {"mode": "selector", "selector": query}
    elif raw.get("mode") not in (None, "", "cluster"):
        raise ConfigError(
            f"invalid vmgather config: mode: unknown mode {raw['mode']!r}",
            hint="vmgather modes are cluster and custom",
        )
    step = raw.get("metric_step_seconds")
    if isinstance(step, int | float) and not isinstance(step, bool) and step > 0:
        out["step"] = min(max(float(step), 30.0), 86400.0)
    obf = _as_dict(raw.get("obfuscation"), "obfuscation")
    out["obfuscation"] = {
        "enabled": bool(obf.get("enabled", False)),
        "instance": bool(obf.get("obfuscate_instance", False)),
        "job": bool(obf.get("obfuscate_job", False)),
        "custom_labels": list(obf.get("custom_labels") or []),
        "drop_labels": list(obf.get("drop_labels") or []),
    }
    out["batching"] = _vmgather_batching(_as_dict(raw.get("batching"), "batching"), notes)
    if raw.get("staging_dir"):
        out["staging_dir"] = raw["staging_dir"]
    for ignored in ("staging_file", "resume_from_batch"):
        if raw.get(ignored):
            notes.append(f"{ignored}: ignored (promkit resumes from its staging checkpoint)")
    if raw.get("output_settings"):
        notes.append("output_settings: ignored (as vmgather does); use --output")
    return parse_request(out, source="vmgather config"), notes


def load_config(path: str | Path) -> tuple[ExportRequest, list[str]]:
    """Read ``--config FILE`` (``-`` = stdin): our schema, or vmgather's oneshot config."""
    import sys

    name = str(path)
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read config {name}: {exc.strerror}", hint="check the path"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"config {name} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            hint="fix the JSON syntax",
        ) from None
    if isinstance(data, Mapping) and is_vmgather_config(data):
        return from_vmgather(data)
    return parse_request(data, source=f"config {name}"), []


# ------------------------------------------------------------------ → ExportSpec


def to_export_spec(
    request: ExportRequest,
    *,
    now_ms: int | None = None,
    client: TSDBClient | None = None,
    export_id: str | None = None,
) -> ExportSpec:
    """The engine's ``ExportSpec`` for ``request``.

    In cluster mode with ``components`` (and a ``client``), the jobs of those components in the
    range are added, and every job gets its component as an obfuscation hint. An empty
    selection stays an error (raised by the engine's ``build_match``), never "everything".
    """
    start_ms, end_ms = request.time_range.to_ms(now_ms)
    jobs = list(dict.fromkeys(request.jobs))
    hints: dict[str, str] = {}
    if request.mode == "cluster" and client is not None and (request.components or jobs):
        from promkit.bundle.discovery import discover_components

        wanted = set(request.components)
        try:
            found = discover_components(client, start_ms, end_ms)
        except PromkitError:
            if request.components:
                raise
            found = []  # hints are a nicety when the jobs are given explicitly
        for comp in found:
            for info in comp.jobs:
                hints[info.job] = comp.component
                if comp.component in wanted and info.job not in jobs:
                    jobs.append(info.job)
        hints = {job: c for job, c in hints.items() if job in jobs}
    if request.mode == "cluster" and not jobs:
        what = ", ".join(request.components) if request.components else "none given"
        raise UsageError(
            f"no jobs selected (components: {what}): refusing to export every series",
            hint="choose jobs or components that exist in the time range "
            "(`promkit gather discover` lists them)",
        )
    return ExportSpec(
        mode=request.mode,
        start_ms=start_ms,
        end_ms=end_ms,
        jobs=jobs,
        components=list(dict.fromkeys(request.components or hints.values())),
        selector=request.selector,
        query=request.query,
        step_ms=request.step_ms(),
        window_ms=request.window_ms(start_ms, end_ms),
        obfuscation=request.obfuscation.settings(),
        component_hints=hints,
        export_id=export_id,
    )
