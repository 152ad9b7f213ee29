"""Terminal output shared by every CLI: diagnostics on stderr, data on stdout, secrets by prompt."""

from __future__ import annotations

import os
import sys
from typing import Any

import orjson
from pydantic import SecretStr
from rich.console import Console
from rich.markup import escape

from promkit.core.errors import PromkitError, UsageError

stderr = Console(stderr=True, highlight=False)


def report_error(exc: PromkitError) -> None:
    """Print a user-facing error (and its hint) on stderr, one line each, no traceback."""
    stderr.print(f"[red]error:[/] {escape(exc.message)}")
    if exc.hint:
        stderr.print(f"[dim]hint:[/] {escape(exc.hint)}")


def print_json(data: Any) -> None:
    """Write one JSON document to stdout (for ``--json``)."""
    sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()


def read_secret(
    *, env: str | None = None, file: str | None = None, prompt: str | None = None
) -> SecretStr | None:
    """Read a secret from a file, an environment variable or an interactive prompt, never argv.

    Order: ``file`` (first line, trailing newline stripped), then ``env``, then ``prompt`` when
    stdin is a terminal. Returns ``None`` when no source gives one.
    """
    if file:
        try:
            with open(file, encoding="utf-8") as fh:
                return SecretStr(fh.readline().rstrip("\r\n"))
        except OSError as exc:
            raise UsageError(f"cannot read secret file {file}: {exc.strerror}") from None
    if env and os.environ.get(env):
        return SecretStr(os.environ[env])
    if prompt and sys.stdin.isatty():
        import getpass

        return SecretStr(getpass.getpass(f"{prompt}: "))
    return None
