"""``promkit import preflight|run`` end to end against real VictoriaMetrics and vmauth."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from promkit.cli import build_app
from promkit.core.errors import PromkitError
from support.servers import VMAuthServer, VMServer

pytestmark = pytest.mark.integration

MIN = 60_000
Points = dict[tuple[tuple[str, str], ...], list[tuple[int, Any]]]


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


def promkit(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run the root CLI in-process; a PromkitError maps to its exit code as in ``main``."""
    result = CliRunner().invoke(build_app(), list(args), env=env, catch_exceptions=True)
    exc = result.exception
    if isinstance(exc, PromkitError):
        return Result(exc.exit_code, result.stdout, f"error: {exc.message} hint: {exc.hint}")
    if exc is not None and not isinstance(exc, SystemExit):
        raise exc
    return Result(result.exit_code, result.stdout, result.stderr)


def _bundle(tmp_path: Path, name: str, first: int, series: int = 20) -> Path:
    path = tmp_path / "b.jsonl"
    path.write_bytes(
        b"".join(
            orjson.dumps(
                {
                    "metric": {"__name__": name, "i": str(i), "pod": "p-1"},
                    "values": list(range(10)),
                    "timestamps": [first + k * MIN for k in range(10)],
                }
            )
            + b"\n"
            for i in range(series)
        )
    )
    return path


def test_import_cli_preflight_json_reads_target_flags(
    vm_factory: Callable[..., VMServer], tmp_path: Path
) -> None:
    target = vm_factory("-retentionPeriod=1")
    now = int(time.time() * 1000)
    path = _bundle(tmp_path, "cli_pre_" + uuid.uuid4().hex[:6], now - 3 * 31 * 86_400_000)
    res = promkit("import", "preflight", str(path), "--url", target.url, "--json")
    assert res.exit_code == 0, res.stderr
    report = orjson.loads(res.stdout)
    assert report["target"]["retention_source"] == "flag"
    assert report["target"]["retention_ms"] == 31 * 86_400_000
    assert report["samples_outside_retention"] == 200
    assert report["suggested_shift"] == "now"
    human = promkit("import", "preflight", str(path), "--url", target.url, "--shift", "now")
    assert human.exit_code == 0
    assert "0 samples would be dropped" in human.stdout


def test_import_cli_run_through_vmauth_with_env_token(
    vmauth: VMAuthServer,
    tmp_path: Path,
    export_points: Callable[..., Points],
) -> None:
    name = "cli_run_" + uuid.uuid4().hex[:6]
    first = int(time.time() * 1000) - 3 * 86_400_000
    path = _bundle(tmp_path, name, first)
    res = promkit(
        "import",
        "run",
        str(path),
        "--url",
        vmauth.tenant_base(1011),
        "--bearer-token-env",
        "IMPORT_TOKEN",
        "--shift",
        "now",
        "--add-label",
        "source=support",
        "--drop-label",
        "pod",
        "--state-dir",
        str(tmp_path / "state"),
        "--json",
        env={"IMPORT_TOKEN": vmauth.bearer_token},
    )
    assert res.exit_code == 0, res.stderr
    assert vmauth.bearer_token not in res.stdout + res.stderr
    out = orjson.loads(res.stdout)
    assert out["verification"]["verified"] is True
    assert out["samples_sent"] == 200
    expected = [(first + k * MIN + out["shift_ms"], k) for k in range(10)]
    # VictoriaMetrics makes just-ingested rows searchable asynchronously (CI once saw a
    # series short of its newest point right after the import): wait a little for the
    # exact, complete answer.
    deadline = time.monotonic() + 15
    while True:
        got = export_points(vmauth.vm.url, name)
        if all(points == expected for points in got.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert sorted(got) == [
        (("__name__", name), ("i", i), ("source", "support")) for i in sorted(map(str, range(20)))
    ]
    assert {k: v for k, v in got.items() if v != expected} == {}


def test_import_cli_run_resumes_after_a_rejected_chunk(
    vm_factory: Callable[..., VMServer],
    tmp_path: Path,
    fault_proxy: Callable[..., Any],
    export_points: Callable[..., Points],
) -> None:
    target = vm_factory()
    name = "cli_resume_" + uuid.uuid4().hex[:6]
    path = _bundle(tmp_path, name, int(time.time() * 1000) - 3600_000, series=80)
    proxy = fault_proxy(target.url, lambda n: 400 if n == 2 else None)
    args = ["import", "run", str(path), "--url", proxy.url, "--chunk-mib", "0.002"]
    args += ["--state-dir", str(tmp_path / "state")]
    first = promkit(*args)
    assert first.exit_code == 7, first.stderr  # DataError: the server refused the data
    second = promkit(*args)
    assert second.exit_code == 0, second.stderr
    assert "resumed" in second.stdout
    got = export_points(target.url, name)
    assert len(got) == 80
    assert all(len(points) == 10 for points in got.values())  # nothing twice, nothing lost


def test_import_cli_bad_inputs_have_clear_errors(tmp_path: Path) -> None:
    foreign = tmp_path / "photo.jpg"
    foreign.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 64)
    res = promkit("import", "preflight", str(foreign))
    assert res.exit_code == 7 and "not a metrics bundle" in res.stderr
    missing = promkit("import", "preflight", str(tmp_path / "nope.zip"))
    assert missing.exit_code == 5
    path = _bundle(tmp_path, "x", 0)
    bad_shift = promkit(
        "import", "run", str(path), "--url", "http://127.0.0.1:1", "--shift", "soon"
    )
    assert bad_shift.exit_code == 2 and "shift" in bad_shift.stderr
    bad_label = promkit(
        "import", "run", str(path), "--url", "http://127.0.0.1:1", "--add-label", "nolabel"
    )
    assert bad_label.exit_code == 2
