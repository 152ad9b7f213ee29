"""The reference's response shapes: ``{success: true, data}`` and ``{success: false, error}``.

One place maps every error to JSON: a :class:`PromkitError` answers with its own status,
message and hint; a request that fails validation answers 400 with where and why, but never
the submitted value (it may be a password); anything else is a logged 500 without details.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Generic, Literal, TypeVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from promkit.core.errors import PromkitError
from promkit.tracker.ratelimit import RateLimitedError

T = TypeVar("T")
log = logging.getLogger("promkit.tracker")


class Envelope(BaseModel, Generic[T]):
    success: Literal[True] = True
    data: T
    message: str | None = None


class ErrorBody(BaseModel):
    success: Literal[False] = False
    error: str
    hint: str | None = None
    kind: str
    details: list[dict[str, Any]] | None = None


def json_response(
    body: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(body), status_code=status_code, headers=headers, media_type="application/json"
    )


def ok(data: T, message: str | None = None) -> Envelope[T]:
    return Envelope[T](data=data, message=message)


def error_response(
    status: int,
    error: str,
    *,
    hint: str | None = None,
    kind: str = "PromkitError",
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = ErrorBody(error=error, hint=hint, kind=kind, details=details)
    return json_response(body.model_dump(exclude_none=True), status, headers)


async def _promkit_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PromkitError)
    headers = None
    if isinstance(exc, RateLimitedError):
        headers = {"Retry-After": str(exc.retry_after)}
    if exc.http_status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return error_response(
        exc.http_status, exc.message, hint=exc.hint, kind=type(exc).__name__, headers=headers
    )


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", ""))}
        for err in exc.errors()
    ]
    where = ".".join(details[0]["loc"]) if details else "request"
    return error_response(
        400,
        f"invalid request: {where}: {details[0]['msg'] if details else 'bad input'}",
        hint="see details for every invalid field",
        kind="UsageError",
        details=details,
    )


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    kind = {404: "NotFoundError", 405: "UsageError"}.get(exc.status_code, "PromkitError")
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, str(exc.detail), kind=kind, headers=headers)


async def _unexpected(_request: Request, exc: Exception) -> Response:
    log.error("internal error: %s", type(exc).__name__, exc_info=exc)
    return error_response(500, "internal server error", kind="InternalError")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PromkitError, _promkit_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


__all__ = [
    "Envelope",
    "ErrorBody",
    "error_response",
    "install_error_handlers",
    "json_response",
    "ok",
]
