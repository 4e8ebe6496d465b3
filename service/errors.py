"""One error shape for every failure, in HTTP bodies and inside SSE streams:
`{"error": {"message", "type", "code", "param"}}`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable_error",
}


class ErrorDetail(BaseModel):
    message: str
    type: str
    code: str | None = None
    param: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class ApiError(Exception):
    """A failure the client should see as is (status, message, and the field at fault)."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers or {}

    def detail(self) -> ErrorDetail:
        error_type = _TYPES.get(self.status, "server_error" if self.status >= 500 else "invalid_request_error")
        return ErrorDetail(message=self.message, type=error_type, code=self.code, param=self.param)

    def response(self) -> JSONResponse:
        body = ErrorResponse(error=self.detail()).model_dump()
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def internal_error(exc: BaseException) -> ApiError:
    """Anything unexpected: logged with its traceback, shown to the client without internals."""
    logger.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
    return ApiError(500, "internal server error", code="internal_error")


_TYPE_TAGS = {"str", "int", "float", "bool", "list", "dict", "json-or-python"}


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'candidates', 3, 'code') -> 'candidates[3].code'.

    Pydantic puts the union member it tried into the location ('candidates', 1, 'str'); those tags are not
    fields (ours are snake_case), so they are dropped.
    """
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
            continue
        name = str(part)
        if name in ("body", "query", "path", "header") and not path:
            continue
        if name in _TYPE_TAGS or name[:1].isupper() or "[" in name or "-" in name:
            continue
        path += f".{name}" if path else name
    return path


def _most_telling(errors: Sequence[Any]) -> Any:
    """The first error; but where a field may be a string or an object (`tests[1]`) and an object was given, the
    object's own error: "`expected` goes with `args`" says more than "Input should be a valid string"."""
    first = errors[0]
    loc = tuple(first.get("loc", ()))
    if not loc or str(loc[-1]) not in _TYPE_TAGS:
        return first
    field = field_path(loc)
    same_field = [e for e in errors[1:] if _within(field_path(tuple(e.get("loc", ()))), field)
                  and e.get("type") not in ("model_type", "dict_type", "model_attributes_type")]
    return same_field[0] if same_field else first


def _within(path: str, field: str) -> bool:
    return path == field or path.startswith((field + ".", field + "["))


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = _most_telling(errors) if errors else {"loc": (), "msg": "invalid request"}
    param = field_path(tuple(first.get("loc", ())))
    message = f"{param}: {first.get('msg')}" if param else str(first.get("msg"))
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    _count(request, "invalid_value")
    return ApiError(422, message, code="invalid_value", param=param or None).response()


def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    return ApiError(exc.status_code, str(exc.detail), code=f"http_{exc.status_code}", headers=headers).response()


def _count(request: Request, code: str | None) -> None:
    state = getattr(request.app.state, "daj", None)
    if state is not None:
        state.metrics.errors.labels(code or "error").inc()


def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    _count(request, exc.code)
    return exc.response()


def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    _count(request, "internal_error")
    return internal_error(exc).response()


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(Exception, _unhandled)
