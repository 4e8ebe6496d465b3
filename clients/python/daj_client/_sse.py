"""Server-sent events: a line decoder (transport-agnostic, shared by the sync and async streams) and the
mapping of one SSE message to a typed event or an exception."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import ValidationError

from .errors import APIError, APIResponseValidationError, APIStatusError, error_class, status_for_type
from .types import EVENT_TYPES, ErrorResponse, Event


@dataclass(frozen=True)
class ServerSentEvent:
    event: str
    data: str


class SSEDecoder:
    """Feeds lines (without their line ending), returns a message at each blank line.

    Follows the WHATWG rules the service needs: `event:` and `data:` fields (several `data:` lines join with
    newlines), one optional space after the colon, `:` comment lines and unknown fields ignored.
    """

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._data and not self._event:
            return None
        message = ServerSentEvent(event=self._event or "message", data="\n".join(self._data))
        self._event, self._data = "", []
        return message


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
