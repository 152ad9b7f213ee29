"""``fire run --processes N``: N local worker processes, one shard each, one merged report.

One Python process tops out around one core of encoding (the GIL); a load generator with
more cores runs N children of ``promkit fire run --json`` on shards ``base+k / n*N`` of
the selection (so ``--shard i/n --processes N`` still composes across machines), each
with 1/N of the rate limit. Ctrl-C reaches the whole process group: every child finishes
its in-flight requests and prints its report, which are merged here.

Merging: counts are summed (selection counts are taken once: every child discovers the
same series); ``max_metrics``/``max_series`` would apply per child and are refused with
``--processes``; achieved samples/s is every accepted sample over the union of the
children's sending windows; latency p50 is the median of the children's p50 and p99 the
largest p99 (an approximation: exact percentiles would need every child's samples).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from promkit.core.errors import NotFoundError, UpstreamError
from promkit.fire.selection import Shard


def child_shards(processes: int, shard: Shard | None) -> list[str]:
    outer = shard or Shard(0, 1)
    total = outer.count * processes
    return [f"{outer.index * processes + k}/{total}" for k in range(processes)]


def run_children(
    config: Path,
    processes: int,
    *,
    shard: Shard | None,
    mode: str | None,
    rate: float | None,
) -> list[dict[str, Any]]:
    """Run the children; their reports (shards without series give none)."""
    env = dict(os.environ)
    if rate is not None:
        env["PROMKIT_FIRE__RATE__SAMPLES_PER_SECOND"] = repr(rate / processes)
    procs = []
    for part in child_shards(processes, shard):
        argv = [sys.executable, "-m", "promkit", "fire", "run", "-c", str(config)]
        argv += ["--shard", part, "--json", "--quiet", *(["--mode", mode] if mode else [])]
        procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE, env=env))
    reports: list[dict[str, Any]] = []
    failed: list[int] = []
    for proc in procs:
        try:
            out, _ = proc.communicate()
        except KeyboardInterrupt:  # the children got the same SIGINT: collect what they print
            out, _ = proc.communicate()
        code = proc.returncode
        if code == NotFoundError.exit_code and not out.strip():
            continue  # this shard holds no series
        try:
            reports.append(json.loads(out))
        except ValueError:
            failed.append(code)
    if failed:
        raise UpstreamError(
            f"{len(failed)} of {processes} fire processes failed (exit {failed[0]})",
            hint="their errors are printed above",
        )
    if not reports:
        raise NotFoundError("no series to replicate in any of the shards")
    return reports


def _sum(reports: list[dict[str, Any]], section: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for report in reports:
        for key, value in report[section].items():
            if isinstance(value, dict):
                target = out.setdefault(key, {})
                for k, v in value.items():
                    target[k] = target.get(k, 0) + v if isinstance(v, int) else target.get(k, v)
            elif isinstance(value, int) and not isinstance(value, bool):
                out[key] = out.get(key, 0) + value
            else:
                out.setdefault(key, value)
    return out


def merge_reports(reports: list[dict[str, Any]], *, shard: str | None) -> dict[str, Any]:
    """One report for the whole run (see the module docstring for the rules)."""
    first = reports[0]
    merged: dict[str, Any] = {
        **first,
        "source": _sum(reports, "source"),
        "sent": _sum(reports, "sent"),
    }
    # every child discovers the same series and applies the same rules before the shard
    sel = dict(first["selection"])
    selected = sum(r["selection"]["selected_series"] for r in reports)
    skipped = {k: v for k, v in sel["skipped"].items() if k in ("already_replica", "name_filter")}
    other = sel["discovered_series"] - selected - sum(skipped.values())
    if other:
        skipped["other_shard"] = other
    sel.update(
        selected_series=selected,
        selected_metrics=max(r["selection"]["selected_metrics"] for r in reports),
        missing_series=sum(r["selection"]["missing_series"] for r in reports),
        skipped=skipped,
    )
    merged["selection"] = sel
    sent = merged["sent"]
    total = sent["samples"] + sent["samples_failed"]
    sent["failure_ratio"] = sent["samples_failed"] / total if total else 0.0
    p50s = [r["latency_ms"]["p50"] for r in reports if r["latency_ms"]["p50"] is not None]
    p99s = [r["latency_ms"]["p99"] for r in reports if r["latency_ms"]["p99"] is not None]
    merged["latency_ms"] = {
        "p50": statistics.median(p50s) if p50s else None,
        "p99": max(p99s) if p99s else None,
    }
    # achieved: all accepted samples over the union of the children's sending windows
    windows = [r["send_window_unix"] for r in reports if r.get("send_window_unix")]
    span = max(w[1] for w in windows) - min(w[0] for w in windows) if windows else 0.0
    merged["achieved_samples_per_second"] = round(sent["samples"] / span, 1) if span > 0 else 0.0
    merged["send_window_unix"] = (
        [min(w[0] for w in windows), max(w[1] for w in windows)] if windows else None
    )
    merged["overall_samples_per_second"] = round(
        sum(r["overall_samples_per_second"] for r in reports), 1
    )
    rates = [r["rate_limit_samples_per_second"] for r in reports]
    merged["rate_limit_samples_per_second"] = sum(rates) if all(rates) else None
    for key in ("elapsed_seconds", "send_seconds", "rate_limited_seconds"):
        merged[key] = max(r[key] for r in reports)
    merged["interrupted"] = any(r["interrupted"] for r in reports)
    merged["source_error"] = next((r["source_error"] for r in reports if r["source_error"]), None)
    merged["processes"] = len(reports)
    merged["shard"] = shard
    merged["warnings"] = sorted({w for r in reports for w in r["warnings"]})
    return merged


__all__ = ["child_shards", "merge_reports", "run_children"]
