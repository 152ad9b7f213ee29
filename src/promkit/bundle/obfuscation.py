"""Deterministic obfuscation of series labels for support bundles.

One ``Obfuscator`` serves a whole export, including a resumed one: its mapping state is
serialised into the job's staging directory (``save_state``/``load_state``), never into the
bundle. ``--save-mapping`` writes ``mapping()`` to a separate local file for the user.

Rules (applied in this order to every series):
- ``drop_labels`` are removed (even when obfuscation is disabled); ``__name__`` is never touched.
- ``instance``: the host part maps to ``777.777.X.Y`` (one per distinct host, first seen first),
  the port is kept. A port-less instance becomes the bare ``777.777.X.Y`` token of its host, so
  no hash of the original (guessable for short names) ever appears.
- ``job``: ``<component>-job-<n>``. The component comes from a fixed vocabulary (never from the
  original text): discovery hints, the job name, ``vm_component``/``component`` labels, the
  metric name; otherwise ``service``.
- every IPv4/IPv6 literal inside any other label value is replaced by the same fake address its
  host gets as an instance (``flag{value="127.0.0.1:8428"}`` → ``777.777.1.1:8428``).
- tenant labels ``vm_account_id``/``vm_project_id`` become small numbers (``1``, ``2``...) so a
  bundle stays importable through VictoriaMetrics' multitenant insert path.
- chosen custom labels become ``<label>-<n>``.

The hot path is ``labels``, called by ``promkit.core.series.rewrite_metric`` for every JSON
line; it caches the result per distinct label set, because a series reappears once per
window.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from promkit.core.errors import DataError

__all__ = [
    "COMPONENTS",
    "GENERIC_COMPONENT",
    "TENANT_LABELS",
    "ObfuscationSettings",
    "Obfuscator",
    "detect_component",
]

# Components we can name in an obfuscated job. Order matters: the first token found wins.
COMPONENTS: tuple[str, ...] = (
    "vmstorage",
    "vminsert",
    "vmselect",
    "vmagent",
    "vmalert",
    "vmauth",
    "vmgateway",
    "vmbackupmanager",
    "vmbackup",
    "vmrestore",
    "vmanomaly",
    "vmctl",
    "vmsingle",
    "prometheus",
    "alertmanager",
    "grafana",
)
GENERIC_COMPONENT = "service"
TENANT_LABELS: tuple[str, ...] = ("vm_account_id", "vm_project_id")
FAKE_PREFIX = "777.777."
_SINGLE_NODE_TOKENS = ("victoria-metrics", "victoriametrics", "victoria_metrics", "vm-single")
_CACHE_LIMIT = 20_000  # per cache; bounded memory even with millions of series

_IPV4 = r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)"
_IPV6 = (
    r"\[[0-9A-Fa-f:.]+(?:%\w+)?\]|(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f.]{0,15}){2,8}(?![\w:])"
)
_IP_RE = re.compile(f"{_IPV4}|{_IPV6}")
_MAYBE_IP = re.compile(r"\d\.\d|:.*:")


class ObfuscationSettings(BaseModel):
    """What to obfuscate. Stored in metadata.json (settings only, never the mapping)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    instance: bool = True
    job: bool = True
    ip_literals: bool = True
    tenant: bool = True
    custom_labels: tuple[str, ...] = Field(default=())
    drop_labels: tuple[str, ...] = Field(default=())


def _component_of(text: str) -> str | None:
    low = text.lower()
    for name in COMPONENTS:
        if name in low:
            return name
    if any(tok in low for tok in _SINGLE_NODE_TOKENS):
        return "vmsingle"
    return None


def detect_component(
    job: str,
    labels: Mapping[str, str] | None = None,
    metric_name: str = "",
    hint: str | None = None,
) -> str:
    """The component a job belongs to, always one of ``COMPONENTS`` or ``GENERIC_COMPONENT``."""
    for candidate in (hint, job):
        if candidate:
            found = _component_of(candidate)
            if found:
                return found
    if labels:
        for key in ("vm_component", "component"):
            value = labels.get(key)
            if value:
                found = _component_of(value)
                if found:
                    return found
    if metric_name:
        prefix = metric_name.split("_", 1)[0]
        found = _component_of(prefix) if prefix.startswith("vm") else None
        if found:
            return found
    return GENERIC_COMPONENT


