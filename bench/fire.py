"""fire write speed against raw pre-encoded remote write, on real VictoriaMetrics (issue 6).

Starts two VictoriaMetrics (Debian package) on free loopback ports: a source seeded with
--series x --points samples (15 s step, counters and gauges) and a target. Then, in the
same run:

  (a) baseline: the same replicas (R = --replicas copies of every source series), encoded
      beforehand into snappy WriteRequests of --batch samples, POSTed over 4 connections;
      only the sending is timed;
  (b) ``promkit fire run`` (subprocess, ``burst`` mode, no rate limit, 4 senders,
      ``--processes`` as given): its report's achieved samples/s (reading, restamping,
      encoding and sending);
  (c) ``promkit fire run`` with ``rate.samples_per_second`` = --rate (one replica): the
      achieved rate against the limit (target: within 5 %).

Every run writes new series (replica label values differ per run). Prints samples/s,
``ratio=<b/a>`` (target >= 0.5) and ``rate_ratio=<achieved/limit>``.

    .venv/bin/python bench/fire.py [--series 2000] [--points 500] [--replicas 4]
"""

from __future__ import annotations

import argparse
import json
import queue
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

STEP_MS = 15_000


def seed(url: str, series: int, points: int) -> str:
    rng = random.Random(7)
    end = int(time.time() * 1000) - 120_000
    stamps = [end - (points - 1 - i) * STEP_MS for i in range(points)]
    lines: list[bytes] = []
    with httpx.Client(timeout=600) as http:
        for s in range(series):
            labels = {
                "__name__": f"fire_bench_{s % 100}",
                "job": "node",
                "instance": f"10.0.{s // 250}.{s % 250}:9100",
                "pod": f"api-{s:05d}",
            }
            if s % 2:
                v = 0.0
                values = []
                for _ in stamps:
                    v += rng.randint(0, 40)
                    values.append(v)
            else:
                values = [round(rng.random() * 1000, 4) for _ in stamps]
            lines.append(orjson.dumps({"metric": labels, "values": values, "timestamps": stamps}))
            if len(lines) >= 200:
                http.post(f"{url}/api/v1/import", content=b"\n".join(lines)).raise_for_status()
                lines.clear()
        if lines:
            http.post(f"{url}/api/v1/import", content=b"\n".join(lines)).raise_for_status()
        http.get(f"{url}/internal/force_flush").raise_for_status()
    return '{__name__=~"fire_bench_.*"}'


def pre_encoded(
    source: str, match: str, replicas: list[str], batch: int
) -> tuple[list[bytes], int]:
    """The baseline's request bodies: every replica of every source series."""
    from promkit.core.remote_write import build_body
    from promkit.core.series import Labels, Series, decode_line, iter_lines

    r = httpx.post(
        f"{source}/api/v1/export",
        data={"match[]": match, "start": "0"},
        headers={"Accept-Encoding": "identity"},
        timeout=600,
    )
    r.raise_for_status()
    now = int(time.time() * 1000)
    bodies: list[bytes] = []
    pending: list[Series] = []
    size = 0
    total = 0
    for line in iter_lines([r.content]):
        s, _ = decode_line(line)
        offset = now - s.timestamps[-1]
        ts = [t + offset for t in s.timestamps]
        for value in replicas:
            pending.append(Series(Labels({**s.labels, "bench_copy": value}), s.values, ts))
            size += len(ts)
            total += len(ts)
            if size >= batch:
                bodies.append(build_body(pending))
                pending, size = [], 0
    if pending:
        bodies.append(build_body(pending))
    return bodies, total


def send_raw(target: str, bodies: list[bytes], connections: int = 4) -> float:
    work: queue.Queue[bytes | None] = queue.Queue()
    for b in bodies:
        work.put(b)
    headers = {
        "Content-Encoding": "snappy",
        "Content-Type": "application/x-protobuf",
        "X-Prometheus-Remote-Write-Version": "0.1.0",
    }
    errors: list[int] = []

    def worker() -> None:
        with httpx.Client(timeout=60) as http:
            while True:
                try:
                    body = work.get_nowait()
                except queue.Empty:
                    return
                resp = http.post(f"{target}/api/v1/write", content=body, headers=headers)
                if resp.status_code >= 300:
                    errors.append(resp.status_code)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise SystemExit(f"baseline: {len(errors)} failed requests: {errors[:5]}")
    return elapsed


