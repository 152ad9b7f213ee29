"""Bundle import speed and memory against a plain streamed POST to /api/v1/import (issue 5).

Writes a promkit bundle of --samples samples (series x points, 15 s step, VM-like labels) in
the layout ``promkit gather`` produces (one line per series per time window), starts two
empty VictoriaMetrics (Debian package) on free loopback ports, then measures in the same run:

  (a) a plain streaming POST of the bundle's metrics.jsonl (extracted beforehand, not timed)
      to /api/v1/import of the first VictoriaMetrics;
  (b) the promkit import of the bundle (reader with checksum, line rewrite, retention check
      against the target's flag, gzip chunks, checkpoints, default settings) into the second,
      in a child process so its peak RSS is measured on its own. The verification that
      follows is timed separately: it mostly waits for VictoriaMetrics to make new series
      searchable.

Each is measured ``--rounds`` times on fresh servers, alternating, because the machine is
shared; prints best and median samples/s of both, ``ratio=<b/a>`` of the best runs (target
>= 0.7), ``ratio_median`` and the children's peak RSS (target < 200 MB).

    .venv/bin/python bench/import.py [--samples 5000000] [--series 2000]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

STEP_MS = 15_000
WINDOWS = 48


def make_bundle(work: Path, series: int, points: int, end_ms: int) -> Path:
    from promkit.bundle.archive import BundleCounts, BundleMetadata, TimeRange, write_bundle

    rng = random.Random(7)
    start_ms = end_ms - (points - 1) * STEP_MS
    stamps = [start_ms + i * STEP_MS for i in range(points)]
    per_window = max(1, -(-points // WINDOWS))
    staging = work / "staging.jsonl"
    lines = 0
    with staging.open("wb") as out:
        labels = [
            {
                "__name__": f"vm_bench_metric_{s % 150}_total",
                "job": f"vmstorage-job-{s % 4 + 1}",
                "instance": f"777.777.{s % 7 + 1}.{s % 251 + 1}:84{s % 90:02d}",
                "type": f"t{s // 150}",
            }
            for s in range(series)
        ]
        counters = [0] * series
        for w in range(0, points, per_window):
            ts = stamps[w : w + per_window]
            for s in range(series):
                if s % 2:
                    values: list[float] = []
                    for _ in ts:
                        counters[s] += rng.randint(0, 40)
                        values.append(counters[s])
                else:
                    values = [round(rng.random() * 1000, 3) for _ in ts]
                row = {"metric": labels[s], "values": values, "timestamps": ts}
                out.write(orjson.dumps(row) + b"\n")
                lines += 1
    meta = BundleMetadata(
        export_id="exp-20261123T190000Z-bench0",
        export_date="2026-11-23T19:00:00.000Z",
        time_range=TimeRange.of_ms(start_ms, stamps[-1]),
        mode="selector",
        query='{job=~"vmstorage-job-.*"}',
        counts=BundleCounts(series=series, samples=series * points, lines=lines),
    )
    result = write_bundle(work / "bundles", staging, meta)
    staging.unlink()
    return result.path


def plain_upload(url: str, jsonl: Path) -> float:
    def body() -> Iterator[bytes]:
        with jsonl.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                yield chunk

    t0 = time.perf_counter()
    with httpx.Client(timeout=httpx.Timeout(600)) as http:
        r = http.post(f"{url}/api/v1/import", content=body())
        r.raise_for_status()
    return time.perf_counter() - t0


def peak_rss_mb() -> float:
    """Peak RSS of this process image (VmHWM; ``ru_maxrss`` would include the parent's)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Ctx:
    def __init__(self, staging_dir: Path) -> None:
        self.staging_dir = staging_dir
        staging_dir.mkdir(parents=True, exist_ok=True)

    def check_canceled(self) -> None:
        return None

    def set_total(self, total_windows: int) -> None:
        return None

    def restore(self, *, completed_windows: int, samples: int, lines: int) -> None:
        return None

    def window_done(self, index: int, **_: object) -> None:
        return None

    def save_checkpoint(self, data: dict[str, object]) -> None:
        from promkit.core.jobs import write_checkpoint

        write_checkpoint(self.staging_dir, data)

    def load_checkpoint(self) -> dict[str, object] | None:
        from promkit.core.jobs import read_checkpoint

        return read_checkpoint(self.staging_dir)


def child(args: argparse.Namespace) -> None:
    """(b) in its own process: import the bundle, then verify; prints a JSON line."""
    from promkit.bundle.preflight import target_limits
    from promkit.bundle.reader import open_bundle
    from promkit.bundle.upload import ImportPlan, import_runner
    from promkit.core.connection import Connection
    from promkit.core.tsdb import TSDBClient

    conn = Connection.from_url(args.url, timeout_seconds=120)
    t0 = time.perf_counter()
    with TSDBClient(conn) as client:
        limits = target_limits(client.flags())
    t_flags = time.perf_counter() - t0
    reader = open_bundle(args.bundle)
    t_open = time.perf_counter() - t0 - t_flags
    plan = ImportPlan(retention_ms=limits.retention_ms)  # the defaults of `promkit import run`
    if args.chunk_mib:
        plan = dataclasses.replace(plan, chunk_bytes=int(args.chunk_mib * (1 << 20)))
    result = import_runner(reader, conn, plan)(_Ctx(Path(args.out)))  # type: ignore[arg-type]
    total_s = time.perf_counter() - t0
    verification = result.verification
    verify_s = verification.waited_seconds if verification is not None else 0.0
    out = {
        "seconds": total_s - verify_s,
        "verify_seconds": verify_s,
        "flags_seconds": t_flags,
        "open_seconds": t_open,
        "verified": verification is not None and verification.verified,
        "rss_mb": peak_rss_mb(),
        **result.model_dump(mode="json", exclude={"verification"}),
    }
    print(json.dumps(out))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--samples", type=int, default=5_000_000)
    p.add_argument("--series", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=3, help="measurements of each, alternating")
    p.add_argument("--chunk-mib", type=float, help="chunk size (default: promkit's)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--bundle", help=argparse.SUPPRESS)
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
        end_ms = (int(time.time() * 1000) - 120_000) // 1000 * 1000
        t0 = time.perf_counter()
        bundle = make_bundle(work, args.series, points, end_ms)
        jsonl = work / "metrics.jsonl"
        with (
            zipfile.ZipFile(bundle) as zf,
            zf.open("metrics.jsonl") as src,
            jsonl.open("wb") as dst,
        ):
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        print(
            f"bundle: {total} samples ({args.series} series x {points}), "
            f"{bundle.stat().st_size / 1e6:.1f} MB zip, {jsonl.stat().st_size / 1e6:.1f} MB "
            f"JSON lines, built in {time.perf_counter() - t0:.1f}s"
        )
        plain: list[float] = []
        ours: list[dict[str, object]] = []
        for r in range(args.rounds):
            # a fresh, empty server for every measurement, alternating (a) and (b)
            vm = start_victoria_metrics(work / "servers", name=f"vm-plain-{r}")
            try:
                plain.append(plain_upload(vm.url, jsonl))
            finally:
                vm.stop()
            vm = start_victoria_metrics(work / "servers", name=f"vm-promkit-{r}")
            try:
                ours.append(run_child(vm.url, bundle, work / f"state-{r}", args.chunk_mib))
            finally:
                vm.stop()
    a_best, a_med = min(plain), statistics.median(plain)
    b_times = [float(str(o["seconds"])) for o in ours]
    b_best, b_med = min(b_times), statistics.median(b_times)
    b = ours[0]
    print(
        f"samples: generated={total} sent={b['samples_sent']} chunks={b['chunks']} "
        f"gzip_bytes={b['bytes_sent']:,} checksum_verified={b['checksum_verified']} "
        f"rounds={args.rounds} load={os.getloadavg()[0]:.1f}"
    )
    print(
        f"(a) plain streamed POST /api/v1/import: best {a_best:.2f}s median {a_med:.2f}s "
        f"({total / a_best:,.0f} / {total / a_med:,.0f} samples/s)"
    )
    print(
        f"(b) promkit import (upload): best {b_best:.2f}s median {b_med:.2f}s "
        f"({total / b_best:,.0f} / {total / b_med:,.0f} samples/s)"
    )
    print(
        "    of which: "
        + ", ".join(f"flags {o['flags_seconds']:.2f}s open {o['open_seconds']:.2f}s" for o in ours)
    )
    verify = ", ".join(f"{o['verify_seconds']:.1f}s verified={o['verified']}" for o in ours)
    print(f"    verification (waits for new series to become searchable): {verify}")
    print(f"ratio={a_best / b_best:.3f} (best of {args.rounds}; target >= 0.7)")
    print(f"ratio_median={a_med / b_med:.3f}")
    rss = max(float(str(o["rss_mb"])) for o in ours)
    print(f"peak_rss_mb={rss:.0f} (target < 200)")


def run_child(url: str, bundle: Path, state: Path, chunk_mib: float | None) -> dict[str, object]:
    extra = ["--chunk-mib", str(chunk_mib)] if chunk_mib else []
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            "--url",
            url,
            "--bundle",
            str(bundle),
            "--out",
            str(state),
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        raise SystemExit("import failed")
    out: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


if __name__ == "__main__":
    main()
