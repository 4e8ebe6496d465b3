"""Operations endpoints: liveness, readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.errors import ApiError
from service.state import ServiceState

router = APIRouter(tags=["ops"])


def _state(request: Request) -> ServiceState:
    return request.app.state.daj  # type: ignore[no-any-return]


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: the process answers (the engine may still be loading)."""
    return {"status": "ok"}


@router.get("/ready", responses={503: {"description": "engine not loaded yet or failed"}})
async def ready(request: Request) -> JSONResponse:
    """Readiness: the engine is loaded and healthy."""
    state = _state(request)
    if state.engine_error:
        raise ApiError(503, f"engine failed to start: {state.engine_error}", code="engine_failed")
    if not state.engine_ready:
        raise ApiError(503, "engine is loading", code="engine_loading", headers={"Retry-After": "5"})
    try:
        await state.engine.check_health()
    except Exception as exc:
        raise ApiError(503, f"engine unhealthy: {exc}", code="engine_unhealthy") from exc
    return JSONResponse({"status": "ready", "engine": "ok"})
