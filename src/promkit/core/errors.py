"""The promkit error tree.

Every error a user can meet is a ``PromkitError``: it carries a one-line message, an
optional hint saying what to do next, a process exit code for the CLI and an HTTP status
for the web apps. The CLI prints ``error: <message>`` and ``hint: <hint>`` without a
traceback; the web apps answer ``{"error": ..., "hint": ...}`` with ``http_status``.
Anything that escapes as another exception type is a bug.

    PromkitError                      exit 1   HTTP 500
    ├── UsageError                    exit 2   HTTP 400  bad flags, bad request body
    │   └── ConfigError               exit 2   HTTP 400  invalid config file / settings
    ├── ConnectError                  exit 3   HTTP 502  server unreachable, DNS, TLS, timeout
    ├── AuthError                     exit 4   HTTP 401  credentials refused (401/403)
    ├── NotFoundError                 exit 5   HTTP 404  a bundle, job, backup, user... is missing
    ├── UpstreamError                 exit 6   HTTP 502  the TSDB / storage answered with an error
    │   └── UnsupportedError          exit 6   HTTP 502  the server lacks an API we need
    ├── DataError                     exit 7   HTTP 422  corrupt or foreign input, bad values
    │   └── IntegrityError            exit 7   HTTP 422  checksum / authentication tag mismatch
    ├── ConflictError                 exit 8   HTTP 409  target not empty, job already running
    └── CanceledError                 exit 130 HTTP 409  the user canceled the operation
"""

from __future__ import annotations

from typing import Any, ClassVar


class PromkitError(Exception):
    """Base of every user-facing error."""

    exit_code: ClassVar[int] = 1
    http_status: ClassVar[int] = 500
    default_hint: ClassVar[str | None] = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def to_dict(self) -> dict[str, Any]:
        """The JSON body the web apps answer with."""
        return {"error": self.message, "hint": self.hint, "kind": type(self).__name__}

    def __str__(self) -> str:
        return self.message


class UsageError(PromkitError):
    exit_code = 2
    http_status = 400


class ConfigError(UsageError):
    pass


class ConnectError(PromkitError):
    exit_code = 3
    http_status = 502


class AuthError(PromkitError):
    exit_code = 4
    http_status = 401
    default_hint = "Check the username/password, token or header value."


class NotFoundError(PromkitError):
    exit_code = 5
    http_status = 404


class UpstreamError(PromkitError):
    exit_code = 6
    http_status = 502


class UnsupportedError(UpstreamError):
    pass


class DataError(PromkitError):
    exit_code = 7
    http_status = 422


class IntegrityError(DataError):
    pass


class ConflictError(PromkitError):
    exit_code = 8
    http_status = 409


class CanceledError(PromkitError):
    exit_code = 130
    http_status = 409


ALL_ERRORS: tuple[type[PromkitError], ...] = (
    PromkitError,
    UsageError,
    ConfigError,
    ConnectError,
    AuthError,
    NotFoundError,
    UpstreamError,
    UnsupportedError,
    DataError,
    IntegrityError,
    ConflictError,
    CanceledError,
)

__all__ = [
    "ALL_ERRORS",
    "AuthError",
    "CanceledError",
    "ConfigError",
    "ConflictError",
    "ConnectError",
    "DataError",
    "IntegrityError",
    "NotFoundError",
    "PromkitError",
    "UnsupportedError",
    "UpstreamError",
    "UsageError",
]
