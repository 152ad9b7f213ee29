"""Local web UI helpers shared by every promkit console.

The threat model: the console runs on the user's machine with the user's credentials to
their metrics stack. A hostile web page open in the same browser must not be able to drive
it (CSRF), read from it through a rebound DNS name (DNS rebinding), or inject script through
server data (XSS, handled by the page rendering everything as text). So:

- it binds 127.0.0.1 unless ``--allow-remote`` says otherwise (and then it warns);
- every request must carry a ``Host`` we serve under, and an ``Origin`` (when the browser
  sends one) that is exactly our own; ``Sec-Fetch-Site: cross-site`` is refused;
- every ``/api`` call except the health probe carries a per-process session token that the
  page receives inside the HTML it loads (a cross-origin page cannot read that HTML);
- errors are JSON ``{"error", "hint"}`` from one handler; request-validation errors never
  echo the submitted values (they may be passwords).

Listening (loopback bind, free-port fallback, uvicorn on the bound socket, opening the
browser) lives in ``promkit.core.listen``; its names are re-exported here.
"""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
import mimetypes
import secrets
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, SecretStr
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from promkit.core.errors import PromkitError
from promkit.core.listen import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    BoundSocket,
    ListenAddress,
    bind_listen_socket,
    browser_url,
    can_open_browser,
    check_remote,
    open_browser,
    parse_listen_address,
    serve,
)

TOKEN_HEADER = "X-Promkit-Token"  # noqa: S105 (a header name)
TOKEN_PLACEHOLDER = "__PROMKIT_SESSION_TOKEN__"  # noqa: S105 (a marker in index.html)
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})

# Defence in depth for the HTML we serve: only our own scripts, styles and API.
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


# --------------------------------------------------------------------------- request policy


def new_session_token() -> SecretStr:
    return SecretStr(secrets.token_urlsafe(32))


@dataclass(frozen=True)
class LocalUIPolicy:
    """Which Host/Origin values and which token the console accepts."""

    port: int
    token: SecretStr = field(default_factory=new_session_token)
    extra_hosts: frozenset[str] = frozenset()
    public_paths: frozenset[str] = frozenset({"/api/health"})

    @classmethod
    def for_address(
        cls, address: ListenAddress, *, token: SecretStr | None = None
    ) -> LocalUIPolicy:
        """The policy for a console bound to ``address``.

        Loopback names are always accepted; a non-loopback bind also accepts its own IP, the
        machine's host names and (for a wildcard bind) the machine's addresses.
        """
        extra: set[str] = set()
        ip = ipaddress.ip_address(address.host)
        if not ip.is_loopback:
            if not ip.is_unspecified:
                extra.add(address.host)
            extra.update(_machine_names(include_addresses=ip.is_unspecified))
        return cls(
            port=address.port,
            token=token or new_session_token(),
            extra_hosts=frozenset(h.lower() for h in extra),
        )

    @property
    def hosts(self) -> frozenset[str]:
        return LOOPBACK_NAMES | self.extra_hosts

    def host_allowed(self, host_header: str) -> bool:
        host, port = _split_host_port(host_header)
        return host is not None and host in self.hosts and port in (self.port, None)

    def origin_allowed(self, origin: str) -> bool:
        scheme, sep, rest = origin.partition("://")
        if not sep or scheme.lower() not in ("http", "https") or "/" in rest:
            return False
        host, port = _split_host_port(rest)
        return host is not None and host in self.hosts and port == self.port

    def token_valid(self, presented: str | None) -> bool:
        if not presented:
            return False
        return hmac.compare_digest(presented.encode(), self.token.get_secret_value().encode())


def _split_host_port(value: str) -> tuple[str | None, int | None]:
    """``h:p`` / ``[v6]:p`` / ``h`` → (lower-cased host, port or None); (None, None) if bad."""
    value = value.strip().lower()
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep:
            return None, None
        port_text = rest[1:] if rest.startswith(":") else ("" if not rest else "x")
    else:
        host, _, port_text = value.partition(":")
    if not host:
        return None, None
    if not port_text:
        return host, None
    if not port_text.isdigit():
        return None, None
    return host, int(port_text)


def _machine_names(*, include_addresses: bool) -> set[str]:
    names = {socket.gethostname(), socket.getfqdn()}
    if include_addresses:
        for name in list(names):
            try:
                infos = socket.getaddrinfo(name, None)
            except OSError:
                continue
            names.update(str(info[4][0]) for info in infos)
    return {n for n in names if n}


