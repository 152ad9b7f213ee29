"""tracker ingestion speed against a bare endpoint measured in the same run (issue 7).

Starts, each as its own uvicorn process with one worker on a free loopback port:

  (a) baseline: a bare FastAPI app whose ``POST /ingest`` reads the body and answers ``{}``;
  (b) baseline_asgi: the same as a raw ASGI callable (no framework at all), on stock uvicorn;
  (b') baseline_asgi_same_server: that callable on the server ``promkit tracker serve`` runs
      (uvicorn with promkit's protocol: coalesced writes, lazy keep-alive timer; the bare
      callable has no direct routes), so a server effect shows;
  (c) ``promkit tracker serve`` (SQLite, write-behind store, the per-key ingestion rate limit
      on but out of reach), with a user, three metric definitions and an API key created
      over HTTP; ``POST /api/v1/metrics`` with ``X-API-Key`` and a 10-sample batch (counter,
      gauge, histogram; a few label sets). Ingestion is answered inside the HTTP protocol
      (``core/http_server`` direct routes) once the key is cached.

Load comes from ``wrk`` (a separate process; Debian package ``wrk``) with the same body,
threads, connections and duration for every target. Prints requests/s and p99 latency per
target, ``ratio=<tracker/fastapi>``, ``ratio_asgi=<tracker/raw ASGI>`` (the issue's target:
>= 0.5), ``ratio_asgi_same_server`` and ``p99_ms=<tracker p99>`` (target < 30). Fails if the
tracker answered anything but 200.

    .venv/bin/python bench/tracker_ingest.py [--rounds 5] [--duration 4] [--connections 16]

Targets are measured in interleaved rounds (after one warm-up round) and the medians are
compared, so background load on a shared machine affects every target alike.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx
import orjson

BASELINE_APP = """
from fastapi import FastAPI, Request

app = FastAPI()


@app.post("/ingest")
async def ingest(request: Request) -> dict:
    await request.body()
    return {}


