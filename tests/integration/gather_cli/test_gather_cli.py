"""``promkit gather discover|sample|export`` end to end, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from support.servers import PrometheusServer

from .gather_support import META_JOBS, Seeded, bundle_rows, bundle_text, run_cli

pytestmark = pytest.mark.integration


def _json(proc: subprocess.CompletedProcess[bytes]) -> Any:
    assert proc.returncode == 0, proc.stderr.decode()
    return orjson.loads(proc.stdout)


def _export(seeded: Seeded, tmp_path: Path, *args: str) -> dict[str, Any]:
    proc = run_cli(
        "gather",
        "export",
        "--url",
        seeded.url,
        *seeded.range_args(),
        "--json",
        *args,
        cwd=tmp_path,
    )
    result: dict[str, Any] = _json(proc)
    return result


def _jobs(rows: list[dict[str, Any]]) -> set[str]:
    return {r["metric"].get("job", "") for r in rows}


# ---------------------------------------------------------------------------- discover


def test_gather_discover_lists_components_with_instances(seeded: Seeded, tmp_path: Path) -> None:
    data = _json(
        run_cli(
            "gather", "discover", "--url", seeded.url, *seeded.range_args(), "--json", cwd=tmp_path
        )
    )
    found = {
        job["job"]: comp["component"]
        for comp in data["components"]
        for job in comp["jobs"]
        if job["job"].startswith(seeded.prefix)
    }
    assert found == {seeded.job("vmstorage-prod"): "vmstorage", seeded.job("ins"): "vminsert"}
    jobs = {j["job"]: j for c in data["components"] for j in c["jobs"]}
    assert jobs[seeded.job("ins")]["instances"] == 1
    assert jobs[seeded.job("ins")]["series_estimate"] == 2


def test_gather_discover_selector_lists_its_jobs(seeded: Seeded, tmp_path: Path) -> None:
    data = _json(
        run_cli(
            "gather",
            "discover",
            "--url",
            seeded.url,
            *seeded.range_args(),
            "--selector",
            seeded.metric,
            "--json",
            cwd=tmp_path,
        )
    )
    assert data["components"] == []
    assert sorted(j["job"] for j in data["jobs"]) == sorted(seeded.job(j) for j in META_JOBS)
    assert all(j["instances"] == 1 and j["series_estimate"] == 1 for j in data["jobs"])


def test_gather_discover_text_table(seeded: Seeded, tmp_path: Path) -> None:
    proc = run_cli("gather", "discover", "--url", seeded.url, *seeded.range_args(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr.decode()
    assert seeded.job("vmstorage-prod").encode() in proc.stdout


# ---------------------------------------------------------------------------- sample


def test_gather_sample_obfuscated_at_end_of_range(seeded: Seeded, tmp_path: Path) -> None:
    jobs = [seeded.job("a|b"), seeded.job("x+y")]
    data = _json(
        run_cli(
            "gather",
            "sample",
            "--url",
            seeded.url,
            *seeded.range_args(),
            "--selector",
            seeded.metric,
            "--job",
            jobs[0],
            "--job",
            jobs[1],
            "--obfuscate",
            "--json",
            cwd=tmp_path,
        )
    )
    assert data["count"] == 2 and data["obfuscated"] and data["source"] == "query"
    assert data["at_ms"] == seeded.end_ms
    for s in data["samples"]:
        assert s["metric_name"] == seeded.metric
        assert s["labels"]["instance"].startswith("777.777.")
        assert s["labels"]["job"].startswith("service-job-")
        assert s["timestamp"] == seeded.end_ms
    assert sorted(s["value"] for s in data["samples"]) == [3.0, 5.0]
    raw = json.dumps(data)
    assert f"{seeded.prefix}-" not in raw and "10.77." not in raw


def test_gather_sample_names_equal_the_bundle(seeded: Seeded, tmp_path: Path) -> None:
    args = ["--selector", seeded.metric, "--obfuscate", "--drop-label", "nothing"]
    preview = _json(
        run_cli(
            "gather",
            "sample",
            "--url",
            seeded.url,
            *seeded.range_args(),
            *args,
            "--limit",
            "3",
            "--json",
            cwd=tmp_path,
        )
    )
    result = _export(seeded, tmp_path, *args)
    bundle = {tuple(sorted(r["metric"].items())) for r in bundle_rows(result["bundle_path"])}
    assert preview["count"] == 3
    for s in preview["samples"]:
        key = tuple(sorted({"__name__": s["metric_name"], **s["labels"]}.items()))
        assert key in bundle


def test_gather_sample_limit_and_empty_selection(seeded: Seeded, tmp_path: Path) -> None:
    data = _json(
        run_cli(
            "gather",
            "sample",
            "--url",
            seeded.url,
            *seeded.range_args(),
            "--selector",
            seeded.metric,
            "--limit",
            "4",
            "--json",
            cwd=tmp_path,
        )
    )
    assert data["count"] == 4
    proc = run_cli(
        "gather",
        "sample",
        "--url",
        seeded.url,
        *seeded.range_args(),
        "--selector",
        f"{seeded.metric}_missing",
        cwd=tmp_path,
    )
    assert proc.returncode == 7
    assert b"matched no series" in proc.stderr and b"Traceback" not in proc.stderr


# ---------------------------------------------------------------------------- export modes


def test_gather_export_cluster_components_bundle_verifies(seeded: Seeded, tmp_path: Path) -> None:
    result = _export(
        seeded,
        tmp_path,
        "--component",
        "vmstorage",
        "--obfuscate",
        "--save-mapping",
        "mapping.json",
        "--output",
        "out",
    )
    rows = bundle_rows(result["bundle_path"])
    mapping = json.loads((tmp_path / "mapping.json").read_text())
    # the component may hold vmstorage jobs of other tests; ours must be in, vminsert out
    assert seeded.job("vmstorage-prod") in mapping["jobs"]
    assert seeded.job("ins") not in mapping["jobs"]
    assert all(j.startswith("vmstorage-job-") for j in _jobs(rows))
    bundle = Path(result["bundle_path"])
    assert bundle.parent == (tmp_path / "out").resolve()
    check = subprocess.run(
        ["sha256sum", "-c", Path(result["sha256_path"]).name],
        cwd=bundle.parent,
        capture_output=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert not (tmp_path / "out" / ".staging").exists()  # cleaned after success
    text = bundle_text(bundle)
    assert f"{seeded.prefix}-".encode() not in text
    assert seeded.ip(20).encode() not in text  # not even inside the flag value


@pytest.mark.parametrize("name", ["job.1", "a|b", "x+y"])
@pytest.mark.parametrize("mode", ["cluster", "selector"])
def test_gather_export_regex_metachar_job_exactly_its_series(
    seeded: Seeded, tmp_path: Path, name: str, mode: str
) -> None:
    job = seeded.job(name)
    sel = ["--selector", seeded.metric] if mode == "selector" else []
    result = _export(seeded, tmp_path, "--mode", mode, *sel, "--job", job)
    rows = bundle_rows(result["bundle_path"])
    assert _jobs(rows) == {job}
    assert result["counts"]["series"] == 1
    assert result["counts"]["samples"] == seeded.points
    assert result["source_api"] == "export"


def test_gather_export_query_mode_with_step(seeded: Seeded, tmp_path: Path) -> None:
    query = f'sum by (job) ({seeded.metric}{{job=~"{seeded.prefix}-x.*"}})'
    result = _export(seeded, tmp_path, "--query", query, "--step", "60s")
    assert result["source_api"] == "query_range"
    rows = bundle_rows(result["bundle_path"])
    assert _jobs(rows) == {seeded.job("x+y"), seeded.job("xxy")}
    stamps = sorted({t for r in rows for t in r["timestamps"]})
    assert stamps == list(range(seeded.start_ms, seeded.end_ms + 1, 60_000))


def test_gather_export_stdout_is_only_json_lines(seeded: Seeded, tmp_path: Path) -> None:
    proc = run_cli(
        "gather",
        "export",
        "--url",
        seeded.url,
        *seeded.range_args(),
        "--selector",
        seeded.metric,
        "--job",
        seeded.job("a"),
        "--stdout",
        "--verbose",
        "--json",
        "--obfuscate",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    lines = proc.stdout.splitlines()
    assert lines
    samples = 0
    for line in lines:
        row = orjson.loads(line)
        assert set(row) == {"metric", "values", "timestamps"}
        samples += len(row["timestamps"])
    assert samples == seeded.points
    assert b"/api/v1/export" in proc.stderr  # --verbose logs go to stderr only
    assert b'"samples"' in proc.stderr  # and so does the --json summary
    assert not list(tmp_path.iterdir())  # no bundle, no staging


# ---------------------------------------------------------------------------- config files


def test_gather_config_unknown_key_is_a_clear_error(seeded: Seeded, tmp_path: Path) -> None:
    config = {
        "connection": {"url": seeded.url},
        "jobs": [seeded.job("a")],
        "obfuscation": {"enabled": True, "bogus": 1},
    }
    (tmp_path / "export.json").write_text(json.dumps(config))
    proc = run_cli("gather", "export", "--config", "export.json", cwd=tmp_path)
    assert proc.returncode == 2
    assert b"obfuscation.bogus: unknown key" in proc.stderr
    assert b"Traceback" not in proc.stderr
    assert not (tmp_path / "exports").exists()


def test_gather_config_file_with_flag_overrides(seeded: Seeded, tmp_path: Path) -> None:
    config = {
        "connection": {"url": "http://127.0.0.1:9"},  # overridden by --url
        "time_range": {"start": seeded.start_ms / 1000, "end": seeded.end_ms / 1000},
        "mode": "selector",
        "selector": seeded.metric,
        "jobs": [seeded.job("job.1")],
        "batching": {"window": "10m"},
    }
    (tmp_path / "export.json").write_text(json.dumps(config))
    proc = run_cli(
        "gather",
        "export",
        "--config",
        "export.json",
        "--url",
        seeded.url,
        "--output",
        "b",
        "--json",
        cwd=tmp_path,
    )
    result = _json(proc)
    assert result["windows"] == 3
    assert _jobs(bundle_rows(result["bundle_path"])) == {seeded.job("job.1")}


def test_gather_config_vmgather_oneshot_accepted(seeded: Seeded, tmp_path: Path) -> None:
    def rfc3339(ms: int) -> str:
        import datetime as dt

        return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    config = {
        "connection": {
            "url": seeded.url,
            "api_base_path": "",
            "tenant_id": "",
            "is_multitenant": False,
            "full_api_url": "",
            "skip_tls_verify": False,
            "debug": False,
            "auth": {
                "type": "none",
                "username": "",
                "password": "",
                "token": "",
                "header_name": "",
                "header_value": "",
            },
        },
        "time_range": {"start": rfc3339(seeded.start_ms), "end": rfc3339(seeded.end_ms)},
        "components": [],
        "jobs": [seeded.job("x+y")],
        "mode": "cluster",
        "query_type": "",
        "query": "",
        "obfuscation": {
            "enabled": True,
            "obfuscate_instance": True,
            "obfuscate_job": True,
            "preserve_structure": True,
            "custom_labels": [],
            "drop_labels": [],
        },
        "batching": {"enabled": True, "strategy": "auto", "custom_interval_seconds": 0},
        "staging_dir": "",
        "staging_file": "",
        "resume_from_batch": 0,
        "metric_step_seconds": 0,
        "output_settings": {"format": "jsonl", "compression": "zip", "archive_name": ""},
    }
    (tmp_path / "oneshot.json").write_text(json.dumps(config))
    proc = run_cli("gather", "export", "--config", "oneshot.json", "--json", cwd=tmp_path)
    result = _json(proc)
    assert b"note: output_settings" in proc.stderr
    rows = bundle_rows(result["bundle_path"])
    assert result["counts"]["samples"] == seeded.points
    assert f"{seeded.prefix}-".encode() not in bundle_text(result["bundle_path"])
    assert {r["metric"]["instance"] for r in rows} == {"777.777.1.1:9100"}


# ---------------------------------------------------------------------------- errors, resume


def test_gather_export_empty_selection_is_an_error(seeded: Seeded, tmp_path: Path) -> None:
    nothing = run_cli("gather", "export", "--url", seeded.url, *seeded.range_args(), cwd=tmp_path)
    assert nothing.returncode == 2
    assert b"refusing to export every series" in nothing.stderr
    missing = run_cli(
        "gather",
        "export",
        "--url",
        seeded.url,
        *seeded.range_args(),
        "--job",
        seeded.job("no-such-job"),
        cwd=tmp_path,
    )
    assert missing.returncode == 7
    assert b"matched no samples" in missing.stderr
    component = run_cli(
        "gather",
        "export",
        "--url",
        seeded.url,
        *seeded.range_args(),
        "--component",
        "vmgateway",
        cwd=tmp_path,
    )
    assert component.returncode == 2
    exports = tmp_path / "exports"
    assert not exports.exists() or not any(exports.iterdir())  # no bundle, no staging left


def test_gather_export_resume_equals_uninterrupted(seeded: Seeded, tmp_path: Path) -> None:
    args = ["--selector", seeded.metric, "--obfuscate", "--window", "5m"]
    stopped = run_cli(
        "gather",
        "export",
        "--url",
        seeded.url,
        *seeded.range_args(),
        *args,
        "--cancel-after-windows",
        "2",
        cwd=tmp_path,
    )
    assert stopped.returncode == 130, stopped.stderr.decode()
    hint = [ln for ln in stopped.stderr.decode().splitlines() if "--resume " in ln]
    assert hint, stopped.stderr.decode()
    staging = hint[0].rsplit("--resume ", 1)[1].strip()
    assert (tmp_path / staging / "checkpoint.json").is_file()
    resumed = run_cli("gather", "export", "--resume", staging, "--json", cwd=tmp_path)
    result = _json(resumed)
    progress = [ln for ln in resumed.stderr.decode().splitlines() if "window " in ln]
    done = [tuple(map(int, ln.split("window ")[1].split(",")[0].split("/"))) for ln in progress]
    assert done and done[0][0] == 3 and done[-1][0] == done[-1][1] == result["windows"] == 6
    assert all(d <= t for d, t in done)
    full = _export(seeded, tmp_path, *args, "--output", "full")
    assert result["counts"] == full["counts"]
    assert sorted(map(orjson.dumps, bundle_rows(result["bundle_path"]))) == sorted(
        map(orjson.dumps, bundle_rows(full["bundle_path"]))
    )
    assert not (tmp_path / staging).exists()


def test_gather_export_secret_from_env_and_never_argv(seeded: Seeded, tmp_path: Path) -> None:
    proc = run_cli(
        "gather",
        "export",
        "--url",
        seeded.url,
        *seeded.range_args(),
        "--job",
        seeded.job("a"),
        "--bearer-token-env",
        "GC_TOKEN",
        "--stdout",
        cwd=tmp_path,
        env={"GC_TOKEN": "tok-should-not-print"},
    )
    assert proc.returncode == 0, proc.stderr.decode()  # VM ignores the token
    assert b"tok-should-not-print" not in proc.stdout + proc.stderr
    unset = run_cli(
        "gather",
        "sample",
        "--url",
        seeded.url,
        "--job",
        "x",
        "--password-env",
        "GC_UNSET",
        "--username",
        "u",
        cwd=tmp_path,
    )
    assert unset.returncode == 2 and b"GC_UNSET is not set" in unset.stderr


# ---------------------------------------------------------------------------- Prometheus


def test_gather_prometheus_fallback_sample_and_export(
    prometheus: PrometheusServer, tmp_path: Path
) -> None:
    prometheus.wait_for('up{job="prometheus"}')
    rng = ["--start", "now-5m", "--end", "now"]
    sample = _json(
        run_cli(
            "gather",
            "sample",
            "--url",
            prometheus.url,
            *rng,
            "--selector",
            "up",
            "--job",
            "prometheus",
            "--obfuscate",
            "--json",
            cwd=tmp_path,
        )
    )
    assert sample["count"] == 1
    assert sample["samples"][0]["labels"]["job"] == "prometheus-job-1"
    query = _json(
        run_cli(
            "gather",
            "sample",
            "--url",
            prometheus.url,
            *rng,
            "--query",
            'sum by (job) (up{job="prometheus"})',
            "--json",
            cwd=tmp_path,
        )
    )
    assert query["count"] == 1
    proc = run_cli(
        "gather",
        "export",
        "--url",
        prometheus.url,
        *rng,
        "--selector",
        'up{job="prometheus"}',
        "--step",
        "15s",
        "--json",
        cwd=tmp_path,
    )
    result = _json(proc)
    assert result["source_api"] == "query_range"
    rows = bundle_rows(result["bundle_path"])
    stamps = [t for r in rows for t in r["timestamps"]]
    assert stamps and len(stamps) == len(set(stamps))


def test_gather_export_resume_state_holds_no_secret(seeded: Seeded, tmp_path: Path) -> None:
    env = {"GC_PW": "pw-should-stay-in-env"}
    auth = ["--username", "support", "--password-env", "GC_PW"]
    args = ["--selector", seeded.metric, "--window", "10m", *auth]
    stopped = run_cli("gather", "export", "--url", seeded.url, *seeded.range_args(), *args,
                      "--cancel-after-windows", "1", cwd=tmp_path, env=env)  # fmt: skip
    assert stopped.returncode == 130
    (staging,) = (tmp_path / "exports" / ".staging").iterdir()
    for path in staging.iterdir():
        assert b"pw-should-stay-in-env" not in path.read_bytes(), path
    refused = run_cli("gather", "export", "--resume", staging.name, cwd=tmp_path)
    assert refused.returncode == 2 and b"secret is not stored" in refused.stderr
    resumed = run_cli("gather", "export", "--resume", staging.name, "--password-env", "GC_PW",
                      "--json", cwd=tmp_path, env=env)  # fmt: skip
    assert orjson.loads(resumed.stdout)["windows"] == 3, resumed.stderr.decode()


def test_gather_export_stdout_into_a_closed_pipe_stops_quietly(
    seeded: Seeded, tmp_path: Path
) -> None:
    cmd = [
        sys.executable,
        "-m",
        "promkit",
        "gather",
        "export",
        "--url",
        seeded.url,
        *seeded.range_args(),
        "--selector",
        seeded.metric,
        "--window",
        "1m",
        "--stdout",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141
    assert b"Traceback" not in err and b"internal error" not in err


def test_gather_prometheus_discover_lists_scrape_jobs(
    prometheus: PrometheusServer, tmp_path: Path
) -> None:
    prometheus.wait_for('up{job="prometheus"}')
    rng = ["--start", "now-5m", "--end", "now"]
    found = _json(
        run_cli("gather", "discover", "--url", prometheus.url, *rng, "--json", cwd=tmp_path)
    )
    assert found["components"] == []  # no vm_app_version: the scrape jobs of `up` instead
    assert [j["job"] for j in found["jobs"]] == ["prometheus"]