class LocalUIGuard:
    """ASGI middleware enforcing a ``LocalUIPolicy`` on every HTTP request."""

    def __init__(self, app: ASGIApp, policy: LocalUIPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        denial = self._check(scope)
        if denial is None:
            await self.app(scope, receive, send)
            return
        status, body = denial
        await JSONResponse(body, status_code=status)(scope, receive, send)

    def _check(self, scope: Scope) -> tuple[int, dict[str, Any]] | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if not self.policy.host_allowed(headers.get("host", "")):
            return 403, _body(
                "request refused: unexpected Host header",
                f"open the console at http://127.0.0.1:{self.policy.port}/",
            )
        origin = headers.get("origin")
        if origin is not None and not self.policy.origin_allowed(origin):
            return 403, _body(
                "request refused: it comes from another web site",
                f"open the console at http://127.0.0.1:{self.policy.port}/",
            )
        if headers.get("sec-fetch-site", "same-origin") in ("cross-site", "same-site"):
            return 403, _body("request refused: cross-site request", None)
        path: str = scope["path"]
        is_api = path == "/api" or path.startswith("/api/")
        if (
            is_api
            and path not in self.policy.public_paths
            and not self.policy.token_valid(headers.get(TOKEN_HEADER.lower()))
        ):
            return 401, _body(
                "missing or wrong session token",
                "reload the console page; scripts must send the token from the page "
                f"in the {TOKEN_HEADER} header",
            )
        return None


def _body(error: str, hint: str | None) -> dict[str, Any]:
    return {"error": error, "hint": hint}


# --------------------------------------------------------------------------- errors


def install_error_handlers(app: FastAPI) -> None:
    """Map every error to JSON ``{error, hint}``: PromkitError by its ``http_status``."""

    @app.exception_handler(PromkitError)
    async def _promkit_error(request: Request, exc: PromkitError) -> JSONResponse:
        return JSONResponse(error_body(exc), status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            _body(describe_validation_errors(exc.errors()), "fix the request body and retry"),
            status_code=400,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            _body(str(exc.detail), None), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            _body(
                f"internal error: {type(exc).__name__}",
                "this is a bug in promkit; the console log has details",
            ),
            status_code=500,
        )


def error_body(exc: PromkitError) -> dict[str, Any]:
    """The JSON body for a PromkitError: ``to_dict()`` plus what it carries for the user.

    Errors may carry ``attempts`` (the endpoints a client tried; the TSDB client attaches
    them) and ``details`` (a mapping). Both are already scrubbed of secrets by their source.
    """
    body = exc.to_dict()
    attempts = getattr(exc, "attempts", None)
    if isinstance(attempts, list | tuple):
        body["attempts"] = [_jsonable(a) for a in attempts]
    details = getattr(exc, "details", None)
    if isinstance(details, Mapping):
        for key, value in details.items():
            body.setdefault(str(key), _jsonable(value))
    return body


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, str | int | float | bool | type(None) | list | dict):
        return value
    return str(value)


def describe_validation_errors(errors: Iterable[Mapping[str, Any]]) -> str:
    """One line naming each bad field and why, never the submitted value."""
    parts = []
    for err in errors:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts[:5]) + (" …" if len(parts) > 5 else "")


# --------------------------------------------------------------------------- static files


@dataclass(frozen=True)
class StaticAsset:
    body: bytes
    media_type: str


_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}


def load_static(package: str, folder: str = "static") -> dict[str, StaticAsset]:
    """Read every file of ``package/folder`` (flat) through importlib.resources.

    Serving from this dict means a request path can never reach outside the package.
    """
    assets: dict[str, StaticAsset] = {}
    root = resources.files(package).joinpath(folder)
    for entry in root.iterdir():
        if not entry.is_file() or entry.name.startswith("."):
            continue
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        media = _MEDIA_TYPES.get(suffix) or mimetypes.guess_type(entry.name)[0]
        assets[entry.name] = StaticAsset(entry.read_bytes(), media or "application/octet-stream")
    return assets


def static_response(assets: Mapping[str, StaticAsset], name: str) -> Response:
    asset = assets.get(name)
    if asset is None:
        raise StarletteHTTPException(404, f"no such file: {name}")
    return Response(
        asset.body,
        media_type=asset.media_type,
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


def page_response(html: bytes, policy: LocalUIPolicy) -> Response:
    """The HTML page with the session token filled in, behind strict security headers."""
    token = policy.token.get_secret_value().encode()
    return Response(
        html.replace(TOKEN_PLACEHOLDER.encode(), token),
        media_type="text/html; charset=utf-8",
        headers=dict(SECURITY_HEADERS),
    )


__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "SECURITY_HEADERS",
    "TOKEN_HEADER",
    "TOKEN_PLACEHOLDER",
    "BoundSocket",
    "ListenAddress",
    "LocalUIGuard",
    "LocalUIPolicy",
    "StaticAsset",
    "bind_listen_socket",
    "browser_url",
    "can_open_browser",
    "check_remote",
    "describe_validation_errors",
    "error_body",
    "install_error_handlers",
    "load_static",
    "new_session_token",
    "open_browser",
    "page_response",
    "parse_listen_address",
    "serve",
    "static_response",
]
