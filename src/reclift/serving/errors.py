"""Typed error bodies: every 4xx (and the rare 5xx) answers

``{"error": {"code": "...", "message": "...", "details": ...}}``

Middlewares answer with the same body: 413 ``body_too_large``, 503 ``overloaded`` (with
``Retry-After``) and 504 ``timeout`` (:mod:`reclift.serving.limits`).
Handlers cover :class:`ApiError` (raised by routes and dependencies), validation errors
(422, details list ``loc``/``msg``/``type`` without echoing the input), Starlette's HTTP
exceptions (404 unknown route, 405 wrong method, 413 body too large) and
:class:`~reclift.errors.ReclifError` (400). Anything else is logged and answers a 500
without internals.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from reclift.errors import ReclifError

log = logging.getLogger("reclift.serving")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    503: "unavailable",
    504: "timeout",
}


class ErrorDetail(BaseModel):
    """The inside of an error body."""

    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """An error answer."""

    error: ErrorDetail


class ApiError(Exception):
    """An expected failure with its HTTP status and a stable machine-readable code."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A JSON response holding a typed error body."""
    body = ErrorBody(error=ErrorDetail(code=code, message=message, details=details))
    return JSONResponse(body.model_dump(), status_code=status_code, headers=headers)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting typed error bodies."""
    return {s: {"model": ErrorBody, "description": HTTPStatus(s).phrase} for s in sorted(statuses)}


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
        for e in exc.errors()
    ]
    return error_response(422, "validation_error", "the request is not valid", details)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = _CODES.get(status, "error")
    if status == 404:
        message = f"no route {request.url.path}"
    elif status == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    elif isinstance(exc.detail, str):
        message = exc.detail
    else:
        message = HTTPStatus(status).phrase
    return error_response(status, code, message, headers=getattr(exc, "headers", None))


async def _reclif_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ReclifError)
    return error_response(400, "bad_request", str(exc))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    """Register the typed handlers on ``app``."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ReclifError, _reclif_error)
    app.add_exception_handler(Exception, _unexpected)
