"""POST /select (and /v1/select): one JSON answer, or a stream of server-sent events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from service.auth import require_api_key
from service.errors import ApiError, ErrorResponse, internal_error
from service.limiter import Slot
from service.protocol import EVENT_NAMES, SelectRequest, SelectResponse
from service.selection import PreparedSelection
from service.state import ServiceState

logger = logging.getLogger(__name__)

router = APIRouter(tags=["select"], dependencies=[Depends(require_api_key)])

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (401, 404, 413, 422, 429, 500, 503)
}
# Derived from the one list of event names, so the served document cannot forget one (the contract test reads it).
_SSE = {"content": {"text/event-stream": {"description": f"events: {', '.join(EVENT_NAMES)}; and `: keep-alive` "
                                                         "comment lines while no event is due"}}}


@router.post("/select", response_model=SelectResponse, responses={**_ERRORS, 200: _SSE})
@router.post("/v1/select", response_model=SelectResponse, responses={**_ERRORS, 200: _SSE}, include_in_schema=False)
async def select(body: SelectRequest, request: Request) -> SelectResponse | StreamingResponse:
    """Pick the best candidate program with pairwise judge tournaments."""
    state: ServiceState = request.app.state.daj
    # While the judge loads, a selection runs until it needs the judge (then 503 engine_loading): one that
    # execution decides is answered (SelectionService.run, its gate).
    prepared = state.selection.prepare(body)
    slot = state.limiter.acquire()
    selection_id = request.state.request_id
    if body.stream and not state.engine_ready:
        return await _stream_decided_without_judge(state, prepared, selection_id, slot)
    if body.stream:
        return StreamingResponse(_stream(state, prepared, selection_id, slot), media_type="text/event-stream",
                                 headers=_SSE_HEADERS)
    state.metrics.inflight.inc()
    try:
        return await state.selection.run(prepared, selection_id)
    finally:
        state.metrics.inflight.dec()
        slot.release()


_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# An SSE comment: clients ignore it, but it resets every idle timer between them and the service.
KEEPALIVE_FRAME = ": keep-alive\n\n"


def sse_frame(event: str, payload: BaseModel | dict[str, Any]) -> str:
    data = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def next_frame(queue: asyncio.Queue[str | None], keepalive_s: float) -> str | None:
    """The queue's next frame, or a keep-alive if none comes within `keepalive_s`: a long judge call or sandbox
    run would otherwise leave the connection silent long enough for a proxy or a client read timeout to cut it."""
    try:
        return await asyncio.wait_for(queue.get(), keepalive_s)
    except TimeoutError:  # the pending get is cancelled without taking an item: nothing is lost
        return KEEPALIVE_FRAME


async def _stream_decided_without_judge(state: ServiceState, prepared: PreparedSelection, selection_id: str,
                                        slot: Slot) -> StreamingResponse:
    """A stream while the judge loads: the selection runs to its end first (execution only, so seconds), and its
    events are sent after. One that turns out to need the judge is then a 503 before any event, like a plain
    request, instead of an error event in a stream that began with 200."""
    frames: list[str] = []

    async def emit(name: str, payload: BaseModel) -> None:
        frames.append(sse_frame(name, payload))

    state.metrics.inflight.inc()
    try:
        result = await state.selection.run(prepared, selection_id, emit)
    finally:
        state.metrics.inflight.dec()
        slot.release()
    frames.append(sse_frame("result", result))

    async def replay() -> AsyncIterator[str]:
        for frame in frames:
            yield frame

    return StreamingResponse(replay(), media_type="text/event-stream",
                             headers=_SSE_HEADERS)


async def _stream(
    state: ServiceState, prepared: PreparedSelection, selection_id: str, slot: Slot
) -> AsyncIterator[str]:
    """Run the selection as a task feeding a queue; cancel it (aborting its engine requests) if the client goes."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    async def emit(name: str, payload: BaseModel) -> None:
        await queue.put(sse_frame(name, payload))

    async def produce() -> None:
        try:
            result = await state.selection.run(prepared, selection_id, emit)
            await queue.put(sse_frame("result", result))
        except ApiError as exc:
            state.metrics.errors.labels(exc.code or "error").inc()
            await queue.put(sse_frame("error", ErrorResponse(error=exc.detail())))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = internal_error(exc)
            state.metrics.errors.labels(error.code or "error").inc()
            await queue.put(sse_frame("error", ErrorResponse(error=error.detail())))
        finally:
            await queue.put(None)

    state.metrics.inflight.inc()
    task = asyncio.create_task(produce(), name=f"select-{selection_id}")
    try:
        while (frame := await next_frame(queue, state.settings.stream_keepalive_s)) is not None:
            yield frame
    finally:
        if not task.done():
            logger.info("client left stream %s: cancelling its judge requests", selection_id)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        state.metrics.inflight.dec()
        slot.release()
