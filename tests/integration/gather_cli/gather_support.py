"""Helpers: run ``promkit gather`` as a subprocess, read bundles, the seeded data set."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

MIN = 60_000
STEP = 15_000
RANGE_MIN = 30
# jobs with regex metacharacters, each next to a job its unescaped regex would also match
META_JOBS = ("job.1", "job11", "a|b", "a", "x+y", "xxy")


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[bytes]:
    """``python -m promkit <args>`` with stdin closed; bytes, so stdout purity is checkable."""
    return subprocess.run(
        [sys.executable, "-m", "promkit", *args],
        capture_output=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})},
        stdin=subprocess.DEVNULL,
        check=False,
    )


def bundle_rows(path: str | Path) -> list[dict[str, Any]]:
    with zipfile.ZipFile(path) as zf:
        return [orjson.loads(x) for x in zf.read("metrics.jsonl").splitlines()]


def bundle_text(path: str | Path) -> bytes:
    """Every entry of the ZIP, decompressed and concatenated (for leak scans)."""
    with zipfile.ZipFile(path) as zf:
        return b"\n".join(zf.read(name) for name in zf.namelist())


@dataclass(frozen=True)
class Seeded:
    """What the module seeded: ``prefix``-ed jobs so other tests' series never interfere."""

    url: str
    prefix: str
    metric: str
    start_ms: int
    end_ms: int  # inclusive, the last seeded sample

    def job(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    @property
    def points(self) -> int:
        return (self.end_ms - self.start_ms) // STEP + 1

    def range_args(self) -> list[str]:
        return ["--start", str(self.start_ms // 1000), "--end", str(self.end_ms // 1000)]

    def ip(self, i: int) -> str:
        return f"10.77.{int(self.prefix[-2:], 16)}.{i + 1}"
