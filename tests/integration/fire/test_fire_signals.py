"""Ctrl-C on a real ``promkit fire run`` process: in-flight work ends, the summary prints."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from support.servers import VMServer

pytestmark = pytest.mark.integration

PROMKIT = str(Path(sys.executable).with_name("promkit"))


def test_fire_sigint_prints_summary_and_exits_130(
    vm: VMServer, metric: str, write_config: Callable[..., Path]
) -> None:
    end = int(time.time() * 1000) - 60_000
    vm.seed(
        metric,
        {"instance": "a"},
        [float(i) for i in range(10)],
        [end - (9 - i) * 200 for i in range(10)],
    )
    cfg: dict[str, Any] = {
        "source": {"url": vm.url},
        "target": {"url": f"{vm.url}/api/v1/write"},
        "selection": {"match": [f'{{__name__="{metric}"}}'], "window": "30m"},
        "timestamps": {"mode": "realtime", "duration": "10m"},
    }
    proc = subprocess.Popen(
        [PROMKIT, "fire", "run", "-c", str(write_config(cfg))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline().decode()  # "fire: 1 series x 1 replicas -> ..."
        assert first.startswith("fire: 1 series x 1 replicas")
        progress = proc.stderr.readline().decode()  # the first live progress line
        assert progress.startswith("sent ")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err.decode()
    text = out.decode()
    assert text.startswith("fire INTERRUPTED")
    assert "samples/s achieved" in text
    assert "interrupted" in err.decode()
    vm.flush()
    rows = vm.export(
        f'{{__name__="{metric}",benchmark_replica="replica-0"}}',
        start="0",
        end=str(int(time.time()) + 60),
    )
    assert len(rows) == 1 and len(rows[0]["timestamps"]) >= 2  # what was sent before ^C landed
