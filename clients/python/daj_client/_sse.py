"""The mapping of one server-sent event to a typed event or an exception (private: the decoding itself is the
public, transport-agnostic `daj_client.sse`, which the service's remote engine shares)."""

from __future__ import annotations

import json

from pydantic import ValidationError

from .errors import APIError, APIResponseValidationError, APIStatusError, error_class, status_for_type
from .sse import ServerSentEvent
from .types import EVENT_TYPES, ErrorResponse, Event


def to_event(message: ServerSentEvent, request_id: str | None) -> Event | None:
    """The typed event for a message; None for names this client does not know (a newer server's extras).

    Raises the APIStatusError subclass for an `error` event, APIResponseValidationError for bad data.
    """
    if message.event == "error":
        raise stream_error(message.data, request_id)
    cls = EVENT_TYPES.get(message.event)
    if cls is None:
        return None
    try:
        return cls.model_validate_json(message.data)
    except ValidationError as exc:
        raise APIResponseValidationError(f"malformed {message.event!r} event: {exc}", request_id=request_id) from exc


def stream_error(data: str, request_id: str | None) -> APIError:
    """The exception for an `error` event's data (the service's one error shape)."""
    try:
        detail = ErrorResponse.model_validate_json(data).error
    except ValidationError:
        return APIResponseValidationError(f"malformed error event: {data[:500]!r}", request_id=request_id)
    status = status_for_type(detail.type)
    cls: type[APIStatusError] = error_class(status)
    return cls(
        detail.message,
        status_code=status,
        type=detail.type,
        code=detail.code,
        param=detail.param,
        request_id=request_id,
        body=_loads_or_none(data),
    )


def _loads_or_none(data: str) -> object:
    try:
        return json.loads(data)
    except ValueError:
        return None
