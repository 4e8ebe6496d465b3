"""Exceptions: one tree, so callers catch as broadly or as narrowly as they need.

DajError
└── APIError
    ├── APIStatusError            the server answered with an error (HTTP status, or an `error` SSE event)
    │   ├── BadRequestError       400, 413, 422: the request is wrong; retrying will not help
    │   ├── AuthenticationError   401
    │   ├── PermissionDeniedError 403
    │   ├── NotFoundError         404
    │   ├── RateLimitError        429 (carries `retry_after`)
    │   └── ServerError           5xx
    ├── APIConnectionError        no answer: refused, reset, cut off mid-stream
    │   └── APITimeoutError
    └── APIResponseValidationError  an answer that does not match the models (server/client version skew)
"""

from __future__ import annotations

from typing import Any

import httpx

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "DajError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
]


class DajError(Exception):
    """Base of everything this SDK raises."""


class APIError(DajError):
    """A failed call to the service."""

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id


class APIStatusError(APIError):
    """The server answered with an error body `{"error": {"message", "type", "code", "param"}}`.

    `retry_after` is the server's Retry-After hint in seconds (429, 503), if any.
    `status_code` is the HTTP status; for an error that arrives as an SSE `error` event (the HTTP status was
    already 200), it is the status the server's error `type` stands for (e.g. 500 for `server_error`).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        body: Any = None,
        response: httpx.Response | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.status_code = status_code
        self.retry_after = retry_after
        self.type = type
        self.code = code
        self.param = param
        self.body = body
        self.response = response

    def __str__(self) -> str:
        where = f", param={self.param}" if self.param else ""
        rid = f", request_id={self.request_id}" if self.request_id else ""
        return f"{self.status_code} {self.type or 'error'}: {self.message}{where}{rid}"


class BadRequestError(APIStatusError):
    """400/413/422: the request itself is wrong (`param` names the field)."""


class AuthenticationError(APIStatusError):
    """401: missing or wrong API key."""


class PermissionDeniedError(APIStatusError):
    """403."""


class NotFoundError(APIStatusError):
    """404: wrong base URL or path, or an unknown adapter."""


class RateLimitError(APIStatusError):
    """429: too many selections in flight; `retry_after` is the server's hint in seconds."""


class ServerError(APIStatusError):
    """5xx: the server failed (or is not ready: 503)."""


class APIConnectionError(APIError):
    """No (complete) answer: connection refused or reset, or a stream cut off before its last event."""


class APITimeoutError(APIConnectionError):
    """The request ran past its timeout."""


class APIResponseValidationError(APIError):
    """The server answered 2xx, but with data the SDK's models reject (usually a server/client version skew)."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: BadRequestError,
    422: BadRequestError,
    429: RateLimitError,
}

# The inverse of the server's status -> error type table (service/errors.py), for errors inside a stream.
_STATUS_BY_TYPE: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "timeout_error": 408,
    "rate_limit_error": 429,
    "service_unavailable_error": 503,
    "server_error": 500,
}


def error_class(status_code: int) -> type[APIStatusError]:
    """The exception class for an HTTP status (unknown 4xx stay plain `APIStatusError`)."""
    if status_code >= 500:
        return ServerError
    return _BY_STATUS.get(status_code, APIStatusError)


def status_for_type(error_type: str | None) -> int:
    """The HTTP status an error `type` stands for; unknown types count as server errors."""
    return _STATUS_BY_TYPE.get(error_type or "", 500)
