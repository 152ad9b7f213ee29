"""``fire run --processes 2``: real child processes share the series, one merged report."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from support.servers import VMServer

pytestmark = pytest.mark.integration

PROMKIT = str(Path(sys.executable).with_name("promkit"))


def test_fire_processes_split_and_merge(
    vm: VMServer, metric: str, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    end = int(time.time() * 1000) - 60_000
    for i in range(20):
        vm.seed(metric, {"instance": f"i{i}"}, [1.0, 2.0, 3.0], [end - 2000, end - 1000, end])
    cfg = {
        "source": {"url": vm.url},
        "target": {"url": f"{vm.url}/api/v1/write"},
        "selection": {"match": [f'{{__name__="{metric}"}}'], "window": "30m"},
        "replication": {"factor": 2},
        "timestamps": {"mode": "original"},
        "rate": {"samples_per_second": 100_000},
    }
    path = write_config(cfg)
    out = subprocess.run(
        [
            PROMKIT,
            "fire",
            "run",
            "-c",
            str(path),
            "--processes",
            "2",
            "--report",
            str(tmp_path / "r.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "2 processes" in out.stdout.splitlines()[0]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["processes"] == 2
    assert report["selection"]["selected_series"] == 20
    assert report["selection"]["skipped"] == {}
    assert report["sent"]["samples"] == 20 * 2 * 3 and report["sent"]["series"] == 40
    assert report["rate_limit_samples_per_second"] == 100_000
    vm.flush()
    rows = vm.export(
        f'{{__name__="{metric}",benchmark_replica!=""}}', start="0", end=str(int(time.time()) + 60)
    )
    assert len(rows) == 40
    assert all(r["timestamps"] == [end - 2000, end - 1000, end] for r in rows)


def test_fire_processes_refuse_caps(vm: VMServer, write_config: Callable[..., Path]) -> None:
    cfg = {
        "source": {"url": vm.url},
        "target": {"url": f"{vm.url}/api/v1/write"},
        "selection": {"max_series": 5},
    }
    out = subprocess.run(
        [PROMKIT, "fire", "run", "-c", str(write_config(cfg)), "--processes", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "--processes cannot be combined" in out.stderr
