"""What the service builds once at start-up and every request shares (kept on `app.state.daj`)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from daj.probes import CandidateRun
from service.adapters import AdapterRegistry
from service.cache import Cache, MemoryCache, MemoryVerdictCache, RedisCache, RedisVerdictCache, VerdictCache
from service.engine.base import JudgeEngine
from service.errors import ApiError
from service.execution import Executor
from service.limiter import ConcurrencyLimiter
from service.metrics import Metrics
from service.selection import SelectionService
from service.settings import Settings

logger = logging.getLogger(__name__)


def build_cache(settings: Settings, metrics: Metrics) -> VerdictCache:
    if settings.redis_url:
        return RedisVerdictCache(settings.redis_url, settings.cache_ttl_s,
                                 on_error=lambda op: metrics.cache_errors.labels(op).inc())
    return MemoryVerdictCache(settings.cache_max_entries, settings.cache_ttl_s)


def build_execution_cache(settings: Settings, metrics: Metrics) -> Cache[CandidateRun]:
    if settings.redis_url:
        return RedisCache(settings.redis_url, settings.cache_ttl_s, CandidateRun.from_json,
                          on_error=lambda op: metrics.cache_errors.labels(f"execution_{op}").inc())
    return MemoryCache(settings.execution_cache_entries, settings.cache_ttl_s)


@dataclass
class ServiceState:
    settings: Settings
    engine: JudgeEngine
    metrics: Metrics = field(default_factory=Metrics)
    owns_engine: bool = True  # False when the engine was handed in (tests share one across apps)
    engine_ready: bool = False
    engine_error: str | None = None
    cache: VerdictCache = field(init=False)
    executor: Executor = field(init=False)
    adapters: AdapterRegistry = field(init=False)
    limiter: ConcurrencyLimiter = field(init=False)
    selection: SelectionService = field(init=False)
    _startup: asyncio.Task[None] | None = field(default=None, repr=False)
    _sandbox_check: asyncio.Task[None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.cache = build_cache(self.settings, self.metrics)
        self.executor = Executor(self.settings, build_execution_cache(self.settings, self.metrics), self.metrics)
        self.selection = SelectionService.build(self.settings, self.engine, self.cache, self.executor, self.metrics)
        self.adapters = self.selection.adapters
        self.limiter = ConcurrencyLimiter(self.settings.max_concurrent_requests)

    def start_engine_in_background(self) -> None:
        """Load the engine without blocking start-up: /health answers at once, /ready once it is loaded. The
        sandbox self-check runs beside it; until it passes, selections run judge-only (and say so)."""
        self._startup = asyncio.create_task(self._start_engine(), name="engine-startup")
        self._sandbox_check = asyncio.create_task(self.executor.self_check(), name="sandbox-self-check")

    async def _start_engine(self) -> None:
        try:
            await self.engine.start()
            self.engine_ready = True
            logger.info("engine ready")
        except Exception as exc:
            self.engine_error = f"{type(exc).__name__}: {exc}"
            logger.error("engine failed to start: %s", self.engine_error, exc_info=exc)

    def require_engine(self) -> None:
        if self.engine_error:
            raise ApiError(503, f"engine failed to start: {self.engine_error}", "engine_failed")
        if not self.engine_ready:
            raise ApiError(503, "engine is loading", "engine_loading", headers={"Retry-After": "5"})

    @property
    def engine_dead(self) -> bool:
        """The engine loaded once and has died since (only a restart helps)."""
        return self.engine_ready and self.engine.dead

    async def close(self) -> None:
        self.selection.shutting_down = True
        if self._startup is not None and not self._startup.done():
            # The build runs in a thread that cannot be cancelled: let it finish, then shut the engine down.
            await asyncio.wait({self._startup})
        if self._sandbox_check is not None and not self._sandbox_check.done():
            await asyncio.wait({self._sandbox_check})
        self.executor.close()
        if self.owns_engine:
            await self.engine.close()
        await self.cache.close()
        await self.executor.cache.close()
