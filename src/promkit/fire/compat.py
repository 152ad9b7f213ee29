"""Read PromFire config files, so its users can switch without rewriting them.

Mapping (PromFire key -> promkit fire key):

- ``prometheus.query_url`` -> ``source.url`` (default ``http://localhost:9090``)
- ``prometheus.remote_write_url`` -> ``target.url`` (default ``.../api/v1/write``)
- ``benchmark.replication_factor`` -> ``replication.factor`` (PromFire default 2)
- ``benchmark.query_range_hours`` -> ``selection.window`` (floats work here)
- ``benchmark.samples_per_second`` -> ``rate.samples_per_second``
- ``replication_labels`` -> ``replication.labels``; an empty ``benchmark_instance`` gets
  ``bench-1..bench-R`` as in PromFire; other labels with no values are dropped (warned)
- ``exclude_metrics`` -> ``selection.exclude``, wrapped as ``.*(?:p).*`` to keep PromFire's
  unanchored (partial-match) semantics
- ``log_level`` -> ``log_level`` (PromFire ignored it; promkit honours it)
- ``benchmark.query_step_seconds`` and ``benchmark.batch_size`` are ignored with a
  warning: promkit replicates raw samples (no step) and batches by sample count
  (``send.batch_samples``).

Like PromFire, a ``0`` means "the default". Unlike PromFire, unknown keys are errors.
"""

from __future__ import annotations

from typing import Any

from promkit.core.errors import ConfigError

PROMFIRE_KEYS = frozenset({"prometheus", "benchmark", "replication_labels", "exclude_metrics"})
_PROMETHEUS_KEYS = frozenset({"query_url", "remote_write_url"})
_BENCHMARK_KEYS = frozenset(
    {
        "replication_factor",
        "query_range_hours",
        "query_step_seconds",
        "samples_per_second",
        "batch_size",
    }
)


def is_promfire(data: dict[str, Any]) -> bool:
    return any(k in data for k in PROMFIRE_KEYS)


def _section(data: dict[str, Any], key: str, allowed: frozenset[str]) -> dict[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"invalid fire config: {key} must be a mapping")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ConfigError(
            f"invalid fire config: {key}.{unknown[0]}: unknown key",
            hint=f"PromFire's {key} section knows: {', '.join(sorted(allowed))}",
        )
    return value


def _set(out: dict[str, Any], section: str, key: str, value: Any) -> None:
    target = out.setdefault(section, {})
    if not isinstance(target, dict):
        raise ConfigError(f"invalid fire config: {section} must be a mapping")
    if key in target:
        raise ConfigError(
            f"invalid fire config: {section}.{key} is set twice (once through a PromFire key)",
            hint="keep either the PromFire key or the promkit key",
        )
    target[key] = value


def translate_promfire(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A promkit-shaped config dict and the warnings to show."""
    out = {k: v for k, v in data.items() if k not in PROMFIRE_KEYS}
    warnings: list[str] = []
    prom = _section(data, "prometheus", _PROMETHEUS_KEYS)
    bench = _section(data, "benchmark", _BENCHMARK_KEYS)

    def num(key: str, default: float) -> Any:
        value = bench.get(key)
        return default if value in (None, 0) else value  # PromFire: 0 means the default

    if "source" not in out or "url" not in (out.get("source") or {}):
        _set(out, "source", "url", prom.get("query_url") or "http://localhost:9090")
    if "target" not in out or "url" not in (out.get("target") or {}):
        _set(
            out,
            "target",
            "url",
            prom.get("remote_write_url") or "http://localhost:9090/api/v1/write",
        )
    factor = num("replication_factor", 2)
    hours = num("query_range_hours", 24)
    _set(out, "selection", "window", f"{hours}h" if isinstance(hours, int | float) else hours)
    if "samples_per_second" in bench or "rate" not in out:
        _set(out, "rate", "samples_per_second", num("samples_per_second", 1000))
    for dead in ("query_step_seconds", "batch_size"):
        if dead in bench:
            warnings.append(
                f"benchmark.{dead} is ignored: promkit fire replicates raw samples and "
                "batches by sample count (send.batch_samples)"
            )

    labels = data.get("replication_labels") or []
    if not isinstance(labels, list):
        raise ConfigError("invalid fire config: replication_labels must be a list")
    translated = []
    for i, entry in enumerate(labels):
        if not isinstance(entry, dict) or "name" not in entry:
            raise ConfigError(f"invalid fire config: replication_labels.{i} needs a name")
        values = entry.get("values") or []
        if not values and entry["name"] == "benchmark_instance":
            values = [f"bench-{n}" for n in range(1, int(factor) + 1)]
        if not values:
            warnings.append(
                f"replication_labels.{i} ({entry['name']}) has no values and is dropped"
            )
            continue
        translated.append({**entry, "values": values})
    if translated:
        _set(out, "replication", "labels", translated)
        total = 1
        for entry in translated:
            total *= len(entry["values"])
        if int(factor) > total:
            warnings.append(
                f"replication_factor {factor} exceeds the {total} label combinations; "
                f"writing {total} replicas per series"
            )
        _set(out, "replication", "factor", min(int(factor), total))
    else:
        _set(out, "replication", "factor", factor)

    excludes = data.get("exclude_metrics") or []
    if not isinstance(excludes, list):
        raise ConfigError("invalid fire config: exclude_metrics must be a list")
    if excludes:
        _set(out, "selection", "exclude", [f".*(?:{p}).*" for p in excludes])
    return out, warnings


__all__ = ["PROMFIRE_KEYS", "is_promfire", "translate_promfire"]
