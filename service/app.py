"""The FastAPI application: built by `create_app(settings)`; shared state is created in the lifespan."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from daj import __version__
from daj.lora import Adapter, adapter_content_hash, adapter_prompt_version, merge_problem, prompt_version_problem
from daj.models import resolve_model
from daj.protocol import PROMPT_VERSIONS
from service.engine.base import JudgeEngine
from service.errors import ApiError, install_error_handlers
from service.routes import ops, rewards, select
from service.settings import Settings
from service.state import ServiceState

logger = logging.getLogger(__name__)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# JSON escaping can double a field's size; the rest of a request is small.
_BODY_OVERHEAD_BYTES = 64 * 1024


def merged_default_adapter(settings: Settings) -> Adapter | None:
    """The default adapter to fold into the base weights, or None to serve adapters through LoRA."""
    mode, name = settings.merge_default_adapter, settings.default_adapter
    if mode == "off" or not name or settings.backend != "vllm":
        return None
    if mode == "auto":
        from service.engine.vllm_local import vllm_runs_on_cpu

        if not vllm_runs_on_cpu():  # on a GPU LoRA costs little and keeps every adapter available
            return None
    folder = settings.adapters_dir / name
    if (refused := prompt_version_problem(folder, PROMPT_VERSIONS)) is not None:
        raise ValueError(f"default adapter {name!r} cannot be served: {refused}")
    problem = merge_problem(folder)
    if problem is None:
        return Adapter(name, folder.resolve(), adapter_content_hash(folder), int_id=0,
                       prompt_version=adapter_prompt_version(folder))
    if mode == "on":
        raise ValueError(f"DAJ_MERGE_DEFAULT_ADAPTER=on: adapter {name!r} cannot be merged: {problem}")
    logger.warning("serving adapter %s through LoRA: it cannot be merged (%s)", name, problem)
    return None


def build_engine(settings: Settings) -> JudgeEngine:
    model_path = resolve_model(settings.model, settings.cache_dir)
    if settings.engine_urls:
        from service.engine.pool import EnginePool
        from service.engine.remote import RemoteEngine

        return EnginePool([RemoteEngine(url, tokenizer_path=model_path, api_key=None) for url in settings.engine_urls])
    if settings.backend == "remote":
        from service.engine.remote import RemoteEngine

        if not settings.remote_url:
            raise ValueError("DAJ_BACKEND=remote needs DAJ_REMOTE_URL")
        return RemoteEngine(settings.remote_url, tokenizer_path=model_path, api_key=None)
    from service.engine.vllm_local import VllmEngine

    return VllmEngine(model_path, max_model_len=settings.max_model_len, kv_cache_gib=settings.kv_cache_gib,
                      merged_adapter=merged_default_adapter(settings), merge_cache_dir=settings.cache_dir,
                      dtype=settings.dtype, compile=settings.compile,
                      compile_cache_dir=settings.cache_dir / "vllm-compile")


def max_body_bytes(settings: Settings) -> int:
    return 2 * settings.max_field_chars * (settings.max_candidates + 1) * 2 + _BODY_OVERHEAD_BYTES


def create_app(settings: Settings | None = None, engine: JudgeEngine | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = ServiceState(settings=settings, engine=engine or build_engine(settings), owns_engine=engine is None)
        app.state.daj = state
        state.start_engine_in_background()
        try:
            yield
        finally:
            await state.close()

    app = FastAPI(title="daj", version=__version__, summary="Best-of-N code selection with a pairwise judge.",
                  lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(ops.router)
    app.include_router(ops.guarded)
    app.include_router(select.router)
    app.include_router(rewards.router)
    body_limit = max_body_bytes(settings)
    rewards_body_limit = settings.rewards_max_body_mb << 20

    @app.middleware("http")
    async def request_context(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Request id, body-size limit, and per-path metrics for every request."""
        incoming = request.headers.get("x-request-id", "")
        request.state.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        started = time.perf_counter()
        length = request.headers.get("content-length")
        rewards_path = request.url.path.startswith(("/rewards", "/v1/rewards"))
        limit = rewards_body_limit if rewards_path else body_limit
        if length is not None and (not length.isdigit() or int(length) > limit):
            why = "rewards_max_body_mb" if rewards_path else "derived from max_candidates and max_field_chars"
            response: Response = ApiError(413, f"request body over {limit} bytes ({why})",
                                          "body_too_large").response()
        else:
            try:
                response = await call_next(request)
            except asyncio.CancelledError:
                # uvicorn cancels handlers still running when the graceful-shutdown period ends; answer in the
                # one error shape (a retryable 503) instead of a bare 500 text.
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()
                response = ApiError(503, "the service is shutting down; retry the selection", "shutting_down",
                                    headers={"Retry-After": "1"}).response()
        response.headers["x-request-id"] = request.state.request_id
        state = getattr(request.app.state, "daj", None)
        if state is not None:
            route = request.scope.get("route")
            path = getattr(route, "path", "other")  # no route matched (a 404): one label for all of them
            state.metrics.requests.labels(path, str(response.status_code)).inc()
            state.metrics.request_latency.labels(path).observe(time.perf_counter() - started)
        return response

    return app
