"""The FastAPI application: built by `create_app(settings)`; state is created in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from daj import __version__
from daj.models import resolve_model
from service.engine.base import JudgeEngine
from service.errors import install_error_handlers
from service.routes import ops
from service.settings import Settings
from service.state import ServiceState


def build_engine(settings: Settings) -> JudgeEngine:
    from service.engine.vllm_local import VllmEngine

    model_path = resolve_model(settings.model, settings.cache_dir)
    return VllmEngine(model_path, max_model_len=settings.max_model_len, kv_cache_gib=settings.kv_cache_gib)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = ServiceState(settings=settings, engine=build_engine(settings))
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
    return app
