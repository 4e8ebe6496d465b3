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


class JudgeBackend(Protocol):
    supports_pointwise: bool

    async def select(self, problem: str, codes: list[str], strategy: str, request_id: str) -> dict[str, Any]: ...

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
    async def start(cls, model: str, options: JudgeOptions, max_candidates: int) -> InProcessBackend:
        from daj.models import resolve_model
        from service.adapters import AdapterRegistry
        from service.cache import MemoryVerdictCache
        from service.engine.vllm_local import VllmEngine
        from service.metrics import Metrics
        from service.selection import SelectionService
        from service.settings import Settings

        adapters_dir = options.adapter.resolve().parent if options.adapter else Path(os.devnull)
        settings = Settings(
            model=model,
            adapters_dir=adapters_dir,
            default_adapter=None,
            redis_url=None,
            max_candidates=max(max_candidates, 2),
            api_keys=[],
        )
        registry = AdapterRegistry(adapters_dir)
        if options.adapter is not None:
            _check_adapter(registry, options.adapter)
        engine = VllmEngine(
            resolve_model(settings.model, settings.cache_dir),
            max_model_len=settings.max_model_len,
            kv_cache_gib=settings.kv_cache_gib,
        )
        await engine.start()
        cache = MemoryVerdictCache(settings.cache_max_entries, settings.cache_ttl_s)
        service = SelectionService(engine, cache, registry, settings, Metrics())
        return cls(service, options)

    async def select(self, problem: str, codes: list[str], strategy: str, request_id: str) -> dict[str, Any]:
        from service.errors import ApiError
        from service.protocol import SelectRequest

        request = SelectRequest(
            problem=problem,
            candidates=list(codes),
            strategy=strategy,
            orders=self.options.orders,
            mode=self.options.mode,
            adapter=self.options.adapter.name if self.options.adapter else None,
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


def _check_adapter(registry: Any, adapter: Path) -> None:
    """Fail before the engine starts, not once per selection."""
    from service.errors import ApiError

    try:
        registry.get(adapter.name)
    except ApiError as exc:
        raise ValueError(f"--adapter {adapter}: {exc.message}") from exc


class HttpBackend:
    """A running service, through the client SDK (`daj_client`)."""

    supports_pointwise = False

    def __init__(self, url: str, options: JudgeOptions) -> None:
        import daj_client

        self.client = daj_client.AsyncClient(base_url=url)
        self.options = options

    async def select(self, problem: str, codes: list[str], strategy: str, request_id: str) -> dict[str, Any]:
        import daj_client

        options: dict[str, Any] = {"strategy": strategy, "orders": self.options.orders, "mode": self.options.mode}
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
