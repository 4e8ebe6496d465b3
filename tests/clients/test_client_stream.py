"""Streaming: SSE parsing into typed events, error events, closing the connection, retrying before events."""

from __future__ import annotations

import asyncio
import gc

import httpx
import pytest
from _daj_fakes import (
    Script,
    TrackedBody,
    error_body,
    frames,
    json_reply,
    sse_body,
    stream_events,
    stream_reply,
)
from daj_client import (
    APIConnectionError,
    AsyncClient,
    BadRequestError,
    Client,
    ClustersEvent,
    ExecutionEvent,
    MatchStartEvent,
    ReasoningEvent,
    ResultEvent,
    RoundEndEvent,
    ServerError,
    StartEvent,
    VerdictEvent,
)
from daj_client.sse import ServerSentEvent, SSEDecoder, iter_sse

CODES = ["x = 1", "x = 2", "x = 3"]
EVENTS = stream_events(CODES, winner=2, reasoning=True)


def make_client(script: Script, **kwargs: object) -> tuple[Client, list[float]]:
    client = Client(http_client=httpx.Client(transport=httpx.MockTransport(script)), **kwargs)  # type: ignore[arg-type]
    sleeps: list[float] = []
    client._sleep = sleeps.append
    return client, sleeps


def test_decoder_follows_the_sse_rules() -> None:
    decoder = SSEDecoder()
    lines = [": keep-alive", "event: verdict", 'data: {"a":', "data:1}", "id: 7", "", "", "data: x", ""]
    messages = [m for m in map(decoder.feed, lines) if m is not None]
    assert messages == [ServerSentEvent("verdict", '{"a":\n1}'), ServerSentEvent("message", "x")]


def test_iter_sse_joins_data_lines_and_dispatches_a_last_message_without_its_blank_line() -> None:
    lines = ['data: {"a":', "data: 1}", ": keep-alive", "", ": keep-alive", "", "event: x", "data: y"]
    assert list(iter_sse(lines)) == [ServerSentEvent("message", '{"a":\n1}'), ServerSentEvent("x", "y")]


KEEPALIVE = b": keep-alive\n\n"  # what the service sends while a stream is quiet (DAJ_STREAM_KEEPALIVE_S)


def with_keepalives(events: list[tuple[str, dict]]) -> list[bytes]:
    """The frames with a keep-alive before each one, and one inside the second frame (between its lines)."""
    chunks = [KEEPALIVE + chunk for chunk in frames(events)]
    chunks[1] = chunks[1].replace(b"\ndata:", b"\n: keep-alive\ndata:", 1)
    return [*chunks, KEEPALIVE]


def test_keep_alive_comments_parse_to_the_same_events_sync_and_async() -> None:
    plain, _ = make_client(Script([stream_reply(TrackedBody(frames(EVENTS)))]))
    kept, _ = make_client(Script([stream_reply(TrackedBody(with_keepalives(EVENTS)))]))
    expected = [e.model_dump() for e in plain.select("p", CODES, stream=True)]
    assert [e.model_dump() for e in kept.select("p", CODES, stream=True)] == expected

    async def run() -> list[dict]:
        client = make_async_client(Script([stream_reply(TrackedBody(with_keepalives(EVENTS)))]))
        async with await client.select("p", CODES, stream=True) as stream:
            return [event.model_dump() async for event in stream]

    assert asyncio.run(run()) == expected


def test_a_stream_yields_typed_events_in_order_and_the_result() -> None:
    body = TrackedBody([sse_body(EVENTS)])
    script = Script([stream_reply(body)])
    client, _ = make_client(script)
    stream = client.select("p", CODES, stream=True, mode="reasoning")
    events = list(stream)
    assert script.bodies[0]["stream"] is True and script.requests[0].headers["accept"] == "text/event-stream"
    assert [e.event for e in events] == [name for name, _ in EVENTS]
    kinds = {StartEvent, ExecutionEvent, MatchStartEvent, ReasoningEvent, VerdictEvent, RoundEndEvent, ResultEvent}
    assert {type(e) for e in events} == kinds
    assert isinstance(events[-1], ResultEvent) and events[-1].winner.index == 2
    assert stream.final_response() is events[-1] and stream.request_id == "req-stream"
    deltas = "".join(e.delta for e in events if isinstance(e, ReasoningEvent))
    assert deltas.startswith("Both parse. A handles")
    assert body.closed


