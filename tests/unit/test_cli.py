"""The root command: tool registration, error mapping and exit codes."""

from __future__ import annotations

import sys

import pytest
import typer

from promkit import cli
from promkit.core.errors import AuthError


def test_cli_version_imports_no_tool(capsys: pytest.CaptureFixture[str]) -> None:
    before = {m for m in sys.modules if m.startswith("promkit.tracker")}
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code in (0, None)
    assert capsys.readouterr().out.startswith("promkit ")
    assert {m for m in sys.modules if m.startswith("promkit.tracker")} == before


@pytest.mark.parametrize(
    ("argv", "tool"),
    [
        (["gather", "validate"], "gather"),
        (["--json", "volume", "list"], "volume"),
        (["ui", "--no-browser"], "ui"),
        (["nosuch"], None),
        (["--help"], None),
    ],
)
def test_cli_invoked_tool_is_the_first_positional(argv: list[str], tool: str | None) -> None:
    assert cli._invoked_tool(argv) == tool


def test_cli_every_registered_tool_builds() -> None:
    app = cli.build_app()
    names = {g.name for g in app.registered_groups} | {c.name for c in app.registered_commands}
    assert names == {name for _, _, name in (*cli.TOOL_APPS, *cli.TOOL_COMMANDS)}


def test_cli_promkit_error_becomes_message_hint_and_exit_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    boom = typer.Typer()

    @boom.command()
    def go() -> None:
        raise AuthError("credentials refused by http://vm:8428", hint="check the password")

    @boom.command()
    def other() -> None:
        pass

    monkeypatch.setattr(cli, "TOOL_APPS", (("promkit.cli", "_test_app", "boom"),))
    monkeypatch.setattr(cli, "TOOL_COMMANDS", ())
    monkeypatch.setattr(cli, "_test_app", boom, raising=False)
    with pytest.raises(SystemExit) as exc:
        cli.main(["boom", "go"])
    assert exc.value.code == AuthError.exit_code
    err = capsys.readouterr().err
    assert "error: credentials refused by http://vm:8428" in err
    assert "hint: check the password" in err
    assert "Traceback" not in err


def test_cli_unexpected_exception_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    boom = typer.Typer()

    @boom.command()
    def go() -> None:
        raise ZeroDivisionError("division by zero")

    @boom.command()
    def other() -> None:
        pass

    monkeypatch.delenv("PROMKIT_DEBUG", raising=False)
    monkeypatch.setattr(cli, "TOOL_APPS", (("promkit.cli", "_test_app", "boom"),))
    monkeypatch.setattr(cli, "TOOL_COMMANDS", ())
    monkeypatch.setattr(cli, "_test_app", boom, raising=False)
    with pytest.raises(SystemExit) as exc:
        cli.main(["boom", "go"])
    assert exc.value.code == 70
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError" in err
    assert "Traceback" not in err


def test_version_literal_matches_the_installed_metadata() -> None:
    from importlib.metadata import version

    import promkit

    assert promkit.__version__ == version("promkit")