def fire(config: dict[str, object], workdir: Path, processes: int = 1) -> dict[str, object]:
    path = workdir / f"fire-{time.monotonic_ns()}.yaml"
    path.write_text(yaml.safe_dump(config))
    argv = [str(ROOT / ".venv/bin/promkit"), "fire", "run", "-c", str(path), "-q", "--json"]
    out = subprocess.run(
        [*argv, "--processes", str(processes)],
        capture_output=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"promkit fire run failed ({out.returncode}): {out.stderr.decode()}")
    report: dict[str, object] = json.loads(out.stdout)
    return report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--series", type=int, default=2000)
    p.add_argument("--points", type=int, default=500)
    p.add_argument("--replicas", type=int, default=4)
    p.add_argument("--batch", type=int, default=10_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--rate", type=float, default=100_000)
    p.add_argument("--processes", type=int, default=1, help="fire run --processes for (b)")
    args = p.parse_args()

    from support.servers import start_victoria_metrics

    with tempfile.TemporaryDirectory(prefix="fire-bench-") as tmp:
        work = Path(tmp)
        src = start_victoria_metrics(work, name="fire-source")
        dst = start_victoria_metrics(work, name="fire-target")
        try:
            match = seed(src.url, args.series, args.points)
            base: list[float] = []
            ours: list[float] = []
            for run in range(args.runs):
                values = [f"a{run}-{i}" for i in range(args.replicas)]
                bodies, total = pre_encoded(src.url, match, values, args.batch)
                base.append(total / send_raw(dst.url, bodies))
                report = fire(
                    {
                        "source": {"url": src.url},
                        "target": {"url": f"{dst.url}/api/v1/write"},
                        "selection": {"match": [match], "window": "30d"},
                        "replication": {
                            "labels": [
                                {
                                    "name": "bench_copy",
                                    "values": [f"b{run}-{i}" for i in range(args.replicas)],
                                }
                            ]
                        },
                        "timestamps": {"mode": "burst"},
                        "send": {"batch_samples": args.batch, "concurrency": 4},
                    },
                    work,
                    args.processes,
                )
                sent = report["sent"]
                assert isinstance(sent, dict) and sent["samples"] == total, (sent, total)
                ours.append(float(report["achieved_samples_per_second"]))  # type: ignore[arg-type]
                print(
                    f"run {run}: baseline {base[-1]:,.0f}/s  fire {ours[-1]:,.0f}/s  "
                    f"({total:,} samples)"
                )
            rate_report = fire(
                {
                    "source": {"url": src.url},
                    "target": {"url": f"{dst.url}/api/v1/write"},
                    "selection": {"match": [match], "window": "30d"},
                    "replication": {"labels": [{"name": "bench_copy", "values": ["rate"]}]},
                    "timestamps": {"mode": "burst"},
                    "rate": {"samples_per_second": args.rate},
                    "send": {"batch_samples": args.batch, "concurrency": 4},
                },
                work,
            )
            achieved = float(rate_report["achieved_samples_per_second"])  # type: ignore[arg-type]
        finally:
            src.stop()
            dst.stop()
    print(
        f"(a) pre-encoded remote write, 4 connections: best {max(base):,.0f} / median "
        f"{statistics.median(base):,.0f} samples/s"
    )
    print(
        f"(b) promkit fire run, burst, no limit:       best {max(ours):,.0f} / median "
        f"{statistics.median(ours):,.0f} samples/s"
    )
    print(
        f"ratio={statistics.median(ours) / statistics.median(base):.3f} "
        "(fire/baseline, target >= 0.5)"
    )
    print(f"(c) rate limit {args.rate:,.0f}/s: achieved {achieved:,.0f}/s")
    print(f"rate_ratio={achieved / args.rate:.3f} (target 0.95..1.05)")


if __name__ == "__main__":
    main()
