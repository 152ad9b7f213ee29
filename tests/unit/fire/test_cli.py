"""CLI argument handling that fails before any connection is made."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from promkit.core.errors import ConfigError, UsageError
from promkit.fire.cli import app


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "fire.yaml"
    path.write_text(
        yaml.safe_dump(
            {"source": {"url": "http://127.0.0.1:9"}, "target": {"url": "http://127.0.0.1:9/w"}}
        )
    )
    return path


@pytest.mark.parametrize(
    ("args", "error", "text"),
    [
        (["run", "--mode", "fast"], UsageError, "invalid --mode 'fast'"),
        (["run", "--shard", "2/2"], UsageError, "invalid --shard '2/2'"),
        (["plan", "--shard", "x"], UsageError, "invalid --shard 'x'"),
        (["cleanup"], UsageError, "pass --yes"),
    ],
)
def test_cli_rejects_bad_usage_before_connecting(
    config_path: Path, args: list[str], error: type[Exception], text: str
) -> None:
    result = CliRunner().invoke(app, [*args, "-c", str(config_path)])
    assert isinstance(result.exception, error)
    assert text in str(result.exception) or text in (result.exception.hint or "")  # type: ignore[attr-defined]
    assert result.exception.exit_code == 2  # type: ignore[attr-defined]


def test_cli_missing_config_is_config_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["plan", "-c", str(tmp_path / "missing.yaml")])
    assert isinstance(result.exception, ConfigError)


def test_cli_promfire_warnings_go_to_stderr(tmp_path: Path) -> None:
    path = tmp_path / "promfire.yaml"
    path.write_text(
        yaml.safe_dump(
            {"prometheus": {"query_url": "http://127.0.0.1:9"}, "benchmark": {"batch_size": 5}}
        )
    )
    result = CliRunner().invoke(app, ["run", "-c", str(path), "--mode", "nope"])
    assert "benchmark.batch_size is ignored" in result.stderr
    assert isinstance(result.exception, UsageError)
