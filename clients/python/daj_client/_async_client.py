"""The asyncio client: the same surface as `Client`, with `await` (and `async for` over streams)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, Literal, Self, Unpack, overload

import httpx

from . import _base
from ._base import Backoff, SelectOptions
from ._sse import to_event
from .errors import APIConnectionError, APIError, APIResponseValidationError, APIStatusError, APITimeoutError
from .sse import aiter_sse
from .types import (
    CandidateInput,
    Event,
    ResultEvent,
    RewardItemInput,
    RewardKind,
    RewardsResponse,
    SelectResponse,
)

_closing: set[asyncio.Task[None]] = set()  # keeps GC-triggered closes alive until they finish


class AsyncClient:
    """The asyncio twin of `Client` (same arguments, same environment variables, same retry rule)."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = _base.DEFAULT_TIMEOUT_S,
        max_retries: int = _base.DEFAULT_MAX_RETRIES,
        backoff: Backoff | None = None,
        headers: dict[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = _base.resolve_base_url(base_url)
        self.api_key = _base.resolve_api_key(api_key)
        self.timeout = _base.to_timeout(timeout)
        self.max_retries = max_retries
        self.backoff = backoff or Backoff()
        self._headers = _base.default_headers(self.api_key, headers)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient()
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    # ---- selection ----

    @overload
    async def select(
        self,
        problem: str,
        candidates: Sequence[CandidateInput],
        *,
        stream: Literal[False] = False,
        timeout: float | httpx.Timeout | None = None,
        **options: Unpack[SelectOptions],
    ) -> SelectResponse: ...

    @overload
    async def select(
        self,
        problem: str,
        candidates: Sequence[CandidateInput],
        *,
        stream: Literal[True],
        timeout: float | httpx.Timeout | None = None,
        **options: Unpack[SelectOptions],
    ) -> AsyncStream: ...

    async def select(
        self,
        problem: str,
        candidates: Sequence[CandidateInput],
        *,
        stream: bool = False,
        timeout: float | httpx.Timeout | None = None,
        **options: Unpack[SelectOptions],
    ) -> SelectResponse | AsyncStream:
        """See `Client.select`; with `stream=True`, `async for event in await client.select(...)`."""
        body = _base.build_select_body(problem, candidates, options, stream)
        if stream:
            response, attempt = await self._send("POST", _base.SELECT_PATH, body, timeout, stream=True)
            reopen = functools.partial(self._send, "POST", _base.SELECT_PATH, body, timeout, stream=True)
            return AsyncStream(response, attempt, reopen, self)
        response, _ = await self._send("POST", _base.SELECT_PATH, body, timeout)
        return _base.parse_select_response(response)

    async def best_of(
        self, problem: str, candidates: Sequence[CandidateInput], **options: Unpack[SelectOptions]
    ) -> str:
        """The winning program's code."""
        return _base.winner_code(candidates, await self.select(problem, candidates, **options))

    # ---- rewards ----

    async def rewards(
        self,
        items: Sequence[RewardItemInput],
        *,
        reward: RewardKind | str | None = None,
        no_code_reward: float | None = None,
        agreement_weight: float | None = None,
        budget_s: float | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> RewardsResponse:
        """See `Client.rewards`."""
        body = _base.build_rewards_body(
            items, reward=reward, no_code_reward=no_code_reward, agreement_weight=agreement_weight, budget_s=budget_s
        )
        response, _ = await self._send("POST", _base.REWARDS_PATH, body, timeout)
        return _base.parse_rewards_response(response, _base.sent_completions(body))

    # ---- operations ----

    async def health(self) -> dict[str, Any]:
        response, _ = await self._send("GET", "/health", None, None, max_retries=0)
        return response.json()

    async def ready(self) -> bool:
        try:
            await self._send("GET", "/ready", None, None, max_retries=0)
        except (APIConnectionError, APIStatusError) as exc:
            if isinstance(exc, APIStatusError) and exc.status_code != 503:
                raise
            return False
        return True

    async def wait_until_ready(self, timeout_s: float = 300.0, interval_s: float = 0.5) -> None:
        deadline = time.monotonic() + timeout_s
        while not await self.ready():
            if time.monotonic() >= deadline:
                raise APITimeoutError(f"{self.base_url} not ready after {timeout_s} s")
            await self._sleep(interval_s)

    # ---- lifecycle ----

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ---- transport ----

    async def _send(
        self,
        method: str,
        path: str,
        body: dict | None,
        timeout: float | httpx.Timeout | None,
        *,
        stream: bool = False,
        first: int = 0,
        max_retries: int | None = None,
    ) -> tuple[httpx.Response, int]:
        retries = self.max_retries if max_retries is None else max_retries
        attempt = first
        while True:
            try:
                return await self._attempt(method, path, body, timeout, stream), attempt
            except APIError as error:
                delay = _base.retry_delay(error, attempt, retries, self.backoff)
                if delay is None:
                    raise
            await self._sleep(delay)
            attempt += 1

    async def _attempt(
        self, method: str, path: str, body: dict | None, timeout: float | httpx.Timeout | None, stream: bool
    ) -> httpx.Response:
        headers = {**self._headers, "Accept": "text/event-stream"} if stream else self._headers
        budget = _base.to_timeout(self.timeout if timeout is None else timeout)
        request = self._http.build_request(method, self.base_url + path, json=body, headers=headers, timeout=budget)
        try:
            response = await self._http.send(request, stream=stream)
        except httpx.TransportError as exc:
            raise _base.connection_error(exc) from exc
        if response.is_success:
            return response
        try:
            await response.aread()
        except httpx.TransportError as exc:
            raise _base.connection_error(exc) from exc
        finally:
            await response.aclose()
        raise _base.status_error(response)


class AsyncStream:
    """The asyncio twin of `Stream`. Prefer `async with`: it closes the connection at once; a bare `async for`
    that breaks leaves the close to asyncio's async-generator finaliser (the next loop iterations)."""

    def __init__(
        self,
        response: httpx.Response,
        attempt: int,
        reopen: Callable[..., Awaitable[tuple[httpx.Response, int]]],
        client: AsyncClient,
    ) -> None:
        self.response = response
        self.request_id: str | None = response.headers.get(_base.REQUEST_ID_HEADER)
        self.result: SelectResponse | None = None
        self._attempt = attempt
        self._reopen = reopen
        self._client = client
        self._started = False
        self._stepper: AsyncIterator[Event] | None = None
        self._live: weakref.ref[AsyncGenerator[Event, None]] | None = None

    def __aiter__(self) -> AsyncIterator[Event]:
        if self._stepper is not None:
            return self._stepper
        if self._started:
            raise RuntimeError("a stream can be iterated only once")
        self._started = True
        events = self._events()
        self._live = weakref.ref(events)
        return events

    async def __anext__(self) -> Event:
        if self._stepper is None:
            self._stepper = self.__aiter__()
        return await anext(self._stepper)

    async def final_response(self) -> SelectResponse:
        """Consume the remaining events and return the result."""
        if self.result is not None:
            return self.result
        async for _ in self:
            pass
        if self.result is None:  # only after an earlier loop broke off
            raise APIResponseValidationError("stream ended without a result", request_id=self.request_id)
        return self.result

    async def aclose(self) -> None:
        live = self._live() if self._live is not None else None
        if live is not None:
            await live.aclose()
        await self.response.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        if self.response.is_closed:
            return
        with contextlib.suppress(Exception):  # best effort: no loop, or the loop is shutting down
            task = asyncio.get_running_loop().create_task(self.response.aclose())
            _closing.add(task)
            task.add_done_callback(_closing.discard)

    async def _events(self) -> AsyncGenerator[Event, None]:
        received = False
        try:
            while True:
                try:
                    async for event in _read_events(self.response, self.request_id):
                        received = True
                        if isinstance(event, ResultEvent):
                            self.result = event
                        yield event
                        if self.result is not None:
                            return
                    raise httpx.RemoteProtocolError("the stream ended before its result event")
                except httpx.TransportError as exc:
                    error = _base.connection_error(exc, self.request_id)
                    client = self._client
                    delay = _base.retry_delay(error, self._attempt, client.max_retries, client.backoff)
                    if received or delay is None:  # events already seen would repeat: never resend then
                        raise error from exc
                    await self.response.aclose()
                    await self._client._sleep(delay)
                    self.response, self._attempt = await self._reopen(first=self._attempt + 1)
                    self.request_id = self.response.headers.get(_base.REQUEST_ID_HEADER)
        finally:
            await self.response.aclose()


async def _read_events(response: httpx.Response, request_id: str | None) -> AsyncIterator[Event]:
    async for message in aiter_sse(response.aiter_lines()):
        if (event := to_event(message, request_id)) is not None:
            yield event