async def raw(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b"{}"})
"""

CONFIGS = [
    {"name": "views", "metric_name": "page_views", "metric_type": "counter",
     "labels": [{"name": "page"}]},
    {"name": "queue", "metric_name": "cart_items", "metric_type": "gauge"},
    {"name": "load", "metric_name": "page_load_time", "metric_type": "histogram",
     "labels": [{"name": "page"}]},
]  # fmt: skip


def batch() -> bytes:
    items = []
    for i in range(10):
        page = f"/p{i % 4}"
        if i % 3 == 0:
            items.append({"name": "page_views", "value": 1, "labels": {"page": page}})
        elif i % 3 == 1:
            items.append({"name": "cart_items", "value": i, "operation": "set"})
        else:
            items.append({"name": "page_load_time", "value": 120 + i, "labels": {"page": page}})
    return orjson.dumps({"metrics": items})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited early:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    sys.exit(f"server not ready: {url}")


def start(argv: list[str], env: dict[str, str], log: Path, ready: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    wait_ready(ready, proc, log)
    return proc


def run_wrk(url: str, body: bytes, headers: dict[str, str], args: argparse.Namespace,
            work: Path) -> tuple[float, float, int]:  # fmt: skip
    """(requests/s, p99 ms, non-2xx count) of one wrk run."""
    script = work / "post.lua"
    header_lines = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {orjson.dumps(body.decode()).decode()}\n"
        'wrk.headers["Content-Type"] = "application/json"\n' + header_lines
    )
    out = subprocess.run(
        ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s",
         "--latency", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    assert m, out
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rps, p99, int(bad.group(1)) if bad else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=4, help="seconds per wrk round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per target")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    body = batch()
    procs: list[subprocess.Popen[bytes]] = []
    targets: dict[str, tuple[str, dict[str, str]]] = {}
    with tempfile.TemporaryDirectory(prefix="tracker-bench-") as tmp:
        work = Path(tmp)
        (work / "bench_baseline.py").write_text(textwrap.dedent(BASELINE_APP))
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROMKIT_TRACKER_")}
        try:
            baselines = (
                ("baseline_fastapi", "app", "'auto'"),
                ("baseline_asgi", "raw", "'auto'"),
                ("baseline_asgi_same_server", "raw", "DirectRouteHttpProtocol"),
            )
            for name, target, protocol in baselines:
                port = free_port()
                argv = [sys.executable, "-c",
                        "import sys, uvicorn; sys.path.insert(0, sys.argv[1]); "
                        "from promkit.core.http_server import DirectRouteHttpProtocol; "
                        f"uvicorn.run('bench_baseline:{target}', http={protocol}, "
                        "host='127.0.0.1', port=int(sys.argv[2]), access_log=False, "
                        "log_level='warning')",
                        str(work), str(port)]  # fmt: skip
                procs.append(start(argv, env, work / f"{name}.log", f"http://127.0.0.1:{port}/"))
                targets[name] = (f"http://127.0.0.1:{port}/ingest", {})
            port = free_port()
            tracker_env = {
                **env,
                "PROMKIT_TRACKER_DATABASE_URL": f"sqlite:///{work / 'tracker.db'}",
                "PROMKIT_TRACKER_JWT_SECRET": "b" * 64,
                # The per-key limit stays on (counted on every request, as in production),
                # set high enough that the load never reaches it.
                "PROMKIT_TRACKER_INGEST_RATE_LIMIT": "1000000000",
                "PROMKIT_TRACKER_AUTH_RATE_LIMIT": "0",
            }
            argv = [sys.executable, "-m", "promkit", "tracker", "serve", "--port", str(port)]
            base = f"http://127.0.0.1:{port}"
            procs.append(start(argv, tracker_env, work / "tracker.log", f"{base}/health"))
            targets["tracker_ingest"] = (f"{base}/api/v1/metrics", setup_tracker(base, body))
            # Interleaved rounds: the machine's background load hits every target alike.
            runs: dict[str, list[tuple[float, float, int]]] = {name: [] for name in targets}
            for round_no in range(args.rounds + 1):
                for name, (url, headers) in targets.items():
                    result = run_wrk(url, body, headers, args, work)
                    if round_no:  # round 0 warms up
                        runs[name].append(result)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(10)
    medians = {}
    for name, results in runs.items():
        rps = statistics.median(r[0] for r in results)
        p99 = statistics.median(r[1] for r in results)
        bad = sum(r[2] for r in results)
        medians[name] = (rps, p99, bad)
        print(f"{name}: rps={rps:.0f} p99_ms={p99:.2f} non2xx={bad} "
              f"(rounds: {', '.join(f'{r[0]:.0f}' for r in results)})")  # fmt: skip
    tracker_rps, tracker_p99, tracker_bad = medians["tracker_ingest"]
    print(f"batch_samples=10 connections={args.connections} rounds={args.rounds}x{args.duration}s")
    print(f"ratio={tracker_rps / medians['baseline_fastapi'][0]:.3f}")
    print(f"ratio_asgi={tracker_rps / medians['baseline_asgi'][0]:.3f}")
    same_server = tracker_rps / medians["baseline_asgi_same_server"][0]
    print(f"ratio_asgi_same_server={same_server:.3f}")
    print(f"p99_ms={tracker_p99:.2f}")
    if tracker_bad:
        sys.exit(f"the tracker answered {tracker_bad} non-2xx responses")


def setup_tracker(base: str, body: bytes) -> dict[str, str]:
    """A user, the metric definitions and an API key; the ingestion headers."""
    creds = {"email": "bench@example.com", "password": "bench password"}
    httpx.post(f"{base}/api/v1/auth/signup", json=creds, timeout=30).raise_for_status()
    token = httpx.post(f"{base}/api/v1/auth/signin", json=creds, timeout=30).json()
    auth = {"Authorization": f"Bearer {token['data']['accessToken']}"}
    for config in CONFIGS:
        httpx.post(f"{base}/api/v1/metric-configs", json=config, headers=auth).raise_for_status()
    key = httpx.post(f"{base}/api/v1/api-keys", json={}, headers=auth).json()["data"]
    headers = {"X-API-Key": key["api_key"]}
    check = httpx.post(f"{base}/api/v1/metrics", content=body, headers=headers)
    assert check.status_code == 200 and check.json()["data"]["processed"] == 10, check.text
    return headers


if __name__ == "__main__":
    main()
