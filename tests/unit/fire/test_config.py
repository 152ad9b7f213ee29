"""The fire config schema: strict keys, durations, env overrides, secrets, PromFire keys."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from promkit.core.errors import ConfigError
from promkit.fire.config import load_config, parse_config
from promkit.fire.duration import format_duration, parse_duration, parse_instant

BASE = {
    "source": {"url": "http://127.0.0.1:8428"},
    "target": {"url": "http://127.0.0.1:8428/api/v1/write"},
}


def cfg(extra: dict | None = None, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    data = {**BASE, **(extra or {})}
    return parse_config(data, env=env or {}).config


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90m", 5400), ("1h30m", 5400), ("1.5h", 5400), ("250ms", 0.25), (45, 45), ("2d", 172800)],
)
def test_parse_duration_accepts_units(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5x", "m5", "-3s", "1h 30", True])
def test_parse_duration_rejects_garbage(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_duration_is_short() -> None:
    assert format_duration(5400) == "1h30m"
    assert format_duration(0.25) == "250ms"


def test_parse_instant_forms() -> None:
    assert parse_instant("now", now=1000.0) == 1000.0
    assert parse_instant("now-90s", now=1000.0) == 910.0
    assert parse_instant("2024-01-01T00:00:00Z", now=0) == 1704067200.0
    assert parse_instant("2024-01-01T00:00:00", now=0) == 1704067200.0
    assert parse_instant(1704067200, now=0) == 1704067200.0


def test_config_unknown_key_is_error_with_path() -> None:
    with pytest.raises(ConfigError) as exc:
        cfg({"selection": {"exlude": ["up"]}})
    assert "selection.exlude: unknown key" in exc.value.message
    assert exc.value.hint


def test_config_durations_and_defaults() -> None:
    c = cfg({"selection": {"window": "90m"}, "timestamps": {"mode": "realtime", "duration": "2m"}})
    assert c.selection.window == 5400
    assert c.timestamps.duration == 120
    assert c.send.concurrency == 4
    assert c.rate.samples_per_second is None


def test_config_bad_regex_names_the_key() -> None:
    with pytest.raises(ConfigError) as exc:
        cfg({"selection": {"include": ["node_("]}})
    assert "selection.include" in exc.value.message


def test_config_env_override_wins_and_is_typed() -> None:
    c = cfg(
        {"rate": {"samples_per_second": 10}},
        env={
            "PROMKIT_FIRE__RATE__SAMPLES_PER_SECOND": "2500.5",
            "PROMKIT_FIRE__SEND__CONCURRENCY": "8",
        },
    )
    assert c.rate.samples_per_second == 2500.5
    assert c.send.concurrency == 8


def test_config_env_override_unknown_key_is_error() -> None:
    with pytest.raises(ConfigError) as exc:
        cfg(env={"PROMKIT_FIRE__SEND__BOGUS": "1"})
    assert "send.bogus: unknown key" in exc.value.message


def test_config_url_with_credentials_is_refused() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({**BASE, "target": {"url": "http://u:secret@host/api/v1/write"}}, env={})
    assert "secret" not in exc.value.message


def test_config_password_comes_from_env_or_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_text("s3cr3t\n")
    c = cfg(
        {
            "source": {"url": "http://h:1", "username": "u", "password_file": str(secret_file)},
            "target": {"url": "http://h:2/api/v1/write", "bearer_token_env": "FIRE_TOKEN"},
        }
    )
    monkeypatch.setenv("FIRE_TOKEN", "tok")
    pw = c.source.password()
    token = c.target.bearer_token()
    assert pw is not None and pw.get_secret_value() == "s3cr3t"
    assert token is not None and token.get_secret_value() == "tok"
    assert "s3cr3t" not in repr(c)


def test_config_clear_password_key_is_unknown() -> None:
    with pytest.raises(ConfigError) as exc:
        cfg({"source": {"url": "http://h:1", "password": "clear"}})
    assert "source.password: unknown key" in exc.value.message
    assert "clear" not in exc.value.message


def test_config_replication_factor_above_combinations_is_error() -> None:
    with pytest.raises(ConfigError) as exc:
        cfg({"replication": {"factor": 5, "labels": [{"name": "r", "values": ["a", "b"]}]}})
    assert "exceeds the 2 label combinations" in exc.value.message


@pytest.mark.parametrize("name", ["__name__", "1abc", "a-b", "__x"])
def test_config_replication_label_name_must_be_usable(name: str) -> None:
    with pytest.raises(ConfigError):
        cfg({"replication": {"labels": [{"name": name, "values": ["a"]}]}})


def test_config_replication_label_values_nonempty_unique() -> None:
    for values in ([""], ["a", "a"], []):
        with pytest.raises(ConfigError):
            cfg({"replication": {"labels": [{"name": "r", "values": values}]}})


def test_load_config_reports_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml", env={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("source: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad, env={})


def test_selection_window_end_capped_at_now() -> None:
    c = cfg({"selection": {"end": 5000, "window": "100s"}})
    assert c.selection.resolve_window(now=1000.0) == (900.0, 1000.0)
    c2 = cfg({"selection": {"start": "now-1h", "end": "now-2h"}})
    with pytest.raises(ConfigError, match="window is empty"):
        c2.selection.resolve_window(now=100_000.0)


def test_examples_load(monkeypatch: pytest.MonkeyPatch) -> None:
    examples = sorted(Path(__file__).parents[3].joinpath("examples").glob("fire*.yaml"))
    assert examples, "examples/fire*.yaml missing"
    for path in examples:
        loaded = load_config(path, env={})
        assert loaded.config.target.url.startswith("http")


# ----------------------------------------------------------------- PromFire compatibility

PROMFIRE = """
prometheus:
  query_url: http://localhost:9090
  remote_write_url: http://localhost:9090/api/v1/write
