"""Gather export speed and memory against a plain /api/v1/export download (issue 3).

Starts a real VictoriaMetrics (Debian package) on a free loopback port, seeds --samples
samples (series x points, 15 s step, counters and gauges, VM-like labels), then measures in
the same run:

  (a) a plain streaming download of the same /api/v1/export selection to /dev/null;
  (b) ``run_export`` (cluster mode, instance + job obfuscation, default settings) into a
      bundle, in a child process so its peak RSS is measured on its own.

Prints samples/s of both, ``ratio=<b/a>`` (target >= 0.25), the bundle's metrics entry size
against zlib level 6 of the same bytes (target <= 1.10) and the child's peak RSS (target
< 200 MB, for 1 M and 10 M samples alike).

On a shared, loaded machine single runs are noisy: ``--repeat N`` measures (a) and (b) N
times, interleaved, and prints medians (and every run), plus the CPU time (b) used, which
the load disturbs less than wall time. ``--baseline-src DIR`` also runs
(b) with ``DIR`` first on ``PYTHONPATH`` (e.g. ``git archive <rev> src | tar -x -C DIR``
then ``DIR/src``), interleaved with the others, to compare two versions of the code
against the same server in the same run.

    .venv/bin/python bench/gather_export.py [--samples 5000000] [--series 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

JOBS = ["vmstorage-prod", "vminsert-prod", "vmselect-prod", "vmagent-edge"]
STEP_MS = 15_000


def seed(url: str, series: int, points: int, end_ms: int) -> tuple[int, int]:
    """Import ``series`` x ``points`` samples ending at ``end_ms``; return (start, end)."""
    rng = random.Random(7)
    start_ms = end_ms - (points - 1) * STEP_MS
    stamps = [start_ms + i * STEP_MS + rng.randint(0, 30) for i in range(points)]
    batch: list[bytes] = []
    with httpx.Client(timeout=600) as http:
        for s in range(series):
            job = JOBS[s % len(JOBS)]
            labels = {
                "__name__": f"vm_bench_metric_{s % 150}_total",
                "job": job,
                "instance": f"10.{s % 7}.{s % 251}.{s % 13}:84{s % 90:02d}",
                "type": f"t{s // 150}",
            }
            if s % 2:
                v = 0
                values: list[float] = []
                for _ in stamps:
                    v += rng.randint(0, 40)
                    values.append(v)
            else:
                values = [round(rng.random() * 1000, 3) for _ in stamps]
            batch.append(orjson.dumps({"metric": labels, "values": values, "timestamps": stamps}))
            if len(batch) >= 100:
                http.post(f"{url}/api/v1/import", content=b"\n".join(batch)).raise_for_status()
                batch.clear()
        if batch:
            http.post(f"{url}/api/v1/import", content=b"\n".join(batch)).raise_for_status()
        http.get(f"{url}/internal/force_flush").raise_for_status()
    return start_ms, stamps[-1]


def plain_download(url: str, match: str, start_ms: int, end_ms: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    size = 0
    with (
        httpx.Client(timeout=httpx.Timeout(60)) as http,
        http.stream(
            "POST",
            f"{url}/api/v1/export",
            data={
                "match[]": match,
                "start": f"{start_ms / 1000:.3f}",
                "end": f"{end_ms / 1000:.3f}",
            },
            headers={"Accept-Encoding": "identity"},
        ) as resp,
        open("/dev/null", "wb") as sink,
    ):
        resp.raise_for_status()
        for chunk in resp.iter_raw(1 << 20):
            sink.write(chunk)
            size += len(chunk)
    return time.perf_counter() - t0, size


def peak_rss_mb() -> float:
    """Peak RSS of this process image. ``ru_maxrss`` is inherited from the parent across
    fork+exec on Linux (it would report the seeding parent's size), so read VmHWM."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: argparse.Namespace) -> None:
    """(b) in its own process: the export into a bundle; prints a JSON line."""
    from promkit.bundle.export import ExportSpec, LocalContext, run_export
    from promkit.bundle.obfuscation import ObfuscationSettings
    from promkit.core.connection import Connection
    from promkit.core.tsdb import TSDBClient

    spec = ExportSpec(
        mode="cluster",
        jobs=JOBS,
        start_ms=args.start,
        end_ms=args.end,
        obfuscation=ObfuscationSettings(enabled=True, instance=True, job=True),
    )
    out = Path(args.out)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    with TSDBClient(Connection.from_url(args.url, timeout_seconds=120)) as client:

        def on_window(done: int, total: int, samples: int) -> None:
            if args.trace:
                line = f"window {done}/{total} samples={samples} peak_rss_mb={peak_rss_mb():.0f}"
                print(line, file=sys.stderr)

        ctx = LocalContext(out / "staging", on_window=on_window)
        if args.profile:
            import cProfile

            with cProfile.Profile() as prof:
                res = run_export(client, spec, ctx, output_dir=out / "bundles")
            prof.dump_stats(args.profile)
        else:
            res = run_export(client, spec, ctx, output_dir=out / "bundles")
    elapsed = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime
    result = {"seconds": elapsed, "cpu_seconds": cpu, "rss_mb": peak_rss_mb()}
    print(json.dumps({**result, **res.model_dump(mode="json")}))


def zlib6_size(bundle: Path) -> tuple[int, int]:
    """(our compressed size of metrics.jsonl, zlib level 6 of the same bytes)."""
    with zipfile.ZipFile(bundle) as zf:
        info = zf.getinfo("metrics.jsonl")
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        total = 0
        with zf.open(info) as fh:
            while chunk := fh.read(1 << 20):
                total += len(comp.compress(chunk))
        total += len(comp.flush())
        return info.compress_size, total


def run_child(
    url: str,
    start_ms: int,
    end_ms: int,
    out: Path,
    trace: bool,
    src: str | None,
    profile: str | None = None,
) -> dict[str, Any]:
    """(b) once in a child process; ``src`` goes first on its PYTHONPATH."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            "--url",
            url,
            "--start",
            str(start_ms),
            "--end",
            str(end_ms),
            "--out",
            str(out),
            *(["--trace"] if trace else []),
            *(["--profile", profile] if profile else []),
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if proc.returncode != 0 or trace:
        print(proc.stderr, file=sys.stderr)
    if proc.returncode != 0:
        raise SystemExit("export failed")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--samples", type=int, default=5_000_000)
    p.add_argument("--series", type=int, default=2000)
    p.add_argument("--trace", action="store_true", help="print peak RSS after every window")
    p.add_argument("--repeat", type=int, default=1, help="runs of (a) and (b); medians printed")
    p.add_argument("--baseline-src", help="also run (b) with this src dir first on PYTHONPATH")
    p.add_argument("--profile", help="cProfile (b) into this file (pstats format)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--start", type=int, help=argparse.SUPPRESS)
    p.add_argument("--end", type=int, help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return

    from support.servers import start_victoria_metrics

    points = max(1, args.samples // args.series)
    total = points * args.series
    with tempfile.TemporaryDirectory(prefix="promkit-bench-") as tmp:
        work = Path(tmp)
        vm = start_victoria_metrics(work / "servers")
        try:
            end_ms = (int(time.time() * 1000) - 120_000) // 1000 * 1000
            t0 = time.perf_counter()
            start_ms, last_ms = seed(vm.url, args.series, points, end_ms)
            print(
                f"seeded {total} samples ({args.series} series x {points}) "
                f"in {time.perf_counter() - t0:.1f}s"
            )
            match = '{job=~"' + "|".join(JOBS) + '"}'
            plain_download(vm.url, match, start_ms, last_ms + 1000)  # warm the caches
            variants = {"new": None, **({"base": args.baseline_src} if args.baseline_src else {})}
            a_runs: list[tuple[float, int]] = []
            b_runs: dict[str, list[dict[str, Any]]] = {k: [] for k in variants}
            for i in range(args.repeat):
                a_runs.append(plain_download(vm.url, match, start_ms, last_ms + 1000))
                order = list(variants.items())
                for name, src in order if i % 2 == 0 else order[::-1]:  # alternate who goes first
                    out = work / f"b-{name}-{i}"
                    prof = f"{args.profile}.{name}.{i}" if args.profile else None
                    b = run_child(vm.url, start_ms, last_ms + 1000, out, args.trace, src, prof)
                    b["zip_sizes"] = zlib6_size(Path(str(b["bundle_path"])))
                    b_runs[name].append(b)
                    shutil.rmtree(out, ignore_errors=True)
        finally:
            vm.stop()
    report(total, a_runs, b_runs)


def report(
    total: int, a_runs: list[tuple[float, int]], b_runs: dict[str, list[dict[str, Any]]]
) -> None:
    a_s = statistics.median(s for s, _ in a_runs)
    a_rate = total / a_s
    first = b_runs["new"][0]
    counts = first["counts"]
    print(
        f"samples: seeded={total} exported={counts['samples']} "
        f"series={counts['series']} windows={first['windows']} runs={len(a_runs)}"
    )
    print(
        f"(a) plain /api/v1/export -> /dev/null: median {a_s:.2f}s {a_rate:,.0f} samples/s "
        f"({a_runs[0][1] / 1e6:.1f} MB); runs: {', '.join(f'{s:.2f}s' for s, _ in a_runs)}"
    )
    for name, runs in b_runs.items():
        label = "promkit gather export (obfuscated bundle)" + (
            " [baseline src]" if name == "base" else ""
        )
        secs = [float(r["seconds"]) for r in runs]
        cpu = statistics.median(float(r["cpu_seconds"]) for r in runs)
        ratios = [
            r["counts"]["samples"] / float(r["seconds"]) / (total / s)
            for r, (s, _) in zip(runs, a_runs, strict=True)
        ]
        b_s = statistics.median(secs)
        b_rate = counts["samples"] / b_s
        ours, z6 = runs[0]["zip_sizes"]
        rss = max(float(r["rss_mb"]) for r in runs)
        print(
            f"(b) {label}: median {b_s:.2f}s {b_rate:,.0f} samples/s; "
            f"runs: {', '.join(f'{s:.2f}s' for s in secs)}; "
            f"median CPU (all threads) {cpu:.2f}s"
        )
        print(
            f"    ratio={b_rate / a_rate:.3f} of the median rates (target >= 0.25); "
            f"per-run ratios: {', '.join(f'{r:.3f}' for r in ratios)}"
        )
        print(
            f"    bundle metrics.jsonl deflated: ours={ours:,} zlib6={z6:,} "
            f"size_ratio={ours / z6:.3f} (target <= 1.10); zip={runs[0]['size_bytes']:,} bytes"
        )
        print(f"    peak_rss_mb={rss:.0f} (max over runs; target < 200)")


if __name__ == "__main__":
    main()
