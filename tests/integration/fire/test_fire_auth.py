"""fire through vmauth: basic auth from a file for reading, a bearer token from the
environment for writing; refused credentials are reported without leaking the secret."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from support.vmauth import VMAuthServer

pytestmark = pytest.mark.integration


def _config(vmauth: VMAuthServer, metric: str, secret_file: Path, token_env: str) -> dict[str, Any]:
    return {
        "source": {
            "url": vmauth.tenant_base(),
            "username": vmauth.username,
            "password_file": str(secret_file),
        },
        "target": {
            "url": f"{vmauth.tenant_base()}/api/v1/write",
            "bearer_token_env": token_env,
        },
        "selection": {"match": [f'{{__name__="{metric}"}}'], "window": "30m"},
        "replication": {"labels": [{"name": "fire_auth", "values": ["1", "2"]}]},
        "timestamps": {"mode": "original"},
    }


def test_fire_reads_and_writes_through_vmauth(
    vmauth: VMAuthServer,
    metric: str,
    tmp_path: Path,
    write_config: Callable[..., Path],
    fire_cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    end = int(time.time() * 1000) - 60_000
    vmauth.vm.seed(metric, {"instance": "a"}, [1.0, 2.0], [end - 1000, end])
    secret = tmp_path / "pw"
    secret.write_text(vmauth.password + "\n")
    monkeypatch.setenv("FIRE_TEST_TOKEN", vmauth.bearer_token)
    path = write_config(_config(vmauth, metric, secret, "FIRE_TEST_TOKEN"))
    result = fire_cli("run", "-c", str(path), "-q", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["sent"]["samples"] == 4
    vmauth.vm.flush()
    rows = vmauth.vm.export(
        f'{{__name__="{metric}",fire_auth!=""}}', start="0", end=str(int(time.time()) + 60)
    )
    assert sorted(r["metric"]["fire_auth"] for r in rows) == ["1", "2"]
    assert all(r["timestamps"] == [end - 1000, end] for r in rows)


def test_fire_refused_token_fails_without_leaking_it(
    vmauth: VMAuthServer,
    metric: str,
    tmp_path: Path,
    write_config: Callable[..., Path],
    fire_cli: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    end = int(time.time() * 1000) - 60_000
    vmauth.vm.seed(metric, {"instance": "a"}, [1.0], [end])
    secret = tmp_path / "pw"
    secret.write_text(vmauth.password)
    monkeypatch.setenv("FIRE_TEST_TOKEN", "wrong-token-s3cr3t")
    cfg = _config(vmauth, metric, secret, "FIRE_TEST_TOKEN")
    cfg["send"] = {"concurrency": 1}  # both replicas in one request
    path = write_config(cfg)
    result = fire_cli("run", "-c", str(path), "-q", "--report", str(tmp_path / "r.json"))
    assert result.exit_code == 6
    assert "every one of 2 samples failed" in result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["sent"]["failures_by_status"] == {"400": 1}  # one request; 400: no retry
    assert report["sent"]["retries"] == 0
    everything = result.stdout + result.stderr + (tmp_path / "r.json").read_text()
    assert "wrong-token-s3cr3t" not in everything
    assert vmauth.password not in everything
