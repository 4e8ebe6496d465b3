"""Where judge verdicts come from: the service's own code in-process, or a running service over HTTP.

In-process builds exactly what the service's lifespan builds (a `VllmEngine`, a `SelectionService` with an
in-process verdict cache, an `AdapterRegistry`, `Metrics`, `Settings`) and calls `prepare` + `run`, so the
numbers are those of the code path users get. Both backends return the response as a plain dict with the
`SelectResponse` field names (the client SDK mirrors the service's models).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from evaluation.pointwise import PointwiseScore, PointwiseScorer


class SelectionRejected(Exception):
    """The service refused one selection (a 4xx, e.g. a candidate over the context): recorded, not fatal."""


@dataclass(frozen=True)
class JudgeOptions:
    mode: str = "verdict"
    orders: str = "both"
    adapter: Path | None = None  # folder of a LoRA adapter
    shipped: bool = False  # the service's default judge, served as `daj serve` serves it (merged on the CPU)


class JudgeBackend(Protocol):
    supports_pointwise: bool

    async def select(
        self, problem: str, codes: list[str], strategy: str, request_id: str, execution: str = "off"
    ) -> dict[str, Any]: ...

    async def score(self, problem: str, code: str, request_id: str) -> PointwiseScore: ...

    async def close(self) -> None: ...


class InProcessBackend:
    """The service's selection code on an engine in this process."""

    supports_pointwise = True

    def __init__(self, service: Any, options: JudgeOptions, scorer: Any | None = None) -> None:
        self.service = service
        self.options = options
        self.scorer = scorer if scorer is not None else PointwiseScorer(service.engine)

    @classmethod
    async def start(cls, model: str, options: JudgeOptions, max_candidates: int,
                    require_execution: bool = False) -> InProcessBackend:
        """The engine and selection service `daj serve` would build: with `options.shipped`, the default adapter
        from the adapters folder, merged into the base weights on the CPU exactly as the service does. With
        `require_execution` (an exec+judge evaluation) a sandbox that fails its self-check stops the run: the
        service would fall back to the judge alone, and the numbers would be those of another method."""
        from service.embedded import Metrics, SelectionService, build_engine

        settings = eval_settings(model, options, max_candidates)
        metrics = Metrics()
        # The sandbox's self-check first: before the engine loads, so its start cannot starve the check's clock.
        executor = await start_executor(settings, metrics)
        if require_execution and not executor.available:
            executor.close()
            raise RuntimeError(f"the sandbox is unavailable here ({executor.error}): exec+judge would be judge-only")
        engine = build_engine(settings)
        service = SelectionService.build(settings, engine, verdict_cache(settings), executor, metrics)
        if options.adapter is not None:
            _check_adapter(service, options.adapter)
        await engine.start()
        return cls(service, options)

    async def select(
        self, problem: str, codes: list[str], strategy: str, request_id: str, execution: str = "off"
    ) -> dict[str, Any]:
        from service.embedded import ApiError, SelectRequest

        request = SelectRequest(
            problem=problem,
            candidates=list(codes),
            strategy=strategy,
            orders=self.options.orders,
            mode=self.options.mode,
            adapter=self.options.adapter.name if self.options.adapter else None,
            execution=execution,
        )
        try:
            prepared = self.service.prepare(request)
            response = await self.service.run(prepared, request_id)
        except ApiError as exc:
            if exc.status >= 500:
                raise
            raise SelectionRejected(f"{exc.status} {exc.code}: {exc.message}") from exc
        return response.model_dump(mode="json")

    async def score(self, problem: str, code: str, request_id: str) -> PointwiseScore:
        return await self.scorer.score(problem, code, request_id)

    async def close(self) -> None:
        await self.service.engine.close()
        if self.service.executor is not None:
            self.service.executor.close()


def verdict_cache(settings: Any) -> Any:
    """The verdict cache of an evaluation: on disk under the cache dir, keyed exactly as the service's."""
    from evaluation.disk_cache import DiskCache
    from service.embedded import CachedVerdict

    return DiskCache(CachedVerdict.from_json, settings.cache_dir / "eval-verdicts")