def test_execution_and_clusters_events_parse_into_typed_events_after_start() -> None:
    events = stream_events(CODES, winner=1, executed=True, passes=False)
    script = Script([stream_reply(TrackedBody(frames(events)))])
    client, _ = make_client(script)
    stream = client.select("p", CODES, stream=True, execution="required", tests=["assert f(2) == 4"], entry_point="f")
    seen = list(stream)
    assert script.bodies[0]["execution"] == "required" and script.bodies[0]["tests"] == ["assert f(2) == 4"]
    assert [e.event for e in seen[:4]] == ["start", "execution", "clusters", "match_start"]
    execution, clusters = seen[1], seen[2]
    assert isinstance(execution, ExecutionEvent) and isinstance(clusters, ClustersEvent)
    assert execution.status == "ran" and execution.entry_point == "f" and execution.runs == 3
    assert execution.probes is not None and (execution.probes.examples, execution.probes.tests) == (1, 1)
    assert [c.members for c in clusters.clusters] == [[0], [1], [2]] and all(c.top_group for c in clusters.clusters)
    assert clusters.players == [0, 1, 2] and clusters.clusters == execution.clusters
    result = stream.final_response()
    assert result.no_candidate_passes and result.execution.model_dump() == execution.model_dump()
    first_failure = result.ranking[0].execution.first_failure  # type: ignore[union-attr]
    assert first_failure is not None and (first_failure.input, first_failure.expected) == ("f(2)", "4")


def test_a_judge_only_stream_says_why_and_sends_no_clusters() -> None:
    client, _ = make_client(Script([stream_reply(TrackedBody(frames(EVENTS)))]))
    seen = list(client.select("p", CODES, stream=True))
    executions = [e for e in seen if isinstance(e, ExecutionEvent)]
    assert len(executions) == 1 and executions[0].status == "off" and executions[0].reason
    assert not any(isinstance(e, ClustersEvent) for e in seen)


def test_crlf_line_endings_and_a_missing_final_blank_line_parse_too() -> None:
    raw = sse_body(EVENTS).replace(b"\n", b"\r\n").rstrip(b"\r\n")
    client, _ = make_client(Script([stream_reply(TrackedBody([raw]))]))
    assert isinstance(list(client.select("p", CODES, stream=True))[-1], ResultEvent)


def test_unknown_events_from_a_newer_server_are_skipped() -> None:
    events = [EVENTS[0], ("progress", {"done": 0.5}), *EVENTS[1:]]
    client, _ = make_client(Script([stream_reply(TrackedBody([sse_body(events)]))]))
    assert [e.event for e in client.select("p", CODES, stream=True)] == [name for name, _ in EVENTS]


def test_an_error_event_is_raised_from_the_iterator_and_closes_the_stream() -> None:
    error = ("error", error_body("engine died", "server_error", code="internal_error"))
    body = TrackedBody([sse_body([*EVENTS[:3], error])])
    client, sleeps = make_client(Script([stream_reply(body)]))
    seen = []
    with pytest.raises(ServerError) as caught:
        for event in client.select("p", CODES, stream=True):
            seen.append(event)
    assert len(seen) == 3 and caught.value.code == "internal_error" and caught.value.status_code == 500
    assert caught.value.request_id == "req-stream"
    assert body.closed and sleeps == []


def test_an_http_error_is_raised_by_select_itself() -> None:
    reply = json_reply(422, error_body("candidates: too short", "invalid_request_error", param="candidates"))
    client, _ = make_client(Script([reply]))
    with pytest.raises(BadRequestError) as caught:
        client.select("p", ["only one"], stream=True)
    assert caught.value.param == "candidates"


def test_break_closes_the_connection_at_once_even_when_the_stream_is_kept() -> None:
    body = TrackedBody(frames(EVENTS))
    client, _ = make_client(Script([stream_reply(body)]))
    stream = client.select("p", CODES, stream=True)
    for event in stream:
        if isinstance(event, VerdictEvent):
            break
    assert body.closed
    assert stream.result is None


def test_an_exception_in_the_loop_body_closes_the_connection() -> None:
    body = TrackedBody(frames(EVENTS))
    client, _ = make_client(Script([stream_reply(body)]))
    stream = client.select("p", CODES, stream=True)
    with pytest.raises(KeyError):
        for _ in stream:
            raise KeyError("caller bug")
    assert body.closed


def test_context_manager_and_close_and_gc_close_the_connection() -> None:
    bodies = [TrackedBody(frames(EVENTS)) for _ in range(3)]
    client, _ = make_client(Script([stream_reply(b) for b in bodies]))
    with client.select("p", CODES, stream=True) as stream:
        assert isinstance(next(stream), StartEvent)
    assert bodies[0].closed

    stream = client.select("p", CODES, stream=True)
    next(stream)
    stream.close()
    assert bodies[1].closed

    stream = client.select("p", CODES, stream=True)
    next(stream)
    assert not bodies[2].closed
    del stream
    gc.collect()
    assert bodies[2].closed


