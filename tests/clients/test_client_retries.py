"""Error mapping and the retry rule: which failures are retried, how long the client waits, what it raises."""

from __future__ import annotations

import asyncio
import email.utils
import time

import daj_client
import httpx
import pytest
from _daj_fakes import Script, error_body, json_reply, raise_connect_error, select_reply
from daj_client import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    Backoff,
    BadRequestError,
    Client,
    DajError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from daj_client._base import parse_retry_after

CODES = ["a = 1", "a = 2"]


def make_client(script: Script, **kwargs: object) -> tuple[Client, list[float]]:
    """A client on the script whose sleeps are recorded instead of slept."""
    client = Client(http_client=httpx.Client(transport=httpx.MockTransport(script)), **kwargs)  # type: ignore[arg-type]
    sleeps: list[float] = []
    client._sleep = sleeps.append
    return client, sleeps


@pytest.mark.parametrize(
    ("status", "error_type", "cls"),
    [
        (400, "invalid_request_error", BadRequestError),
        (422, "invalid_request_error", BadRequestError),
        (401, "authentication_error", AuthenticationError),
        (403, "permission_error", PermissionDeniedError),
        (404, "not_found_error", NotFoundError),
        (409, "invalid_request_error", APIStatusError),
    ],
)
def test_client_errors_map_to_their_class_and_are_never_retried(status: int, error_type: str, cls: type) -> None:
    body = error_body("candidates: too short", error_type, code="invalid_value", param="candidates")
    client, sleeps = make_client(Script([json_reply(status, body, {"x-request-id": "req-42"})]))
    with pytest.raises(cls) as caught:
        client.select("p", CODES)
    error = caught.value
    assert type(error) is cls and isinstance(error, APIStatusError)
    assert (error.status_code, error.message, error.type) == (status, "candidates: too short", error_type)
    assert (error.code, error.param, error.request_id) == ("invalid_value", "candidates", "req-42")
    assert error.body == body and sleeps == []


def test_the_exception_tree() -> None:
    assert issubclass(APIStatusError, APIError) and issubclass(APIError, DajError)
    for cls in (
        BadRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        RateLimitError,
        ServerError,
    ):
        assert issubclass(cls, APIStatusError)
    assert issubclass(APITimeoutError, APIConnectionError) and issubclass(APIConnectionError, APIError)
    assert not issubclass(APIConnectionError, APIStatusError)


def test_a_body_that_is_not_the_error_shape_still_gives_a_status_error() -> None:
    reply = lambda _: httpx.Response(502, text="<html>Bad Gateway</html>")  # noqa: E731
    client, _ = make_client(Script([reply]), max_retries=0)
    with pytest.raises(ServerError) as caught:
        client.select("p", CODES)
    assert caught.value.status_code == 502 and "Bad Gateway" in caught.value.message
    assert caught.value.type is None and caught.value.request_id is None


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
def test_retryable_statuses_are_retried_then_succeed(status: int) -> None:
    script = Script([json_reply(status, error_body("busy", "server_error")), select_reply(winner=1)])
    client, sleeps = make_client(script)
    assert client.select("p", CODES).winner.index == 1
    assert len(script.requests) == 2 and len(sleeps) == 1


def test_retries_give_up_after_max_retries_with_the_last_error() -> None:
    script = Script([json_reply(503, error_body("engine is loading", "service_unavailable_error", "engine_loading"))])
    client, sleeps = make_client(script, max_retries=3)
    with pytest.raises(ServerError) as caught:
        client.select("p", CODES)
    assert caught.value.code == "engine_loading"
    assert len(script.requests) == 4 and len(sleeps) == 3


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    backoff = Backoff(initial_s=0.5, max_s=3.0, jitter=0.25)
    assert [backoff.delay(n, rng=lambda: 0.0) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert [backoff.delay(n, rng=lambda: 1.0) for n in range(3)] == [0.375, 0.75, 1.5]
    delays = {backoff.delay(1) for _ in range(50)}
    assert all(0.75 <= d <= 1.0 for d in delays) and len(delays) > 1


def test_connection_errors_are_retried_with_backoff_then_raised() -> None:
    script = Script([raise_connect_error])
    client, sleeps = make_client(script, backoff=Backoff(initial_s=1.0, jitter=0.0))
    with pytest.raises(APIConnectionError) as caught:
        client.select("p", CODES)
    assert not isinstance(caught.value, APITimeoutError)
    assert len(script.requests) == 3 and sleeps == [1.0, 2.0]


def test_connection_error_then_success() -> None:
    script = Script([raise_connect_error, select_reply(winner=0)])
    client, _ = make_client(script)
    assert client.select("p", CODES).winner.index == 0


def test_timeouts_raise_api_timeout_error() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client, sleeps = make_client(Script([slow]), max_retries=1)
    with pytest.raises(APITimeoutError):
        client.select("p", CODES)
    assert len(sleeps) == 1


def test_rate_limits_honour_retry_after_capped() -> None:
    limited = json_reply(429, error_body("too many", "rate_limit_error"), {"Retry-After": "7"})
    script = Script([limited, limited, select_reply(winner=1)])
    client, sleeps = make_client(script)
    assert client.select("p", CODES).winner.index == 1
    assert sleeps == [7.0, 7.0]

    very_limited = json_reply(429, error_body("too many", "rate_limit_error"), {"Retry-After": "3600"})
    client, sleeps = make_client(Script([very_limited]), max_retries=1)
    with pytest.raises(RateLimitError) as caught:
        client.select("p", CODES)
    assert sleeps == [60.0] and caught.value.retry_after == 3600.0


def test_retry_after_parses_seconds_and_http_dates() -> None:
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    in_30_s = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25.0 <= (parse_retry_after(in_30_s) or 0) <= 30.0
    assert parse_retry_after(email.utils.formatdate(time.time() - 30, usegmt=True)) == 0.0


def test_max_retries_zero_sends_once() -> None:
    script = Script([raise_connect_error])
    client, sleeps = make_client(script, max_retries=0)
    with pytest.raises(APIConnectionError):
        client.select("p", CODES)
    assert len(script.requests) == 1 and sleeps == []


def test_connection_refused_on_a_real_socket_is_a_connection_error() -> None:
    from daj.testing.redis_server import free_port

    client = Client(f"http://127.0.0.1:{free_port()}", max_retries=1, backoff=Backoff(initial_s=0.01))
    with pytest.raises(APIConnectionError):
        client.select("p", CODES)
    assert client.ready() is False


def test_async_client_retries_the_same_way() -> None:
    limited = json_reply(429, error_body("too many", "rate_limit_error"), {"Retry-After": "2"})
    script = Script([raise_connect_error, limited, json_reply(422, error_body("bad", "invalid_request_error"))])

    async def run() -> list[float]:
        http = httpx.AsyncClient(transport=httpx.MockTransport(script))
        client = daj_client.AsyncClient(http_client=http, max_retries=5, backoff=Backoff(initial_s=1.0, jitter=0.0))
        sleeps: list[float] = []

        async def record(seconds: float) -> None:
            sleeps.append(seconds)

        client._sleep = record
        with pytest.raises(BadRequestError):
            await client.select("p", CODES)
        return sleeps

    assert asyncio.run(run()) == [1.0, 2.0]  # connect error: backoff; 429: Retry-After; 422: no retry
    assert len(script.requests) == 3
