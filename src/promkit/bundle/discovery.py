"""What to export: discovery of components and jobs, and the selectors built from them.

Discovery reads ``vm_app_version`` over the chosen range (``last_over_time``, so a job that
stopped before the end is still listed). Debian's VictoriaMetrics 1.79 writes no
``version`` label, so the component of a job comes from, in order: the ``version`` prefix,
the job name, and the ``flag`` series the job exposes (``vmselectAddr`` only exists on
vmstorage, ``storageNode`` on vminsert/vmselect, ``storageDataPath`` on single-node, ...).
Single-node is reported as ``vmsingle``. Every job value goes into queries through
``promkit.core.promql`` (escaped twice, so ``job.1``, ``a|b``, ``x+y`` match exactly).

Selections: ``cluster`` mode exports ``{job=~"<jobs>"}``; ``selector`` mode folds a job
filter into the user's selector as one more matcher (still raw samples from
``/api/v1/export``); an empty selection is an error, never "export everything".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from promkit.bundle.obfuscation import (
    COMPONENTS,
    GENERIC_COMPONENT,
    ObfuscationSettings,
    Obfuscator,
    detect_component,
)
from promkit.core.errors import UsageError
from promkit.core.promql import one_of, quote, regex_escape, selector, validate_metric_name
from promkit.core.tsdb import TSDBClient

__all__ = [
    "ComponentInfo",
    "JobInfo",
    "build_match",
    "discover_components",
    "discover_jobs",
    "fold_job_filter",
    "obfuscated_query",
]

# flag name → component, checked in this order (first match wins per job).
_FLAG_RULES: tuple[tuple[str, str], ...] = (
    ("vmselectAddr", "vmstorage"),
    ("vminsertAddr", "vmstorage"),
    ("auth.config", "vmauth"),
    ("datasource.url", "vmalert"),
    ("storageDataPath", "vmsingle"),  # single-node also has promscrape.* flags
    ("remoteWrite.url", "vmagent"),
    ("promscrape.config", "vmagent"),
)
_SELECT_FLAGS = ("search.maxQueryDuration", "search.maxUniqueTimeseries")


class JobInfo(BaseModel):
    job: str
    component: str
    instances: int
    series_estimate: int | None = None  # None: the estimate query failed


class ComponentInfo(BaseModel):
    component: str
    jobs: list[JobInfo]

    @property
    def instances(self) -> int:
        return sum(j.instances for j in self.jobs)

    @property
    def series_estimate(self) -> int | None:
        vals = [j.series_estimate for j in self.jobs]
        return None if any(v is None for v in vals) else sum(v or 0 for v in vals)


# ------------------------------------------------------------------ selections


def _strip_strings(text: str) -> str:
    """``text`` with every quoted string emptied (so braces/keywords inside are ignored)."""
    return re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', text, flags=re.DOTALL)


_SELECTOR = re.compile(r"\s*(?:[a-zA-Z_:][a-zA-Z0-9_:]*\s*)?(?:\{[^{}]*\})?\s*", re.DOTALL)


def _is_selector(text: str) -> bool:
    """True for ``metric``, ``metric{...}`` or ``{...}`` (quoted strings ignored)."""
    bare = _strip_strings(text)
    return bool(bare.strip()) and _SELECTOR.fullmatch(bare) is not None


def fold_job_filter(sel: str, jobs: Sequence[str]) -> str:
    """``sel`` restricted to ``jobs`` by one more matcher: ``up{a="b"}`` → ``up{a="b",job=~…}``."""
    text = sel.strip()
    if not text:
        raise UsageError("the selector is empty", hint='pass a series selector, e.g. up{job="x"}')
    m = one_of("job", list(jobs))
    bare = _strip_strings(text)
    if "{" not in bare:
        validate_metric_name(text)
        return f"{text}{{{m}}}"
    if bare.count("{") != 1 or bare.count("}") != 1 or not bare.rstrip().endswith("}"):
        raise UsageError(
            f"{sel!r} is not a single series selector",
            hint='a job filter needs a selector like metric{label="v"}; use query mode '
            "for expressions",
        )
    name = text[: text.index("{")].strip()
    if name:
        validate_metric_name(name)
    inner_bare = bare[bare.index("{") + 1 : bare.rindex("}")]
    if re.search(r"\bor\b", inner_bare):
        raise UsageError(
            "a job filter cannot be folded into a selector with 'or'",
            hint="select the jobs inside each 'or' group yourself",
        )
    # the real inner text: between the first '{' and the last '}' of the original
    inner = text[text.index("{") + 1 : text.rindex("}")].strip().rstrip(",").strip()
    return f"{name}{{{inner + ',' if inner else ''}{m}}}"


def build_match(
    mode: str, jobs: Sequence[str], sel: str | None = None, query: str | None = None
) -> str:
    """The ``match[]`` selector (or the query for query mode) of an export."""
    if mode == "cluster":
        if not jobs:
            raise UsageError(
                "no jobs selected: refusing to export every series",
                hint="choose components or jobs (`promkit gather discover` lists them)",
            )
        return selector(None, [one_of("job", list(jobs))])
    if mode == "selector":
        if not sel or not sel.strip():
            raise UsageError("selector mode needs a selector", hint='for example up{job="x"}')
        return fold_job_filter(sel, jobs) if jobs else sel.strip()
    if mode == "query":
        if not query or not query.strip():
            raise UsageError("query mode needs a query", hint="for example rate(x_total[5m])")
        if jobs:
            raise UsageError(
                "a job filter cannot be applied to a query",
                hint="write the job matcher into the query itself",
            )
        return query.strip()
    raise UsageError(f"unknown export mode {mode!r}", hint="use cluster, selector or query")


def obfuscated_query(text: str, obf: Obfuscator, settings: ObfuscationSettings) -> str:
    """``text`` fit for metadata.json: known originals replaced by their obfuscated forms."""
    if not settings.enabled:
        return text
    mapping = obf.mapping()
    pairs: list[tuple[str, str]] = []
    if settings.job:
        pairs += list(mapping["jobs"].items())
    if settings.instance:
        pairs += list(mapping["hosts"].items())
    for name, table in mapping["labels"].items():
        if name in settings.custom_labels:
            pairs += list(table.items())
    replacements: dict[str, str] = {}
    for original, fake in pairs:
        if not original:
            continue
        for form in (original, regex_escape(original)):
            for written in (form, quote(form)[1:-1]):
                if written in text:
                    replacements.setdefault(written, fake)
    for original in sorted(replacements, key=len, reverse=True):
        text = text.replace(original, replacements[original])
    return obf.scrub_ips(text) if settings.ip_literals else text


# ------------------------------------------------------------------ discovery


def _range_s(start_ms: int, end_ms: int) -> str:
    return f"{max(1, (end_ms - start_ms + 999) // 1000)}s"


def _named(job: str) -> str | None:
    found = detect_component(job)
    return None if found == GENERIC_COMPONENT else found


def _component_from_version(version: str) -> str | None:
    if not version:
        return None
    head = version.split("-", 1)[0].lower()
    if version.lower().startswith("victoria-metrics"):
        return "vmsingle"
    return head if head in COMPONENTS else None


def _components_from_flags(
    client: TSDBClient, jobs: Sequence[str], window: str, at: float
) -> dict[str, str]:
    names = [n for n, _ in _FLAG_RULES] + ["storageNode", *_SELECT_FLAGS]
    q = (
        f"group by (job, name) (last_over_time(flag{{{one_of('job', list(jobs))},"
        f"{one_of('name', names)}}}[{window}]))"
    )
    seen: dict[str, set[str]] = {}
    for item in client.query(q, time=at):
        metric = item.get("metric") or {}
        seen.setdefault(metric.get("job", ""), set()).add(metric.get("name", ""))
    out: dict[str, str] = {}
    for job, flags in seen.items():
        for flag, component in _FLAG_RULES:
            if flag in flags:
                out[job] = component
                break
        else:
            if "storageNode" in flags:
                selects = any(f in flags for f in _SELECT_FLAGS)
                out[job] = "vmselect" if selects else "vminsert"
    return out


def _series_estimates(
    client: TSDBClient, jobs: Sequence[str], window: str, at: float
) -> dict[str, int] | None:
    q = f"count by (job) (last_over_time({{{one_of('job', list(jobs))}}}[{window}]))"
    try:
        result = client.query(q, time=at)
    except UsageError:
        return None
    return {
        (r.get("metric") or {}).get("job", ""): int(float(r["value"][1]))
        for r in result
        if r.get("value")
    }


def discover_components(client: TSDBClient, start_ms: int, end_ms: int) -> list[ComponentInfo]:
    """VictoriaMetrics components and their jobs seen in ``[start, end]``."""
    window = _range_s(start_ms, end_ms)
    at = end_ms / 1000
    rows = client.query(
        f"group by (job, instance, version) (last_over_time(vm_app_version[{window}]))", time=at
    )
    instances: dict[str, set[str]] = {}
    versions: dict[str, str] = {}
    for row in rows:
        metric: Mapping[str, Any] = row.get("metric") or {}
        job = str(metric.get("job", ""))
        if not job:
            continue
        instances.setdefault(job, set()).add(str(metric.get("instance", "")))
        versions.setdefault(job, str(metric.get("version", "")))
    if not instances:
        return []
    jobs = sorted(instances)
    from_flags = _components_from_flags(client, jobs, window, at)
    estimates = _series_estimates(client, jobs, window, at)
    grouped: dict[str, list[JobInfo]] = {}
    for job in jobs:
        component = (
            _component_from_version(versions.get(job, ""))
            or _named(job)
            or from_flags.get(job, GENERIC_COMPONENT)
        )
        info = JobInfo(
            job=job,
            component=component,
            instances=len(instances[job]),
            series_estimate=None if estimates is None else estimates.get(job, 0),
        )
        grouped.setdefault(component, []).append(info)
    return [ComponentInfo(component=c, jobs=grouped[c]) for c in sorted(grouped)]


def discover_jobs(
    client: TSDBClient, start_ms: int, end_ms: int, sel: str | None = None
) -> list[JobInfo]:
    """Jobs matched by ``sel`` (default ``up``, i.e. Prometheus scrape targets) in the range."""
    window = _range_s(start_ms, end_ms)
    at = end_ms / 1000
    base = sel.strip() if sel and sel.strip() else "up"
    # a range on a plain selector; anything else needs a subquery (Prometheus refuses
    # `(up)[5m]`, a range on a parenthesised expression)
    step = f"{max(1, (end_ms - start_ms) // 300_000)}s"  # ~300 subquery points
    ranged = f"{base}[{window}]" if _is_selector(base) else f"({base})[{window}:{step}]"
    rows = client.query(f"group by (job, instance) (last_over_time({ranged}))", time=at)
    instances: dict[str, set[str]] = {}
    for row in rows:
        metric = row.get("metric") or {}
        instances.setdefault(str(metric.get("job", "")), set()).add(str(metric.get("instance", "")))
    counts: dict[str, int] = {}
    if instances:
        q = f"count by (job) (last_over_time({ranged}))"
        for r in client.query(q, time=at):
            counts[(r.get("metric") or {}).get("job", "")] = int(float(r["value"][1]))
    return [
        JobInfo(
            job=job,
            component=detect_component(job),
            instances=len(instances[job]),
            series_estimate=counts.get(job),
        )
        for job in sorted(instances)
    ]
