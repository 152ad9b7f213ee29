"""What a run did: the summary printed at the end, ``--report`` JSON, the exit decision."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from promkit.core.errors import CanceledError, PromkitError, UpstreamError, UsageError
from promkit.core.remote_write import SenderStats
from promkit.fire.runner import RunResult

REPORT_VERSION = 1


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def report_dict(
    result: RunResult,
    *,
    target: str,
    shard: str | None = None,
    rate_limit: float | None = None,
) -> dict[str, Any]:
    s = result.stats
    disc = result.discovery
    return {
        "report_version": REPORT_VERSION,
        "started_at": datetime.fromtimestamp(result.started_at, UTC).isoformat(),
        "target": target,
        "mode": result.mode,
        "shard": shard,
        "interrupted": result.interrupted,
        "window": {
            "start": datetime.fromtimestamp(disc.start, UTC).isoformat(),
            "end": datetime.fromtimestamp(disc.end, UTC).isoformat(),
        },
        "selection": {
            "discovered_series": disc.selection.discovered,
            "selected_series": len(disc.selection.selected),
            "selected_metrics": len(disc.selection.metrics),
            "skipped": dict(sorted(disc.selection.skipped.items())),
            "missing_series": result.missing_series,
        },
        "replicas_per_series": result.replicas_per_series,
        "source": {
            "series_read": result.series_read,
            "samples_read": result.source_samples,
            "bad_lines": result.bad_lines,
            "dropped_future_samples": result.dropped_future,
        },
        "sent": {
            "series": result.replica_series,
            "series_parts": s.series,  # Series objects handed to the sender
            "samples": s.samples_sent,
            "samples_failed": s.samples_failed,
            "requests": s.requests,
            "requests_ok": s.requests_ok,
            "requests_failed": s.requests_failed,
            "retries": s.retries,
            "bytes": s.bytes_sent,
            "failures_by_status": dict(s.failures),
            "failure_messages": dict(s.messages),
            "failure_ratio": s.failure_ratio,
        },
        "achieved_samples_per_second": round(result.achieved_samples_per_second, 1),
        "overall_samples_per_second": round(s.samples_per_second, 1),
        "rate_limit_samples_per_second": rate_limit,
        "rate_limited_seconds": round(result.rate_limited_seconds, 3),
        "latency_ms": {"p50": _ms(s.latency_p50), "p99": _ms(s.latency_p99)},
        "elapsed_seconds": round(s.elapsed, 3),
        "send_seconds": round(result.send_seconds, 3),
        "send_window_unix": list(result.send_window) if result.send_window else None,
        "source_error": result.source_error.message if result.source_error else None,
        "warnings": list(result.warnings),
    }


def _num(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n:.0f}" if n == int(n) else f"{n:.1f}"


def progress_line(stats: SenderStats) -> str:
    failed = f", failed {_num(stats.samples_failed)}" if stats.samples_failed else ""
    return (
        f"sent {_num(stats.samples_sent)} samples in {stats.requests_ok} requests "
        f"({_num(stats.samples_per_second)}/s){failed}, retries {stats.retries}, "
        f"{stats.elapsed:.0f}s"
    )


def summary_lines(report: dict[str, Any]) -> list[str]:
    sel, sent, src = report["selection"], report["sent"], report["source"]
    lat = report["latency_ms"]
    skipped = ", ".join(f"{k} {v}" for k, v in sel["skipped"].items()) or "none"
    lines = [
        f"fire {'INTERRUPTED' if report['interrupted'] else 'done'}: mode {report['mode']}, "
        f"target {report['target']}"
        + (f", shard {report['shard']}" if report["shard"] else "")
        + (f", {report['processes']} processes" if report.get("processes") else ""),
        f"  selected   {sel['selected_series']} series of {sel['selected_metrics']} metrics "
        f"({sel['discovered_series']} discovered; skipped: {skipped})",
        f"  read       {src['series_read']} series, {_num(src['samples_read'])} samples"
        + (
            f", {src['dropped_future_samples']} future samples dropped"
            if src["dropped_future_samples"]
            else ""
        ),
        f"  replicas   {report['replicas_per_series']} per series -> {sent['series']} series sent",
        f"  samples    {sent['samples']} sent, {sent['samples_failed']} failed "
        f"({sent['failure_ratio']:.2%})",
        f"  requests   {sent['requests']} ({sent['requests_ok']} ok, {sent['requests_failed']} "
        f"failed, {sent['retries']} retries), {_num(sent['bytes'])}B",
        f"  rate       {_num(report['achieved_samples_per_second'])} samples/s achieved"
        + (
            f" (limit {_num(report['rate_limit_samples_per_second'])}/s)"
            if report["rate_limit_samples_per_second"]
            else ""
        ),
        f"  latency    p50 {lat['p50']} ms, p99 {lat['p99']} ms; "
        f"elapsed {report['elapsed_seconds']}s",
    ]
    for status, count in sent["failures_by_status"].items():
        message = sent["failure_messages"].get(status, "")
        lines.append(f"  failed     {status}: {count} requests: {message[:200]}")
    if report["source_error"]:
        lines.append(f"  stopped    reading the source failed: {report['source_error']}")
    if sel["missing_series"]:
        lines.append(f"  note       {sel['missing_series']} selected series had no samples")
    return lines


def write_report(report: dict[str, Any], path: str | Path) -> None:
    """Write the JSON report atomically (temp file, fsync, rename)."""
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".fire-report-", dir=target.parent or Path("."))
        with os.fdopen(fd, "wb") as fh:
            fh.write(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        raise UsageError(
            f"cannot write report {target}: {exc.strerror}",
            hint="pass --report with a writable path",
        ) from None


def outcome_error(report: dict[str, Any], max_failure_ratio: float) -> PromkitError | None:
    """The error to exit with, or None when the run counts as a success."""
    sent = report["sent"]
    if report["interrupted"]:
        return CanceledError("fire run interrupted; the summary above covers what was sent")
    total = sent["samples"] + sent["samples_failed"]
    worst = max(sent["failures_by_status"].items(), key=lambda kv: kv[1], default=None)
    detail = ""
    if worst is not None:
        detail = f"; most failures: {worst[0]} {sent['failure_messages'].get(worst[0], '')[:200]}"
    if total and sent["samples"] == 0:
        return UpstreamError(
            f"every one of {total} samples failed{detail}",
            hint="check target.url, credentials and the server log; 400s carry the reason",
        )
    if sent["failure_ratio"] > max_failure_ratio:
        return UpstreamError(
            f"{sent['failure_ratio']:.2%} of samples failed, above report.max_failure_ratio "
            f"{max_failure_ratio:.2%}{detail}",
            hint="raise report.max_failure_ratio to tolerate failures",
        )
    return None


__all__ = ["outcome_error", "progress_line", "report_dict", "summary_lines", "write_report"]
