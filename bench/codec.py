"""Codec speed: VM JSON lines and remote-write encoding, against plain-library baselines.

Data like /api/v1/export output: N series x M samples, 15 s step, 5 labels, half counters
(integers) and half gauges (4-decimal floats), about 21 bytes per sample.

    .venv/bin/python bench/codec.py [--lines 2000] [--points 1000] [--runs 3]

Each row prints best/median of --runs and `ratio=<ours/baseline>` as a throughput ratio
(>1 means promkit is faster than the baseline):
- decode+encode: decode_line + encode_series vs orjson.loads + orjson.dumps per line;
- rewrite labels: rewrite_metric (metric object only) vs orjson.loads, rewrite every label
  value, orjson.dumps (what an obfuscator would do with a full parse);
- rewrite labels, windows: MetricRewriter.counted (cached rewrite + point count, as the
  export runs it) over the same lines seen again, as in a later export window, vs
  rewrite_metric per line;
- remote write: encode_write_request + snappy vs the protobuf (upb) runtime filling a
  WriteRequest built from a descriptor at runtime + snappy.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import cramjam
import orjson
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from promkit.core.remote_write_pb import compress, encode_write_request
from promkit.core.series import MetricRewriter, decode_line, encode_series, rewrite_metric

MAP = {"prod": "env-1", "eu-west-1": "region-1", "api": "job-1"}


def make_lines(n_lines: int, n_points: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    end = int(time.time() * 1000) - 60_000
    ts = [end - (n_points - 1 - i) * 15_000 for i in range(n_points)]
    out = []
    for i in range(n_lines):
        metric = {
            "__name__": f"perf_metric_{i % 100}",
            "job": "api",
            "instance": f"10.0.{i // 250}.{i % 250}:9100",
            "env": "prod",
            "region": "eu-west-1",
            "pod": f"api-{i:05d}",
        }
        if i % 2:
            acc, values = 0, []
            for _ in range(n_points):
                acc += rng.randrange(0, 50)
                values.append(acc)
        else:
            values = [round(rng.uniform(0, 1000), 4) for _ in range(n_points)]
        out.append(orjson.dumps({"metric": metric, "values": values, "timestamps": ts}))
    return out


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def report(
    name: str, units: float, unit: str, ours: tuple[float, float], base: tuple[float, float]
) -> None:
    print(
        f"{name}: ours {units / ours[0]:,.0f} / {units / ours[1]:,.0f} {unit}/s (best/median), "
        f"baseline {units / base[0]:,.0f} / {units / base[1]:,.0f} {unit}/s; "
        f"ratio={base[1] / ours[1]:.2f}"
    )


def write_request_class() -> Any:
    f = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(
        name="bench_rw.proto", package="bench", syntax="proto3"
    )
    specs = {
        "Label": [("name", f.TYPE_STRING, ""), ("value", f.TYPE_STRING, "")],
        "Sample": [("value", f.TYPE_DOUBLE, ""), ("timestamp", f.TYPE_INT64, "")],
        "TimeSeries": [
            ("labels", f.TYPE_MESSAGE, ".bench.Label"),
            ("samples", f.TYPE_MESSAGE, ".bench.Sample"),
        ],
        "WriteRequest": [("timeseries", f.TYPE_MESSAGE, ".bench.TimeSeries")],
    }
    for name, fields in specs.items():
        m = fdp.message_type.add(name=name)
        for number, (fname, ftype, tname) in enumerate(fields, 1):
            label = f.LABEL_REPEATED if tname else f.LABEL_OPTIONAL
            fd = m.field.add(name=fname, number=number, type=ftype, label=label)
            if tname:
                fd.type_name = tname
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("bench.WriteRequest"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    lines = make_lines(args.lines, args.points)
    mb = sum(len(x) + 1 for x in lines) / 1e6
    samples = args.lines * args.points
    print(f"data: {args.lines} lines x {args.points} samples = {samples:,} samples, {mb:.1f} MB")

    def ours_full() -> None:
        for line in lines:
            encode_series(decode_line(line)[0])

    def base_full() -> None:
        for line in lines:
            orjson.dumps(orjson.loads(line))

    o, b = timed(ours_full, args.runs), timed(base_full, args.runs)
    report("decode+encode", args.lines, "lines", o, b)
    print(f"decode+encode: ours {mb / o[1]:.0f} MB/s, baseline {mb / b[1]:.0f} MB/s (median)")

    def rewrite(metric: dict[str, str]) -> dict[str, str]:
        return {k: MAP.get(v, v) for k, v in metric.items()}

    def ours_rewrite() -> None:
        for line in lines:
            rewrite_metric(line, rewrite)

    def base_rewrite() -> None:
        for line in lines:
            obj = orjson.loads(line)
            obj["metric"] = rewrite(obj["metric"])
            orjson.dumps(obj)

    o, b = timed(ours_rewrite, args.runs), timed(base_rewrite, args.runs)
    report("rewrite labels", args.lines, "lines", o, b)
    print(f"rewrite labels: ours {mb / o[1]:.0f} MB/s, baseline {mb / b[1]:.0f} MB/s (median)")

    rewriter = MetricRewriter(rewrite)
    for line in lines:  # the first window fills the cache
        rewriter.counted(line)

    def ours_window() -> None:
        for line in lines:
            rewriter.counted(line)

    o, b = timed(ours_window, args.runs), timed(ours_rewrite, args.runs)
    report("rewrite labels, later windows (MetricRewriter)", args.lines, "lines", o, b)

    inf_lines = [
        x.replace(b'"values":[', b'"values":[+Inf,NaN,', 1).replace(
            b'"timestamps":[', b'"timestamps":[1,2,', 1
        )
        for x in lines[:200]
    ]
    o = timed(lambda: [decode_line(x) for x in inf_lines], args.runs)
    rate = len(inf_lines) / o[1]
    print(f"decode with bare +Inf/NaN tokens (slow path): {rate:,.0f} lines/s (median)")

    series = [decode_line(x)[0] for x in lines]
    per_request = max(1, 10_000 // args.points)
    batches = [series[i : i + per_request] for i in range(0, len(series), per_request)]
    write_request = write_request_class()

    def ours_rw() -> None:
        for batch in batches:
            compress(encode_write_request(batch))

    def base_rw() -> None:
        for batch in batches:
            msg = write_request()
            for s in batch:
                ts = msg.timeseries.add()
                for k, v in sorted(s.labels.items()):
                    ts.labels.add(name=k, value=v)
                for v, t in zip(s.values, s.timestamps, strict=True):
                    ts.samples.add(value=v, timestamp=t)
            bytes(cramjam.snappy.compress_raw(msg.SerializeToString()))

    o, b = timed(ours_rw, args.runs), timed(base_rw, args.runs)
    report("remote write encode+snappy", samples, "samples", o, b)


if __name__ == "__main__":
    main()
