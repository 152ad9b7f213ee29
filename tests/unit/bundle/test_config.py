"""The export request schema: strict keys with paths, vmgather's oneshot config, → ExportSpec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from promkit.bundle.config import (
    ExportRequest,
    from_vmgather,
    is_vmgather_config,
    load_config,
    parse_request,
    to_export_spec,
)
from promkit.core.connection import AuthType
from promkit.core.errors import ConfigError, UsageError

BASE: dict[str, Any] = {
    "connection": {"url": "http://127.0.0.1:8428"},
    "time_range": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z"},
    "jobs": ["vmstorage-prod"],
}

# The oneshot config of vmgather's README / ExportConfig, every field present.
VMGATHER: dict[str, Any] = {
    "connection": {
        "url": "http://127.0.0.1:8428",
        "api_base_path": "",
        "tenant_id": "",
        "is_multitenant": False,
        "full_api_url": "",
        "auth": {
            "type": "basic",
            "username": "support",
            "password": "s3cret-pw",
            "token": "",
            "header_name": "",
            "header_value": "",
        },
        "skip_tls_verify": False,
        "debug": False,
    },
    "time_range": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z"},
    "components": ["vmstorage"],
    "jobs": ["vmstorage-prod"],
    "mode": "cluster",
    "query_type": "",
    "query": "",
    "obfuscation": {
        "enabled": True,
        "obfuscate_instance": True,
        "obfuscate_job": False,
        "preserve_structure": True,
        "custom_labels": ["pod"],
        "drop_labels": ["path"],
    },
    "batching": {"enabled": True, "strategy": "custom", "custom_interval_seconds": 10},
    "staging_dir": "",
    "staging_file": "",
    "resume_from_batch": 0,
    "metric_step_seconds": 0,
    "output_settings": {"format": "jsonl", "compression": "zip", "archive_name": ""},
}


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(base))
    return copy | changes


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (with_(BASE, jobz=["a"]), "jobz"),
        (with_(BASE, connection={"url": "http://x", "passwd": "p"}), "connection.passwd"),
        (
            with_(BASE, connection={"url": "http://x", "auth": {"type": "basic", "pw": "p"}}),
            "connection.auth.pw",
        ),
        (
            with_(BASE, obfuscation={"enabled": True, "obfuscate_ip": True}),
            "obfuscation.obfuscate_ip",
        ),
        (with_(BASE, time_range={"start": "now-1h", "stop": "now"}), "time_range.stop"),
    ],
)
def test_config_unknown_key_is_error_with_path(data: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_request(data)
    assert f"{path}: unknown key" in info.value.message
    assert info.value.hint


def test_config_missing_connection_named() -> None:
    with pytest.raises(ConfigError, match="connection: required key is missing"):
        parse_request({"jobs": ["a"]})


def test_config_not_an_object() -> None:
    with pytest.raises(ConfigError, match="expected a JSON object"):
        parse_request(["a"])


def test_config_bad_window_and_step() -> None:
    with pytest.raises(ConfigError) as info:
        parse_request(with_(BASE, batching={"window": "5s"}, step="-1s"))
    assert "batching.window" in info.value.message
    assert "step" in info.value.message


def test_config_secret_never_in_error_or_repr() -> None:
    data = with_(
        BASE, connection={"url": "http://x", "auth": {"type": "bearer", "token": "tok-XYZ"}}
    )
    data["bogus"] = 1
    with pytest.raises(ConfigError) as info:
        parse_request(data)
    assert "tok-XYZ" not in str(info.value)
    data.pop("bogus")
    req = parse_request(data)
    assert "tok-XYZ" not in repr(req)
    assert "tok-XYZ" not in req.model_dump_json()


def test_config_to_spec_ms_inclusive_range_and_settings() -> None:
    req = parse_request(
        with_(
            BASE,
            step="60s",
            batching={"window": "10m"},
            obfuscation={"enabled": True, "custom_labels": ["pod", "pod"], "drop_labels": ["x"]},
        )
    )
    spec = to_export_spec(req)
    assert (spec.start_ms, spec.end_ms) == (1767225600000, 1767229200000)
    assert spec.jobs == ["vmstorage-prod"]
    assert spec.step_ms == 60_000
    assert spec.window_ms == 600_000
    assert spec.obfuscation.enabled
    assert spec.obfuscation.custom_labels == ("pod",)
    assert spec.obfuscation.drop_labels == ("x",)


def test_config_relative_and_epoch_times() -> None:
    req = parse_request(with_(BASE, time_range={"start": "now-1h", "end": 1767229200}))
    start, end = req.time_range.to_ms(now_ms=1767229200000)
    assert (start, end) == (1767225600000, 1767229200000)


def test_config_range_backwards_is_error() -> None:
    req = parse_request(with_(BASE, time_range={"start": "now", "end": "now-1h"}))
    with pytest.raises(UsageError, match="ends before it starts"):
        to_export_spec(req)


def test_config_batching_disabled_means_one_window_per_day_at_most() -> None:
    req = parse_request(with_(BASE, batching={"enabled": False}))
    assert to_export_spec(req).window_ms == 3_600_001


def test_config_empty_cluster_selection_refused() -> None:
    req = parse_request(with_(BASE, jobs=[]))
    with pytest.raises(UsageError, match="refusing to export every series"):
        to_export_spec(req)


def test_vmgather_detected_and_converted() -> None:
    assert is_vmgather_config(VMGATHER)
    assert not is_vmgather_config(BASE)
    req, notes = from_vmgather(VMGATHER)
    assert req.connection.url == "http://127.0.0.1:8428"
    assert req.connection.api_base_path is None
    assert req.connection.auth.type is AuthType.BASIC
    assert req.mode == "cluster"
    assert req.obfuscation.enabled and req.obfuscation.instance and not req.obfuscation.job
    assert req.obfuscation.custom_labels == ["pod"]
    assert req.obfuscation.drop_labels == ["path"]
    assert req.batching.window == 30.0  # 10 s clamped to the 30 s minimum, as vmgather does
    assert req.step is None
    assert any("custom_interval_seconds" in n for n in notes)
    spec = to_export_spec(req)
    assert spec.window_ms == 30_000


@pytest.mark.parametrize(
    ("query_type", "mode", "field"),
    [("selector", "selector", "selector"), ("metricsql", "query", "query")],
)
def test_vmgather_custom_mode(query_type: str, mode: str, field: str) -> None:
    data = with_(VMGATHER, mode="custom", query_type=query_type, query='up{job="a"}', jobs=[])
    data["metric_step_seconds"] = 60
    req, _ = from_vmgather(data)
    assert req.mode == mode
    assert getattr(req, field) == 'up{job="a"}'
    assert req.step_ms() == 60_000


def test_vmgather_batching_disabled_is_honoured() -> None:
    req, _ = from_vmgather(with_(VMGATHER, batching={"enabled": False}))
    assert not req.batching.enabled


def test_vmgather_unknown_key_still_error() -> None:
    with pytest.raises(ConfigError, match="frobnicate: unknown key"):
        from_vmgather(with_(VMGATHER, frobnicate=True))


def test_vmgather_full_api_url_wins() -> None:
    conn = dict(VMGATHER["connection"], full_api_url="http://127.0.0.1:8481/select/0/prometheus")
    req, _ = from_vmgather(with_(VMGATHER, connection=conn))
    assert req.connection.url == "http://127.0.0.1:8481/select/0/prometheus"


def test_load_config_file_both_formats(tmp_path: Path) -> None:
    ours = tmp_path / "ours.json"
    ours.write_text(json.dumps(BASE))
    req, notes = load_config(ours)
    assert isinstance(req, ExportRequest) and notes == []
    theirs = tmp_path / "vmgather.json"
    theirs.write_text(json.dumps(VMGATHER))
    req, notes = load_config(theirs)
    assert req.obfuscation.instance and notes


def test_load_config_bad_json_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{ nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.json")


@pytest.mark.parametrize("value", [1.8e305, -1e308, 10**400])
def test_config_absurd_numeric_step_or_window_is_a_config_error(value: float) -> None:
    with pytest.raises(ConfigError, match="out of range"):
        parse_request(with_(BASE, step=value))
    with pytest.raises(ConfigError, match="out of range"):
        parse_request(with_(BASE, batching={"window": value}))