def test_a_connection_cut_before_any_event_is_retried() -> None:
    cut = TrackedBody(frames(EVENTS), fail_after=0)
    whole = TrackedBody(frames(EVENTS))
    script = Script([stream_reply(cut), stream_reply(whole)])
    client, sleeps = make_client(script)
    events = list(client.select("p", CODES, stream=True))
    assert isinstance(events[-1], ResultEvent) and len(events) == len(EVENTS)
    assert len(script.requests) == 2 and len(sleeps) == 1 and cut.closed and whole.closed


def test_a_connection_cut_after_an_event_is_not_retried() -> None:
    cut = TrackedBody(frames(EVENTS), fail_after=2)
    script = Script([stream_reply(cut), stream_reply(TrackedBody(frames(EVENTS)))])
    client, sleeps = make_client(script)
    seen = []
    with pytest.raises(APIConnectionError):
        for event in client.select("p", CODES, stream=True):
            seen.append(event)
    assert len(seen) == 2 and len(script.requests) == 1 and sleeps == [] and cut.closed


def test_a_stream_that_ends_without_its_result_is_a_connection_error() -> None:
    truncated = TrackedBody([sse_body(EVENTS[:-1])])
    client, _ = make_client(Script([stream_reply(truncated)]), max_retries=0)
    with pytest.raises(APIConnectionError, match="before its result"):
        list(client.select("p", CODES, stream=True))


def test_retryable_status_before_the_stream_starts_is_retried() -> None:
    busy = json_reply(503, error_body("loading", "service_unavailable_error"), {"Retry-After": "1"})
    script = Script([busy, stream_reply(TrackedBody(frames(EVENTS)))])
    client, sleeps = make_client(script)
    assert client.select("p", CODES, stream=True).final_response().winner.index == 2
    assert sleeps == [1.0]


def test_a_stream_iterates_once() -> None:
    client, _ = make_client(Script([stream_reply(TrackedBody(frames(EVENTS)))]))
    stream = client.select("p", CODES, stream=True)
    list(stream)
    with pytest.raises(RuntimeError):
        list(stream)


# ---- async ----


def make_async_client(script: Script, **kwargs: object) -> AsyncClient:
    client = AsyncClient(http_client=httpx.AsyncClient(transport=httpx.MockTransport(script)), **kwargs)  # type: ignore[arg-type]

    async def no_sleep(_: float) -> None:
        return None

    client._sleep = no_sleep
    return client


async def until_closed(body: TrackedBody) -> None:
    for _ in range(100):
        if body.closed:
            return
        await asyncio.sleep(0)
    raise AssertionError("the response body was not closed")


def test_async_stream_dropped_unread_is_closed_by_gc() -> None:
    body = TrackedBody(frames(EVENTS))

    async def run() -> None:
        client = make_async_client(Script([stream_reply(body)]))
        stream = await client.select("p", CODES, stream=True)
        assert isinstance(await anext(stream), StartEvent) and not body.closed
        del stream
        gc.collect()
        await until_closed(body)

    asyncio.run(run())


def test_async_stream_yields_the_same_events_and_closes() -> None:
    body = TrackedBody(frames(EVENTS))

    async def run() -> list:
        client = make_async_client(Script([stream_reply(body)]))
        async with await client.select("p", CODES, stream=True) as stream:
            return [event async for event in stream]

    events = asyncio.run(run())
    assert [e.event for e in events] == [name for name, _ in EVENTS] and body.closed


def test_async_stream_error_event_break_and_retry() -> None:
    error = ("error", error_body("bad adapter", "invalid_request_error", param="adapter"))
    failing = TrackedBody([sse_body([EVENTS[0], error])])
    broken = TrackedBody(frames(EVENTS))
    cut, whole = TrackedBody(frames(EVENTS), fail_after=0), TrackedBody(frames(EVENTS))

    async def run() -> None:
        client = make_async_client(Script([stream_reply(b) for b in (failing, broken, cut, whole)]))
        with pytest.raises(BadRequestError) as caught:
            async for _ in await client.select("p", CODES, stream=True):
                pass
        assert caught.value.param == "adapter"
        async for _ in await client.select("p", CODES, stream=True):
            break
        await until_closed(broken)  # asyncio's async-generator finaliser closes it on a following iteration
        stream = await client.select("p", CODES, stream=True)
        assert (await stream.final_response()).winner.index == 2

    asyncio.run(run())
    assert failing.closed and cut.closed and whole.closed