def _fake_ip(index: int) -> str:
    # index starts at 1; the last octet cycles 1..255, the third grows without wrapping so
    # the mapping stays collision-free for any number of hosts.
    return f"{FAKE_PREFIX}{(index - 1) // 255 + 1}.{(index - 1) % 255 + 1}"


def _split_host_port(instance: str) -> tuple[str, str | None]:
    """``host:port`` → (host, port); IPv6 in brackets; no port → (instance, None)."""
    if instance.startswith("["):
        end = instance.find("]")
        if end > 0:
            host = instance[1:end]
            rest = instance[end + 1 :]
            if rest.startswith(":") and rest[1:].isdigit():
                return host, rest[1:]
            if not rest:
                return host, None
        return instance, None
    if instance.count(":") == 1:
        host, _, port = instance.partition(":")
        if port.isdigit() and host:
            return host, port
    return instance, None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


class Obfuscator:
    """Label obfuscation with a mapping that can be saved and restored (resume)."""

    def __init__(
        self,
        settings: ObfuscationSettings,
        *,
        component_hints: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self._hints = dict(component_hints or {})
        self._hosts: dict[str, int] = {}
        self._jobs: dict[str, str] = {}
        self._component_counts: dict[str, int] = {}
        self._labels: dict[str, dict[str, str]] = {}
        self._drop = frozenset(settings.drop_labels) - {"__name__"}
        self._custom = frozenset(settings.custom_labels) - {"__name__", "instance", "job"}
        on = settings.enabled
        self._do_instance = on and settings.instance
        self._do_job = on and settings.job
        self._do_ips = on and settings.ip_literals
        self._do_tenant = on and settings.tenant
        self.active = on or bool(self._drop)
        self._value_cache: dict[str, str] = {}
        self._labels_cache: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}

    # ------------------------------------------------------------------ single values
    def _host(self, host: str) -> str:
        key = host.lower()
        index = self._hosts.get(key)
        if index is None:
            index = len(self._hosts) + 1
            self._hosts[key] = index
        return _fake_ip(index)

    def instance(self, value: str) -> str:
        """The obfuscated form of an ``instance`` label value."""
        if not value:
            return value
        host, port = _split_host_port(value)
        fake = self._host(host)
        return f"{fake}:{port}" if port is not None else fake

    def job(self, value: str, labels: Mapping[str, str] | None = None, metric: str = "") -> str:
        """The obfuscated form of a ``job`` label value (stable for the whole export)."""
        mapped = self._jobs.get(value)
        if mapped is None:
            component = detect_component(value, labels, metric, self._hints.get(value))
            n = self._component_counts.get(component, 0) + 1
            self._component_counts[component] = n
            mapped = f"{component}-job-{n}"
            self._jobs[value] = mapped
            # label sets cached before this job was known may hold it in another label
            self._labels_cache.clear()
        return mapped

    def _label(self, name: str, value: str, numeric: bool) -> str:
        table = self._labels.setdefault(name, {})
        mapped = table.get(value)
        if mapped is None:
            n = len(table) + 1
            mapped = str(n) if numeric else f"{name}-{n}"
            table[value] = mapped
        return mapped

    def _replace_ip(self, match: re.Match[str]) -> str:
        text = match.group(0)
        inner = text[1:-1] if text.startswith("[") else text
        if not _is_ip(inner):
            return text
        return self._host(inner)

    def scrub_ips(self, value: str) -> str:
        """Replace every IP literal inside ``value`` by its fake address."""
        cached = self._value_cache.get(value)
        if cached is not None:
            return cached
        out = _IP_RE.sub(self._replace_ip, value) if _MAYBE_IP.search(value) else value
        if len(self._value_cache) >= _CACHE_LIMIT:
            self._value_cache.clear()
        self._value_cache[value] = out
        return out

    def preregister(self, *, instances: Iterable[str] = (), jobs: Iterable[str] = ()) -> None:
        """Number known instances and jobs in sorted order, so the mapping does not depend
        on the order in which the server streams series (it differs between requests)."""
        if self._do_instance:
            for value in sorted(set(instances)):
                self.instance(value)
        if self._do_job:
            for value in sorted(set(jobs)):
                self.job(value)

    # ------------------------------------------------------------------ label sets
    def labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        """Apply drop + obfuscation to one label set (``__name__`` kept as is).

        Cached per distinct label set: a series comes back once per window. The returned
        dict is shared with the cache, so callers must not modify it.
        """
        if not self.active:
            return labels if isinstance(labels, dict) else dict(labels)
        key = tuple(labels.items())
        try:
            cached = self._labels_cache.get(key)
        except TypeError:  # an unhashable (non-string) value: no caching
            return self._labels_uncached(labels)
        if cached is None:
            cached = self._labels_uncached(labels)
            if len(self._labels_cache) >= _CACHE_LIMIT:
                self._labels_cache.clear()
            self._labels_cache[key] = cached
        return cached

    def _labels_uncached(self, labels: Mapping[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        metric = labels.get("__name__", "")
        for name, value in labels.items():
            if name in self._drop:
                continue
            if name == "__name__" or not isinstance(value, str):
                out[name] = value
            elif name == "instance" and self._do_instance:
                out[name] = self.instance(value)
            elif name == "job" and self._do_job:
                out[name] = self.job(value, labels, metric)
            elif name in self._custom and self.settings.enabled:
                out[name] = self._label(name, value, numeric=False)
            elif name in TENANT_LABELS and self._do_tenant:
                out[name] = self._label(name, value, numeric=True)
            elif self._do_job and value in self._jobs:
                # e.g. vmagent's scrape_job="<job>": a known job name in another label
                out[name] = self._jobs[value]
            elif self._do_ips:
                out[name] = self.scrub_ips(value)
            else:
                out[name] = value
        return out

    # ------------------------------------------------------------------ mapping + state
    def obfuscated_jobs(self) -> list[str]:
        """The obfuscated job names handed out so far (safe for metadata.json)."""
        return sorted(self._jobs.values())

    def job_names(self, jobs: Iterable[str]) -> list[str]:
        """Names to show for ``jobs`` in metadata/README: obfuscated when job obfuscation is on."""
        return [self.job(j) if self._do_job else j for j in jobs]

    def mapping(self) -> dict[str, Any]:
        """original → obfuscated, for ``--save-mapping`` (a local file, never the bundle)."""
        return {
            "hosts": {host: _fake_ip(i) for host, i in self._hosts.items()},
            "jobs": dict(self._jobs),
            "labels": {name: dict(table) for name, table in self._labels.items()},
        }

    def state(self) -> dict[str, Any]:
        """Everything needed to continue the same mapping after a resume."""
        return {
            "version": 1,
            "settings": self.settings.model_dump(mode="json"),
            "hosts": self._hosts,
            "jobs": self._jobs,
            "component_counts": self._component_counts,
            "labels": self._labels,
            "hints": self._hints,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Obfuscator:
        try:
            settings = ObfuscationSettings.model_validate(state["settings"])
            obf = cls(settings, component_hints=state.get("hints") or {})
            obf._hosts = {str(k): int(v) for k, v in state["hosts"].items()}
            obf._jobs = {str(k): str(v) for k, v in state["jobs"].items()}
            obf._component_counts = {str(k): int(v) for k, v in state["component_counts"].items()}
            obf._labels = {
                str(n): {str(k): str(v) for k, v in t.items()} for n, t in state["labels"].items()
            }
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DataError(
                f"corrupt obfuscation state: {exc}",
                hint="the staging directory was damaged; start a new export",
            ) from exc
        return obf

    def save_state(self, path: Path) -> None:
        """Write the state atomically (temp file, fsync, rename)."""
        write_json_atomic(path, self.state())

    @classmethod
    def load_state(cls, path: Path) -> Obfuscator:
        try:
            data = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise DataError(f"cannot read obfuscation state {path}: {exc}") from exc
        return cls.from_state(data)

    def save_mapping(self, path: Path) -> None:
        """The ``--save-mapping`` file: private (0600), written atomically."""
        write_json_atomic(path, self.mapping(), mode=0o600)


def write_json_atomic(path: Path, data: Any, *, mode: int = 0o600) -> None:
    """Write JSON to ``path`` via temp file + fsync + rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(orjson.dumps(data, option=orjson.OPT_INDENT_2))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
