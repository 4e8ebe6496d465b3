"""What the service builds once at start-up and every request shares (kept on `app.state.daj`)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from daj.probes import CandidateRun
from service.adapters import AdapterRegistry
from service.cache import Cache, MemoryCache, MemoryVerdictCache, RedisCache, RedisVerdictCache, VerdictCache
from service.engine.base import JudgeEngine
from service.errors import ApiError
from service.execution import Executor
from service.limiter import ConcurrencyLimiter
from service.metrics import Metrics
from service.rewards.batch import RewardService
from service.rewards.openrlhf import OpenRLHFBatcher
from service.runners import RemoteRunner, Runner
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


def build_runner(settings: Settings) -> Runner | None:
    """Executor services when `executor_urls` lists some; else None (the executor's in-process pool)."""
    if not settings.executor_urls:
        return None
    return RemoteRunner(settings.executor_urls, settings.executor_token, settings.executor_probe_s)


@dataclass
class ServiceState:
    settings: Settings
    engine: JudgeEngine
    metrics: Metrics = field(default_factory=Metrics)
    owns_engine: bool = True  # False when the engine was handed in (tests share one across apps)
    engine_ready: bool = False
    engine_error: str | None = None
    engine_started_at: float | None = None  # time.monotonic() when the engine began to load
    engine_load_s: float | None = None  # how long it took
    cache: VerdictCache = field(init=False)
    executor: Executor = field(init=False)
    adapters: AdapterRegistry = field(init=False)
    limiter: ConcurrencyLimiter = field(init=False)
    selection: SelectionService = field(init=False)
    rewards: RewardService = field(init=False)
    openrlhf: OpenRLHFBatcher = field(init=False)
    _startup: asyncio.Task[None] | None = field(default=None, repr=False)
    _sandbox_check: asyncio.Task[None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.cache = build_cache(self.settings, self.metrics)
        self.executor = Executor(self.settings, build_execution_cache(self.settings, self.metrics), self.metrics,
                                 runner=build_runner(self.settings))
        self.selection = SelectionService.build(self.settings, self.engine, self.cache, self.executor, self.metrics,
                                                gate=self)
        self.adapters = self.selection.adapters
        self.rewards = RewardService(self.settings, self.executor, self.metrics, self.selection)
        self.openrlhf = OpenRLHFBatcher(self.rewards, self.settings.rewards_openrlhf_window_s)
        self.limiter = ConcurrencyLimiter(self.settings.max_concurrent_requests)

    def start_engine_in_background(self) -> None:
        """Load the engine without blocking start-up: /health answers at once, /ready once it is loaded. The
        sandbox self-check runs beside it; until it passes, selections run judge-only (and say so)."""
        self._startup = asyncio.create_task(self._start_engine(), name="engine-startup")
        self._sandbox_check = asyncio.create_task(self.executor.self_check(), name="sandbox-self-check")

    async def _start_engine(self) -> None:
        self.engine_started_at = time.monotonic()
        try:
            await self.engine.start()
            self.engine_ready = True
            self.engine_load_s = time.monotonic() - self.engine_started_at
            logger.info("engine ready in %.1f s", self.engine_load_s)
            if (choice := self.engine.dtype_choice) is not None:
                self.metrics.judge_dtype.labels(choice.dtype, choice.reason).set(1)
        except Exception as exc:
            self.engine_error = f"{type(exc).__name__}: {exc}"
            logger.error("engine failed to start: %s", self.engine_error, exc_info=exc)

    @property
    def answers_while_loading(self) -> bool:
        """While the judge loads, selections that execution decides are answered: once the sandbox works."""
        return not self.engine_ready and not self.engine_error and self.executor.available

    def require_engine(self) -> None:
        if self.engine_error:
            raise ApiError(503, f"engine failed to start: {self.engine_error}", "engine_failed")
        if not self.engine_ready:
            raise ApiError(503, f"{self.loading_status()}: this request needs the judge (only selections that "
                           "execution alone decides are answered until it is ready)", "engine_loading",
                           headers={"Retry-After": "5"})

    def loading_status(self) -> str:
        if self.engine_started_at is None:
            return "engine is loading"
        return f"engine is loading ({time.monotonic() - self.engine_started_at:.0f} s so far)"

    @property
    def engine_dead(self) -> bool:
        """The engine loaded once and has died since (only a restart helps)."""
        return self.engine_ready and self.engine.dead

    async def close(self) -> None:
        self.selection.shutting_down = True
        # The build runs in a thread that cannot be cancelled: make it fail fast, then shut the engine down.
        while self._startup is not None and not self._startup.done():
            if self.owns_engine:
                self.engine.abandon_start()
            await asyncio.wait({self._startup}, timeout=0.5)
        if self._sandbox_check is not None and not self._sandbox_check.done():
            await asyncio.wait({self._sandbox_check})
        await self.openrlhf.close()
        await self.executor.aclose()
        if self.owns_engine:
            await self.engine.close()
        await self.cache.close()
        await self.executor.cache.close()
