"""Structured logs: one JSON object per line, and one access line per request.

:class:`JsonFormatter` renders every record as ``{"ts", "level", "logger", "message", ...}``
plus the ``extra=`` fields of the call and the id of the request being served (from a
context variable, so a route's own log lines carry it too). :class:`AccessLogMiddleware`
assigns that id (a client's ``X-Request-ID`` when it is well formed, else a fresh one),
echoes it in the answer and logs method, route template, path, status and duration. Headers,
query strings and bodies are never logged: they may hold API keys or personal data.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reclift.serving.metrics import UNMATCHED

REQUEST_ID_HEADER = "X-Request-ID"
ACCESS_LOGGER = "reclift.access"

request_id: ContextVar[str | None] = ContextVar("reclift_request_id", default=None)
"""Id of the request the current task serves (``None`` outside a request)."""

_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Attributes every LogRecord has; anything else came from ``extra=`` and is logged as is.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's copy of the message with terminal colour codes
}


class JsonFormatter(logging.Formatter):
    """Format records as single-line JSON objects."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id.get()
        if rid is not None:
            payload["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in payload:
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_config(level: str, fmt: Literal["json", "text"]) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for the service and uvicorn's own loggers.

    Parameters
    ----------
    level
        Level name (``info``, ``debug``, ...).
    fmt
        ``json`` for :class:`JsonFormatter` lines, ``text`` for plain lines.
    """
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"} if fmt == "json" else {"format": _TEXT_FORMAT}
    )
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"reclift": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "reclift",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            name: {"handlers": ["stderr"], "level": upper, "propagate": False}
            for name in ("reclift", "uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class AccessLogMiddleware:
    """Give each HTTP request an id, echo it, and log one line when the answer is sent.

    Parameters
    ----------
    app
        The wrapped ASGI app.
    enabled
        Log access lines (the request id is assigned and echoed either way).
    """

    def __init__(self, app: ASGIApp, enabled: bool = True) -> None:
        self.app = app
        self.enabled = enabled
        self.log = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, REQUEST_ID_HEADER.lower().encode())
        rid = given if given is not None and _VALID_ID.fullmatch(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        start = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.lower().encode(), rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.enabled:
                route = getattr(scope.get("route"), "path", None) or UNMATCHED
                client = scope.get("client")
                self.log.info(
                    "%s %s %d",
                    scope.get("method", "GET"),
                    scope.get("path", ""),
                    status,
                    extra={
                        "method": scope.get("method", "GET"),
                        "route": route,
                        "path": scope.get("path", ""),
                        "status": status,
                        "duration_ms": round((time.perf_counter() - start) * 1000, 3),
                        "client": client[0] if client else None,
                    },
                )
            request_id.reset(token)
