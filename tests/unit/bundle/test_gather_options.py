"""Flags and ``--config`` → one ``ExportRequest``: precedence, mode inference, secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promkit.bundle.gather_options import ConnFlags, Selection, build_request
from promkit.core.connection import AuthType
from promkit.core.errors import ConfigError, UsageError


def _write(tmp_path: Path, data: object) -> str:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_options_url_is_required() -> None:
    with pytest.raises(UsageError, match="no server URL"):
        build_request(ConnFlags(), Selection(job=["a"]))


@pytest.mark.parametrize(
    ("sel", "mode"),
    [
        (Selection(job=["a"]), "cluster"),
        (Selection(selector="up"), "selector"),
        (Selection(query="sum(up)"), "query"),
        (Selection(selector="up", mode="cluster", job=["a"]), "cluster"),
    ],
)
def test_options_mode_inferred_from_flags(sel: Selection, mode: str) -> None:
    request, notes = build_request(ConnFlags(url="http://127.0.0.1:8428"), sel)
    assert request.mode == mode and notes == []


def test_options_flags_override_the_config(tmp_path: Path) -> None:
    config = {
        "connection": {
            "url": "http://config.invalid:8428",
            "auth": {"type": "basic", "username": "u", "password": "from-file"},
        },
        "time_range": {"start": "now-2h", "end": "now-1h"},
        "mode": "selector",
        "selector": "up",
        "jobs": ["config-job"],
        "obfuscation": {"enabled": True, "custom_labels": ["pod"]},
        "batching": {"enabled": True, "window": "10m"},
    }
    sel = Selection(
        config=_write(tmp_path, config),
        end="now-30m",
        job=["flag-job"],
        obfuscate=False,
        drop_label=["path"],
        batching={"window": "5m"},
    )
    request, _ = build_request(ConnFlags(url="http://127.0.0.1:8428", timeout=5), sel)
    assert request.connection.url == "http://127.0.0.1:8428"
    assert request.connection.timeout_seconds == 5
    assert request.connection.auth.type is AuthType.BASIC  # kept: no auth flag given
    assert request.time_range.start == "now-2h" and request.time_range.end == "now-30m"
    assert request.mode == "selector" and request.jobs == ["flag-job"]
    assert not request.obfuscation.enabled
    assert request.obfuscation.custom_labels == ["pod"]
    assert request.obfuscation.drop_labels == ["path"]
    assert request.batching.window == "5m" and request.batching.enabled


def test_options_auth_flags_replace_config_auth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GO_TOKEN", "tok-from-env")
    config = {"connection": {"url": "http://127.0.0.1:8428"}, "jobs": ["a"]}
    sel = Selection(config=_write(tmp_path, config))
    request, _ = build_request(ConnFlags(bearer_token_env="GO_TOKEN"), sel)
    auth = request.connection.auth
    assert auth.type is AuthType.BEARER
    assert auth.token is not None and auth.token.get_secret_value() == "tok-from-env"
    assert "tok-from-env" not in repr(request)


def test_options_config_errors_name_the_key(tmp_path: Path) -> None:
    config = {"connection": {"url": "http://127.0.0.1:8428"}, "jobz": ["a"]}
    with pytest.raises(ConfigError, match="jobz: unknown key"):
        build_request(ConnFlags(), Selection(config=_write(tmp_path, config)))


def test_options_vmgather_config_with_notes(tmp_path: Path) -> None:
    config = {
        "connection": {"url": "http://127.0.0.1:8428", "full_api_url": "", "debug": False},
        "mode": "custom",
        "query_type": "selector",
        "query": "up",
        "jobs": ["a"],
        "staging_file": "x.partial.jsonl",
    }
    request, notes = build_request(ConnFlags(), Selection(config=_write(tmp_path, config)))
    assert request.mode == "selector" and request.selector == "up" and request.jobs == ["a"]
    assert any("staging_file" in n for n in notes)
