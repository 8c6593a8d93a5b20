"""Every refusal as JSON: ``{"error": "<one line saying why>", "status": <code>}``, whatever raised it
(our own checks, Starlette's 404 and 405, an unexpected failure)."""
from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A request the server refuses: the HTTP status and the message the client reads."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    """A refused POST may leave part of its body unread (a 413 is sent before it is): the rest is not
    wanted and the connection can't carry another request after it, so it is closed."""
    assert isinstance(exc, ApiError)
    headers = dict(exc.headers or {})
    if request.method == "POST":
        headers["Connection"] = "close"
    return error_response(exc.status, exc.message, headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    messages = {404: f"no endpoint {request.url.path} (see /v1/openapi.json)",
                405: f"{request.method} is not allowed on {request.url.path}"}
    return error_response(exc.status_code, messages.get(exc.status_code, exc.detail), exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("request %s %s failed", request.method, request.url.path)
    return error_response(500, f"internal error: {type(exc).__name__} (logged on the server)")


#: Starlette's ``exception_handlers`` for the app.
EXCEPTION_HANDLERS = {ApiError: _api_error, HTTPException: _http_error, Exception: _unexpected}
