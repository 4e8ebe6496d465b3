"""The synchronous client and its event stream."""

from __future__ import annotations

import contextlib
import functools
import time
import weakref
from collections.abc import Callable, Generator, Iterator, Sequence
from types import TracebackType
from typing import Any, Literal, Self, Unpack, overload

import httpx

from . import _base
from ._base import Backoff, SelectOptions
from ._sse import to_event
from .errors import APIConnectionError, APIError, APIResponseValidationError, APIStatusError, APITimeoutError
from .sse import iter_sse
from .types import (
    CandidateInput,
    Event,
    ResultEvent,
    RewardItemInput,
    RewardKind,
    RewardsResponse,
    SelectResponse,
)


class Client:
    """A connection-pooling client for the daj service. Thread-safe; reuse one per process.

    Configuration comes from the arguments, else `DAJ_BASE_URL` / `DAJ_API_KEY`, else
    http://127.0.0.1:8000 without a key. Failed calls are retried `max_retries` times on connection errors,
    408, 429 and 5xx (honouring Retry-After), never on other 4xx.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = _base.DEFAULT_TIMEOUT_S,
        max_retries: int = _base.DEFAULT_MAX_RETRIES,
        backoff: Backoff | None = None,
        headers: dict[str, str] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.base_url = _base.resolve_base_url(base_url)
        self.api_key = _base.resolve_api_key(api_key)
        self.timeout = _base.to_timeout(timeout)
        self.max_retries = max_retries
        self.backoff = backoff or Backoff()
        self._headers = _base.default_headers(self.api_key, headers)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client()
        self._sleep: Callable[[float], None] = time.sleep

    # ---- selection ----

    @overload
    def select(
        self,
        problem: str,
        candidates: Sequence[CandidateInput],
        *,
        stream: Literal[False] = False,
        timeout: float | httpx.Timeout | None = None,
        **options: Unpack[SelectOptions],
    ) -> SelectResponse: ...

    @overload
    def select(
        self,
        problem: str,
        candidates: Sequence[CandidateInput],
        *,
        stream: Literal[True],
        timeout: float | httpx.Timeout | None = None,
        **options: Unpack[SelectOptions],
    ) -> Stream: ...

    def select(
        self,
        problem: str,
        candidates: Sequence[CandidateInput],
        *,
        stream: bool = False,
        timeout: float | httpx.Timeout | None = None,
        **options: Unpack[SelectOptions],
    ) -> SelectResponse | Stream:
        """Run a tournament over `candidates` and return the ranking (or, with `stream=True`, a `Stream` of
        events; HTTP errors are raised here, errors that arrive later are raised from the iteration)."""
        body = _base.build_select_body(problem, candidates, options, stream)
        if stream:
            response, attempt = self._send("POST", _base.SELECT_PATH, body, timeout, stream=True)
            reopen = functools.partial(self._send, "POST", _base.SELECT_PATH, body, timeout, stream=True)
            return Stream(response, attempt, reopen, self)
        response, _ = self._send("POST", _base.SELECT_PATH, body, timeout)
        return _base.parse_select_response(response)

    def best_of(self, problem: str, candidates: Sequence[CandidateInput], **options: Unpack[SelectOptions]) -> str:
        """The winning program's code: the one call a coding agent needs after sampling N programs."""
        return _base.winner_code(candidates, self.select(problem, candidates, **options))

    # ---- rewards ----

    def rewards(
        self,
        items: Sequence[RewardItemInput],
        *,
        reward: RewardKind | str | None = None,
        no_code_reward: float | None = None,
        agreement_weight: float | None = None,
        budget_s: float | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> RewardsResponse:
        """`POST /rewards`: run every item's completions and return one reward per completion (`response.rewards`,
        items in order, flattened; None where a completion could not be scored) with what each run did.

        Items are `RewardItem`s or their dicts (`{"problem", "completions", "tests", ...}`); unset options take the
        server's defaults (`reward="pass_rate"`). 429 (the sandbox queue is full) and 5xx are retried like any
        call, honouring Retry-After."""
        body = _base.build_rewards_body(
            items, reward=reward, no_code_reward=no_code_reward, agreement_weight=agreement_weight, budget_s=budget_s
        )
        response, _ = self._send("POST", _base.REWARDS_PATH, body, timeout)
        return _base.parse_rewards_response(response, _base.sent_completions(body))

    # ---- operations ----

    def health(self) -> dict[str, Any]:
        """`GET /health`: the process answers (the judge may still be loading)."""
        response, _ = self._send("GET", "/health", None, None, max_retries=0)
        return response.json()

    def ready(self) -> bool:
        """`GET /ready`: True once the judge is loaded; False while loading or unreachable."""
        try:
            self._send("GET", "/ready", None, None, max_retries=0)
        except (APIConnectionError, APIStatusError) as exc:
            if isinstance(exc, APIStatusError) and exc.status_code != 503:
                raise
            return False
        return True

    def wait_until_ready(self, timeout_s: float = 300.0, interval_s: float = 0.5) -> None:
        """Block until `/ready` answers 200; APITimeoutError after `timeout_s` (e.g. right after start-up)."""
        deadline = time.monotonic() + timeout_s
        while not self.ready():
            if time.monotonic() >= deadline:
                raise APITimeoutError(f"{self.base_url} not ready after {timeout_s} s")
            self._sleep(interval_s)

    # ---- lifecycle ----

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- transport ----

    def _send(
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
        """One request with retries; returns the 2xx response and the attempt number that got it."""
        retries = self.max_retries if max_retries is None else max_retries
        attempt = first
        while True:
            try:
                return self._attempt(method, path, body, timeout, stream), attempt
            except APIError as error:
                delay = _base.retry_delay(error, attempt, retries, self.backoff)
                if delay is None:
                    raise
            self._sleep(delay)
            attempt += 1

    def _attempt(
        self, method: str, path: str, body: dict | None, timeout: float | httpx.Timeout | None, stream: bool
    ) -> httpx.Response:
        headers = {**self._headers, "Accept": "text/event-stream"} if stream else self._headers
        budget = _base.to_timeout(self.timeout if timeout is None else timeout)
        request = self._http.build_request(method, self.base_url + path, json=body, headers=headers, timeout=budget)
        try:
            response = self._http.send(request, stream=stream)
        except httpx.TransportError as exc:
            raise _base.connection_error(exc) from exc
        if response.is_success:
            return response
        try:
            response.read()
        except httpx.TransportError as exc:
            raise _base.connection_error(exc) from exc
        finally:
            response.close()
        raise _base.status_error(response)


class Stream:
    """The events of one streamed selection, in order: start, execution, clusters (when the candidates ran),
    then per round match_start..., reasoning... (reasoning mode), verdict..., round_end; finally result.
    An `error` event is raised as an APIStatusError.

    Iterate it once. The HTTP connection is closed when the loop ends however it ends (exhausted, break,
    exception, garbage collection), on `close()`, or on leaving `with`. If the connection fails before the
    first event, the request is sent again (within the client's retries); after that, never: events already
    seen would repeat.
    """

    def __init__(
        self,
        response: httpx.Response,
        attempt: int,
        reopen: Callable[..., tuple[httpx.Response, int]],
        client: Client,
    ) -> None:
        self.response = response
        self.request_id: str | None = response.headers.get(_base.REQUEST_ID_HEADER)
        self.result: SelectResponse | None = None
        self._attempt = attempt
        self._reopen = reopen
        self._client = client
        self._started = False
        self._stepper: Iterator[Event] | None = None
        self._live: weakref.ref[Generator[Event, None, None]] | None = None

    def __iter__(self) -> Iterator[Event]:
        # The generator is not kept by the stream (only weakly), so when the for loop drops it (break,
        # exception) it is finalised at once and its `finally` closes the connection.
        if self._stepper is not None:
            return self._stepper
        if self._started:
            raise RuntimeError("a stream can be iterated only once")
        self._started = True
        events = self._events()
        self._live = weakref.ref(events)
        return events

    def __next__(self) -> Event:
        """For `next(stream)`; a stream stepped this way is closed by `close()`, `with`, or GC."""
        if self._stepper is None:
            self._stepper = iter(self)
        return next(self._stepper)

    def final_response(self) -> SelectResponse:
        """Consume the remaining events and return the result."""
        if self.result is not None:
            return self.result
        for _ in self:
            pass
        if self.result is None:  # only after an earlier loop broke off
            raise APIResponseValidationError("stream ended without a result", request_id=self.request_id)
        return self.result

    def close(self) -> None:
        live = self._live() if self._live is not None else None
        if live is not None:
            live.close()
        self.response.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # best effort: may run at interpreter shutdown
            self.response.close()

    def _events(self) -> Generator[Event, None, None]:
        received = False
        try:
            while True:
                try:
                    for event in _read_events(self.response, self.request_id):
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
                    self.response.close()
                    self._client._sleep(delay)
                    self.response, self._attempt = self._reopen(first=self._attempt + 1)
                    self.request_id = self.response.headers.get(_base.REQUEST_ID_HEADER)
        finally:
            self.response.close()


def _read_events(response: httpx.Response, request_id: str | None) -> Iterator[Event]:
    for message in iter_sse(response.iter_lines()):
        if (event := to_event(message, request_id)) is not None:
            yield event