def eval_settings(model: str, options: JudgeOptions, max_candidates: int) -> Any:
    """The service's settings for an evaluation: its defaults (execution, prompt, combine rule) plus the judge
    the options name. No Redis: verdicts and runs are cached in the process (runs also on disk)."""
    from service.embedded import Settings

    common: dict[str, Any] = {"model": model, "redis_url": None, "max_candidates": max(max_candidates, 2),
                              "api_keys": []}
    if options.shipped:
        return Settings(**common)
    adapters_dir = options.adapter.resolve().parent if options.adapter else Path(os.devnull)
    return Settings(**common, adapters_dir=adapters_dir, default_adapter=None, merge_default_adapter="off")


async def start_executor(settings: Any, metrics: Any) -> Any:
    """The service's executor over the disk cache, after its self-check (which must pass for execution)."""
    from daj.probes import CandidateRun
    from evaluation.disk_cache import DiskCache
    from service.embedded import Executor

    executor = Executor(settings, DiskCache(CandidateRun.from_json), metrics)
    await executor.self_check()
    return executor


class ExecutionBackend:
    """Execution without a judge: the service's plan, sandbox runs and grouping, for the exec-* methods."""

    def __init__(self, service: Any) -> None:
        self.service = service

    @classmethod
    async def start(cls, max_candidates: int) -> ExecutionBackend:
        from service.embedded import MemoryVerdictCache, Metrics, SelectionService

        # No budget to speak of: the exec-* methods measure what execution picks, not how it copes with a queue.
        settings = eval_settings("none", JudgeOptions(), max_candidates).model_copy(
            update={"execution_budget_s": 600.0})
        metrics = Metrics()
        executor = await start_executor(settings, metrics)
        if not executor.available:
            raise RuntimeError(f"the sandbox is unavailable here: {executor.error}")
        service = SelectionService.build(settings, None, MemoryVerdictCache(1, 1), executor, metrics)
        return cls(service)

    async def group(self, problem: str, codes: list[str]) -> Any:
        """The grouping of these candidates, or None when the service would not run them (no entry point, nothing
        to run, nothing told apart). A sandbox failure or a blown budget raises (`required`): an evaluation must
        not record it as a pick."""
        from service.embedded import SelectRequest

        request = SelectRequest(problem=problem, candidates=list(codes))
        plan = self.service.plan_execution(request, list(codes))
        executed, _ = await self.service.execute(plan, list(codes), required=True)
        return executed.grouping if executed is not None else None

    async def close(self) -> None:
        self.service.executor.close()


def _check_adapter(service: Any, adapter: Path) -> None:
    """Fail before the engine starts, not once per selection."""
    from service.embedded import ApiError

    try:
        service.adapters.get(adapter.name)
    except ApiError as exc:
        raise ValueError(f"--adapter {adapter}: {exc.message}") from exc


class HttpBackend:
    """A running service, through the client SDK (`daj_client`)."""

    supports_pointwise = False

    def __init__(self, url: str, options: JudgeOptions) -> None:
        import daj_client

        self.client = daj_client.AsyncClient(base_url=url)
        self.options = options

    async def select(
        self, problem: str, codes: list[str], strategy: str, request_id: str, execution: str = "off"
    ) -> dict[str, Any]:
        import daj_client

        options: dict[str, Any] = {"strategy": strategy, "orders": self.options.orders, "mode": self.options.mode,
                                   "execution": execution}
        if self.options.adapter is not None:
            options["adapter"] = self.options.adapter.name  # the service must know it under this name
        try:
            response = await self.client.select(problem, codes, **options)
        except daj_client.BadRequestError as exc:
            raise SelectionRejected(f"{exc.status_code} {exc.code}: {exc.message}") from exc
        return response.model_dump(mode="json")

    async def score(self, problem: str, code: str, request_id: str) -> PointwiseScore:
        raise NotImplementedError("the service has no pointwise endpoint; run pointwise in-process (without --url)")

    async def close(self) -> None:
        await self.client.aclose()
