"""Operations endpoints: liveness, readiness, metrics, adapters."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from service.auth import require_api_key
from service.errors import ApiError, ErrorResponse
from service.protocol import ExecutorInfo, ReadyResponse
from service.state import ServiceState

router = APIRouter(tags=["ops"])
guarded = APIRouter(tags=["ops"], dependencies=[Depends(require_api_key)])


def _state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.daj
    return state


@router.get("/health", responses={503: {"model": ErrorResponse, "description": "the engine died after loading"}})
async def health(request: Request) -> dict[str, str]:
    """Liveness: the process answers (the engine may still be loading). Never needs a key. 503 once the engine
    has died after loading, so an orchestrator restarts the process."""
    if _state(request).engine_dead:
        raise ApiError(503, "the judge engine died; restart the service", "engine_dead")
    return {"status": "ok"}


@guarded.get("/ready", responses={503: {"model": ErrorResponse, "description": "engine or Redis not available"}})
async def ready(request: Request) -> ReadyResponse:
    """Readiness: the engine is loaded and healthy, and Redis is reachable (or not configured). `sandbox` says
    whether candidates can run (`ok`) or why not; without it selections still run, on the judge alone. `dtype`
    and `dtype_reason` say what the judge computes in and why.

    While the judge loads, 503 with code `execution_only` once the sandbox works (selections that execution alone
    decides are answered, the rest get 503 `engine_loading`), else `engine_loading` (none is answered yet)."""
    state = _state(request)
    if state.answers_while_loading:
        raise ApiError(503, f"{state.loading_status()}; selections that execution alone decides are answered "
                       "meanwhile, the rest get 503 engine_loading", "execution_only", headers={"Retry-After": "5"})
    state.require_engine()
    try:
        await state.engine.check_health()
    except Exception as exc:
        raise ApiError(503, f"engine unhealthy: {exc}", "engine_unhealthy") from exc
    if state.cache.kind == "redis" and not await state.cache.ping():
        raise ApiError(503, "Redis is configured but unreachable (selections still run, uncached)",
                       "cache_unreachable")
    executor = state.executor
    if not executor.checked:
        raise ApiError(503, "the sandbox self-check is running", "sandbox_checking", headers={"Retry-After": "1"})
    if executor.available:
        sandbox = "ok" if executor.error is None else executor.error  # `degraded: ...` with an executor down
    else:
        sandbox = f"unavailable: {executor.error}"
    choice = state.engine.dtype_choice
    return ReadyResponse(cache=state.cache.kind, sandbox=sandbox, dtype=choice.dtype if choice else None,
                         dtype_reason=choice.reason if choice else None,
                         engine_load_s=round(state.engine_load_s, 1) if state.engine_load_s is not None else None,
                         startup_s=dict(state.engine.startup_s),
                         executors=[ExecutorInfo(**vars(e)) for e in executor.runner.executors()])


@guarded.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus metrics."""
    return Response(_state(request).metrics.render(), media_type="text/plain; version=0.0.4")


@guarded.get("/v1/adapters")
async def adapters(request: Request) -> dict[str, list[dict[str, str]]]:
    """LoRA adapters the service can use (rescans the adapters folder), and how each is served: `lora` on top
    of the base model, or `merged` into the base weights at start-up (then it is the only one)."""
    registry = _state(request).adapters
    registry.rescan()
    listed = [registry.get(name) for name in registry.names()]
    serving = "merged" if registry.merged else "lora"
    return {"adapters": [{"name": a.name, "hash": a.content_hash, "serving": serving} for a in listed]}