benchmark:
  replication_factor: 4
  query_range_hours: 0.1
  query_step_seconds: 15
  samples_per_second: 30000
  batch_size: 100
replication_labels:
  - name: region
    values: [a, b, c]
  - name: env
    values: [x, y]
exclude_metrics: ["up", "prometheus_.*"]
log_level: WARN
"""


def test_promfire_config_translates() -> None:
    loaded = parse_config(yaml.safe_load(PROMFIRE), env={})
    c = loaded.config
    assert c.source.url == "http://localhost:9090"
    assert c.target.url == "http://localhost:9090/api/v1/write"
    assert c.selection.window == pytest.approx(360)  # 0.1 h: PromFire itself cannot load this
    assert c.rate.samples_per_second == 30000
    assert c.replication.factor == 4
    assert [label.name for label in c.replication.labels] == ["region", "env"]
    assert c.log_level == "warning"
    assert any("query_step_seconds" in w for w in loaded.warnings)
    assert any("batch_size" in w for w in loaded.warnings)


def test_promfire_exclude_stays_unanchored() -> None:
    import re

    c = parse_config(yaml.safe_load(PROMFIRE), env={}).config
    patterns = [re.compile(p) for p in c.selection.exclude]
    assert any(p.fullmatch("prometheus_sd_updates_total") for p in patterns)  # 'up' inside
    assert not any(p.fullmatch("node_load1") for p in patterns)


def test_promfire_defaults_and_zero_means_default() -> None:
    c = parse_config(
        {"benchmark": {"replication_factor": 0, "query_range_hours": 0}}, env={}
    ).config
    assert c.source.url == "http://localhost:9090"
    assert c.replication.factor == 2
    assert c.selection.window == 24 * 3600
    assert c.replication.effective_labels()[0].values == ["replica-0", "replica-1"]


def test_promfire_empty_benchmark_instance_is_filled() -> None:
    loaded = parse_config(
        {
            "benchmark": {"replication_factor": 3},
            "replication_labels": [{"name": "benchmark_instance", "values": []}, {"name": "z"}],
        },
        env={},
    )
    labels = loaded.config.replication.labels
    assert [(x.name, x.values) for x in labels] == [
        ("benchmark_instance", ["bench-1", "bench-2", "bench-3"])
    ]
    assert any("z" in w and "dropped" in w for w in loaded.warnings)


def test_promfire_unknown_key_in_section_is_error() -> None:
    with pytest.raises(ConfigError, match=r"benchmark\.replicas: unknown key"):
        parse_config({"benchmark": {"replicas": 2}}, env={})


def test_config_password_without_username_is_error() -> None:
    with pytest.raises(ConfigError, match="need a username"):
        cfg({"target": {"url": "http://h:2/api/v1/write", "password_env": "X"}})


def test_config_basic_and_bearer_together_is_error() -> None:
    with pytest.raises(ConfigError, match="not both"):
        cfg({"target": {"url": "http://h:2/w", "username": "u", "bearer_token_env": "T"}})


def test_config_headers_from_env_and_tenant(monkeypatch: pytest.MonkeyPatch) -> None:
    c = cfg(
        {
            "target": {
                "url": "http://h:2/api/v1/write",
                "headers": {"X-Team": "sre"},
                "headers_env": {"X-Api-Key": "FIRE_KEY"},
                "tenant": "42",
            }
        }
    )
    with pytest.raises(ConfigError, match="FIRE_KEY"):
        c.target.all_headers()
    monkeypatch.setenv("FIRE_KEY", "k3y")
    assert c.target.all_headers() == {"X-Team": "sre", "X-Api-Key": "k3y", "X-Scope-OrgID": "42"}


def test_promfire_and_native_key_for_the_same_setting_is_error() -> None:
    with pytest.raises(ConfigError, match="set twice"):
        parse_config(
            {"benchmark": {"samples_per_second": 10}, "rate": {"samples_per_second": 20}}, env={}
        )
