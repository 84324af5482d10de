"""The one place where errors become HTTP answers, in OpenAI's envelope.

Every refusal the server makes, from a middleware or a route, is an `ErrandError` answered by
`error_response`, so a stock OpenAI client retries exactly when it should: ``Retry-After`` where
waiting helps, ``x-should-retry: false`` where it cannot.

    status  exception                                type                   code
    400     RequestError, ContextLengthExceeded       invalid_request_error  its code
    400     RunInputError (a run cannot take this)    invalid_request_error  invalid_input
    401     AuthError                                 invalid_request_error  invalid_api_key
    404     RunNotFound, ModelNotFound, no route      invalid_request_error  not_found, model_not_found
    409     RunConflict, IdempotencyInFlight          invalid_request_error  run_conflict, idempotency_key_in_use
    422     IdempotencyMismatch                       invalid_request_error  idempotency_key_reused
    429     RateLimited / QuotaExceeded               requests / insufficient_quota
    502     ModelError                                server_error           model_error
    503     Overloaded                                server_error           server_overloaded, model_loading
    504     ModelTimeout                              server_error           model_timeout
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from errand.errors import (
    AuthError,
    BodyTooLarge,
    ErrandError,
    IdempotencyInFlight,
    IdempotencyMismatch,
    ModelError,
    ModelNotFound,
    ModelTimeout,
    Overloaded,
    QuotaExceeded,
    RateLimited,
    RequestError,
    RunConflict,
    RunInputError,
    RunNotFound,
)

log = logging.getLogger("errand.server")


class ErrorDetail(BaseModel):
    """What went wrong, in OpenAI's words."""

    message: str
    """What is wrong and what to do."""
    type: str
    """``invalid_request_error``, ``requests``, ``insufficient_quota`` or ``server_error``."""
    param: str | None = None
    """The request field at fault, when one is."""
    code: str | None = None
    """A stable, machine-readable reason (``context_length_exceeded``, ``rate_limit_exceeded``...)."""


class ErrorResponse(BaseModel):
    """OpenAI's error envelope."""

    error: ErrorDetail


_RETRY = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}}}
_NO_RETRY = {
    "x-should-retry": {"description": "``false``: retrying cannot help.", "schema": {"type": "string"}}
}

_DESCRIPTIONS: dict[int, tuple[str, dict[str, Any]]] = {
    400: ("Invalid request (validation, context length).", _NO_RETRY),
    401: ("Missing or unknown API key.", _NO_RETRY),
    404: ("No such run for this key's user, or no such model.", _NO_RETRY),
    409: ("The idempotency key is still in flight, or the run is not in a state that allows this.", {}),
    422: ("The idempotency key was used with another request.", _NO_RETRY),
    429: ("This key's rate, concurrency or token budget is spent.", {**_RETRY, **_NO_RETRY}),
    502: ("The model backend failed.", _NO_RETRY),
    503: ("The server is full, loading its model, or draining.", _RETRY),
    504: ("The model backend did not answer in time.", {}),
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` entries for these statuses, all in the error envelope."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        description, headers = _DESCRIPTIONS[status]
        out[status] = {"model": ErrorResponse, "description": description, "headers": headers}
    return out


def classify(exc: BaseException) -> tuple[int, str, str | None]:
    """(status, type, code) of an exception: the mapping every answer goes through."""
    if isinstance(exc, ModelNotFound):
        return 404, "invalid_request_error", exc.code
    if isinstance(exc, BodyTooLarge):
        return 413, "invalid_request_error", exc.code
    if isinstance(exc, RequestError):
        return 400, "invalid_request_error", exc.code
    if isinstance(exc, AuthError):
        return 401, "invalid_request_error", "invalid_api_key"
    if isinstance(exc, RunNotFound):
        return 404, "invalid_request_error", "not_found"
    if isinstance(exc, RunInputError):
        return 400, "invalid_request_error", "invalid_input"
    if isinstance(exc, RunConflict):
        return 409, "invalid_request_error", "run_conflict"
    if isinstance(exc, IdempotencyInFlight):
        return 409, "invalid_request_error", "idempotency_key_in_use"
    if isinstance(exc, IdempotencyMismatch):
        return 422, "invalid_request_error", "idempotency_key_reused"
    if isinstance(exc, QuotaExceeded):
        return 429, "insufficient_quota", exc.code
    if isinstance(exc, RateLimited):
        return 429, "requests", exc.code
    if isinstance(exc, Overloaded):
        return 503, "server_error", exc.code
    if isinstance(exc, ModelTimeout):
        return 504, "server_error", "model_timeout"
    if isinstance(exc, ModelError):
        return 502, "server_error", "model_error"
    return 500, "server_error", None


def error_body(exc: BaseException) -> dict[str, Any]:
    """The envelope of ``exc`` (also sent inside a stream that has already started)."""
    _, type_, code = classify(exc)
    message = str(exc) if isinstance(exc, ErrandError) else "The server failed; the error was logged."
    param = exc.param if isinstance(exc, RequestError) else None
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def error_response(exc: BaseException) -> JSONResponse:
    """The HTTP answer to ``exc``, with ``Retry-After`` or ``x-should-retry`` where they apply."""
    status, _, _ = classify(exc)
    if status == 500:
        log.error("unhandled error", exc_info=exc)
    headers: dict[str, str] = {}
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int | float):
        headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    elif status in (400, 401, 404, 413, 422, 429, 502) or isinstance(exc, RunConflict):
        headers["x-should-retry"] = "false"
    return JSONResponse(error_body(exc), status_code=status, headers=headers)


def _param(loc: Sequence[int | str]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or None


def validation_error(exc: RequestValidationError) -> RequestError:
    """A pydantic validation failure as a `RequestError`, with the field and the numbers it broke."""
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "Invalid request."}
    param = _param(first.get("loc", ()))
    ctx = first.get("ctx") or {}
    got = first.get("input")
    detail = str(first.get("msg", "Invalid request."))
    if ctx and not isinstance(got, dict | list):
        detail += f" (got {got!r})"
    more = f" ({len(errors) - 1} more problems)" if len(errors) > 1 else ""
    where = f"{param}: " if param else ""
    return RequestError(f"Invalid request: {where}{detail}{more}.", param=param, code="invalid_value")


def install(app: FastAPI) -> None:
    """Answer every error of every route through `error_response`."""

    async def on_errand(request: Request, exc: Exception) -> Response:
        return error_response(exc)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response(validation_error(exc))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return error_response(RunNotFound(f"No route {request.method} {request.url.path}."))
        body = {
            "error": {
                "message": str(exc.detail),
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        }
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        return error_response(exc)

    app.add_exception_handler(ErrandError, on_errand)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
