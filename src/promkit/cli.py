"""The ``promkit`` root command. Each tool registers its own sub-commands here."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

import typer

from promkit import __version__
from promkit.core.console import report_error, stderr
from promkit.core.errors import PromkitError

# (module, attribute, command name): the typer app each tool exposes. A tool module is
# imported only when the root command is built, never at package import time, and only the
# invoked tool is imported (the tracker alone pulls in SQLAlchemy: seconds on a busy box).
TOOL_APPS: tuple[tuple[str, str, str], ...] = (
    ("promkit.bundle.gather_cli", "app", "gather"),
    ("promkit.bundle.import_cli", "app", "import"),
    ("promkit.fire.cli", "app", "fire"),
    ("promkit.tracker.cli", "app", "tracker"),
    ("promkit.volume.cli", "app", "volume"),
)
# Single commands that are not groups: (module, function, command name).
TOOL_COMMANDS: tuple[tuple[str, str, str], ...] = (("promkit.bundle.ui_cli", "ui", "ui"),)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"promkit {__version__}")
        raise typer.Exit()


def _invoked_tool(argv: Sequence[str]) -> str | None:
    """The tool named by the first positional argument, if it is a registered one."""
    names = {name for _, _, name in (*TOOL_APPS, *TOOL_COMMANDS)}
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in names else None
    return None


def build_app(only: str | None = None) -> typer.Typer:
    """Build the root command with every registered tool, or just the tool named ``only``."""
    app = typer.Typer(
        name="promkit",
        help="Tools for Prometheus-compatible metrics stacks (VictoriaMetrics, Prometheus).",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )

    @app.callback()
    def root(
        version: bool = typer.Option(
            False, "--version", callback=_version_callback, is_eager=True, help="Show the version."
        ),
    ) -> None:
        """promkit: support bundles, bundle import, load tests, web metrics, volume backups."""

    for module, attr, name in TOOL_APPS:
        if only in (None, name):
            app.add_typer(getattr(importlib.import_module(module), attr), name=name)
    for module, attr, name in TOOL_COMMANDS:
        if only in (None, name):
            app.command(name=name)(getattr(importlib.import_module(module), attr))
    return app


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: run the CLI, turning every error into a message and an exit code."""
    args = list(argv) if argv is not None else sys.argv[1:]
    try:
        only = _invoked_tool(args)
        if only is None and "--version" in args:
            only = ""  # nothing to import just to print the version
        build_app(only=only)(args=args, prog_name="promkit")
    except PromkitError as exc:
        report_error(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        stderr.print("[yellow]interrupted[/]")
        sys.exit(130)
    except Exception as exc:  # the last line of defence against tracebacks
        if os.environ.get("PROMKIT_DEBUG"):
            raise
        stderr.print(f"[red]internal error:[/] {type(exc).__name__}: {exc}", markup=True)
        stderr.print("hint: this is a bug in promkit; rerun with PROMKIT_DEBUG=1 for a traceback")
        sys.exit(70)
