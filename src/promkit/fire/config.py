"""The ``fire`` config file: a strict pydantic schema, env overrides, PromFire compatibility.

Unknown keys are errors that name the key path. Durations are ``90m``-style strings or
seconds. Secrets never sit in the file in clear: endpoints name an environment variable
(``password_env``) or a file (``password_file``) instead. Any value can be overridden from
the environment as ``PROMKIT_FIRE__<SECTION>__<KEY>=<yaml scalar>``, e.g.
``PROMKIT_FIRE__RATE__SAMPLES_PER_SECOND=5000``.

PromFire configs (``prometheus.*``, ``benchmark.*``, ``replication_labels``,
``exclude_metrics``, ``log_level``) load too; see :mod:`promkit.fire.compat`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from promkit.core.console import read_secret
from promkit.core.errors import ConfigError
from promkit.fire.duration import parse_duration, parse_instant

ENV_PREFIX = "PROMKIT_FIRE__"
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

Duration = Annotated[float, BeforeValidator(parse_duration)]
TimestampMode = Literal["shift", "original", "realtime", "burst"]


def _check_instant(value: object) -> str | float:
    parse_instant(value, now=0.0)  # raises ValueError on a bad form
    return value if isinstance(value, float) else str(value)


Instant = Annotated[str | float, BeforeValidator(_check_instant)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Endpoint(_Strict):
    """Where to read from or write to, with auth, tenant and TLS."""

    url: str
    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    bearer_token_env: str | None = None
    bearer_token_file: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    headers_env: dict[str, str] = Field(default_factory=dict)  # header name -> env var
    tenant: str | None = None
    tenant_header: str = "X-Scope-OrgID"
    tls_ca_file: str | None = None
    tls_insecure_skip_verify: bool = False
    timeout: Duration = 30.0

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("must be an http:// or https:// URL")
        if re.match(r"^https?://[^/@]*:[^/@]*@", v):
            raise ValueError("must not carry credentials; use username + password_env/_file")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _auth(self) -> Endpoint:
        has_password = self.password_env is not None or self.password_file is not None
        has_token = self.bearer_token_env is not None or self.bearer_token_file is not None
        if has_password and not self.username:
            raise ValueError("password_env/password_file need a username")
        if has_token and self.username:
            raise ValueError("use either username (basic auth) or a bearer token, not both")
        return self

    def password(self) -> SecretStr | None:
        return read_secret(env=self.password_env, file=self.password_file)

    def bearer_token(self) -> SecretStr | None:
        return read_secret(env=self.bearer_token_env, file=self.bearer_token_file)

    def all_headers(self) -> dict[str, str]:
        """Custom headers plus the tenant header (when a tenant is set)."""
        headers = dict(self.headers)
        for name, var in self.headers_env.items():
            value = os.environ.get(var)
            if not value:
                raise ConfigError(
                    f"header {name} should come from environment variable {var}, which is unset",
                    hint=f"export {var}=... or remove it from headers_env",
                )
            headers[name] = value
        if self.tenant:
            headers[self.tenant_header] = self.tenant
        return headers


class Selection(_Strict):
    """Which original series to replicate.

    ``include``/``exclude`` are Python regexes matched against the metric name with
    ``re.fullmatch`` (anchored at both ends, like PromQL's ``=~``): ``node_.*`` selects
    ``node_load1`` but ``load`` does not select ``node_load1``. A series is kept when it
    matches any include (or there is none) and no exclude.
    """

    match: list[str] = Field(default_factory=lambda: ['{__name__=~".+"}'], min_length=1)
    start: Instant | None = None
    end: Instant = "now"
    window: Duration = 3600.0
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    max_metrics: int | None = Field(default=None, ge=1)
    max_series: int | None = Field(default=None, ge=1)

    @field_validator("include", "exclude")
    @classmethod
    def _regexes(cls, v: list[str]) -> list[str]:
        for pattern in v:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regex {pattern!r}: {exc}") from None
        return v

    @field_validator("window")
    @classmethod
    def _window(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be longer than 0s")
        return v

    def resolve_window(self, now: float) -> tuple[float, float]:
        """``(start, end)`` in Unix seconds; ``end`` is never later than ``now``."""
        end = min(parse_instant(self.end, now=now), now)
        start = parse_instant(self.start, now=now) if self.start is not None else end - self.window
        if start >= end:
            raise ConfigError(
                f"selection window is empty: start {start:.0f} is not before end {end:.0f}",
                hint="set selection.start earlier than selection.end (end is capped at now)",
            )
        return start, end


class ReplicationLabel(_Strict):
    name: str
    values: list[str] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not LABEL_NAME.match(v) or v.startswith("__"):
            raise ValueError(f"{v!r} is not a usable label name ([a-zA-Z_][a-zA-Z0-9_]*, no __)")
        return v

    @field_validator("values")
    @classmethod
    def _values(cls, v: list[str]) -> list[str]:
        if any(x == "" for x in v):
            raise ValueError("label values must not be empty (an empty value means no label)")
        if len(set(v)) != len(v):
            raise ValueError("label values must be unique")
        return v


class Replication(_Strict):
    """How many copies of each series, told apart by which labels.

    The replica label sets are the cartesian product of ``labels``' values, enumerated with
    the first label varying fastest (PromFire's order). ``factor`` keeps the first
    ``factor`` of them (default: all). Without ``labels``, ``factor`` copies (default 1) are
    labelled ``benchmark_replica="replica-0"`` ... ``"replica-<factor-1>"``. So the target
    receives ``factor`` new series per original; the originals are never rewritten.
    """

    labels: list[ReplicationLabel] = Field(default_factory=list)
    factor: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> Replication:
        names = [label.name for label in self.labels]
        if len(set(names)) != len(names):
            raise ValueError("replication label names must be unique")
        total = math.prod(len(label.values) for label in self.labels)
        if self.labels and self.factor is not None and self.factor > total:
            raise ValueError(
                f"factor {self.factor} exceeds the {total} label combinations; add values "
                "or lower the factor"
            )
        return self

    def effective_labels(self) -> list[ReplicationLabel]:
        if self.labels:
            return list(self.labels)
        n = self.factor or 1
        return [
            ReplicationLabel(name="benchmark_replica", values=[f"replica-{i}" for i in range(n)])
        ]

    def label_names(self) -> frozenset[str]:
        return frozenset(label.name for label in self.effective_labels())


class Timestamps(_Strict):
    """``shift`` (default): keep the spacing, move each series so its last point is now.
    ``original``: keep timestamps (VictoriaMetrics, backfill); points later than now are
    dropped. ``realtime``: replay each series at its own cadence, stamped now, for
    ``duration``. ``burst``: 1 ms apart, ending at the moment of sending."""

    mode: TimestampMode = "shift"
    duration: Duration = 300.0


class Rate(_Strict):
    samples_per_second: float | None = Field(default=None, gt=0)
    burst_seconds: float = Field(default=1.0, gt=0)


class Send(_Strict):
    batch_samples: int = Field(default=10_000, ge=1, le=10_000_000)
    concurrency: int = Field(default=4, ge=1, le=256)
    max_retries: int = Field(default=5, ge=0, le=100)
    backoff_min: Duration = 0.2
    backoff_max: Duration = 10.0


class Report(_Strict):
    max_failure_ratio: float = Field(default=0.0, ge=0.0, le=1.0)


class FireConfig(_Strict):
    source: Endpoint
    target: Endpoint
    selection: Selection = Field(default_factory=Selection)
    replication: Replication = Field(default_factory=Replication)
    timestamps: Timestamps = Field(default_factory=Timestamps)
    rate: Rate = Field(default_factory=Rate)
    send: Send = Field(default_factory=Send)
    report: Report = Field(default_factory=Report)
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, v: object) -> object:
        if not isinstance(v, str):
            return v
        level = v.strip().lower()
        return {"warn": "warning", "fatal": "error", "trace": "debug"}.get(level, level)


@dataclass
class LoadedConfig:
    config: FireConfig
    path: str
    warnings: list[str] = field(default_factory=list)


def apply_env_overrides(data: dict[str, Any], env: Mapping[str, str]) -> list[str]:
    """Set ``PROMKIT_FIRE__A__B=value`` as ``data["a"]["b"]``; returns the paths applied."""
    applied = []
    for key in sorted(env):
        if not key.startswith(ENV_PREFIX) or key == ENV_PREFIX:
            continue
        path = [p.lower() for p in key[len(ENV_PREFIX) :].split("__") if p]
        try:
            value = yaml.safe_load(env[key]) if env[key] != "" else ""
        except yaml.YAMLError:
            value = env[key]
        node = data
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[path[-1]] = value
        applied.append(".".join(path))
    return applied


def format_validation_error(exc: ValidationError, source: str) -> ConfigError:
    lines = []
    for err in exc.errors()[:8]:
        path = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        msg = msg.removeprefix("Value error, ")
        lines.append(f"{path}: {msg}")
    more = len(exc.errors()) - len(lines)
    if more > 0:
        lines.append(f"... and {more} more")
    return ConfigError(
        f"invalid fire config {source}: " + "; ".join(lines),
        hint="see examples/fire.yaml for every key; durations look like 90s, 15m, 1h30m",
    )


def parse_config(
    data: object, *, source: str = "<config>", env: Mapping[str, str] | None = None
) -> LoadedConfig:
    """Validate an already-parsed YAML document (with env overrides and PromFire keys)."""
    from promkit.fire.compat import is_promfire, translate_promfire

    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"invalid fire config {source}: the top level must be a mapping")
    warnings: list[str] = []
    if is_promfire(data):
        data, warnings = translate_promfire(data)
    data = dict(data)
    apply_env_overrides(data, os.environ if env is None else env)
    try:
        config = FireConfig.model_validate(data)
    except ValidationError as exc:
        raise format_validation_error(exc, source) from None
    return LoadedConfig(config=config, path=source, warnings=warnings)


def load_config(path: str | Path, *, env: Mapping[str, str] | None = None) -> LoadedConfig:
    """Read, translate and validate a fire config file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read fire config {p}: {exc.strerror}",
            hint="pass --config with an existing file (examples/fire.yaml is a start)",
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"fire config {p} is not valid YAML{at}") from None
    return parse_config(data, source=str(p), env=env)


__all__ = [
    "Endpoint",
    "FireConfig",
    "LoadedConfig",
    "Rate",
    "Replication",
    "ReplicationLabel",
    "Report",
    "Selection",
    "Send",
    "TimestampMode",
    "Timestamps",
    "apply_env_overrides",
    "load_config",
    "parse_config",
]
