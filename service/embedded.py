"""The service's public entry points besides HTTP: its selection pipeline, built in another program.

Evaluation runs the very code path users get (the same planning, sandbox runs, grouping, prompts, verdict cache
keys, tournament and combine rule) by building the service here, with its own caches, instead of reaching into the
modules below. Everything else in `service/` is internal: the import contracts in pyproject.toml let `evaluation` import
this module and nothing else of the service.
"""

from __future__ import annotations

from service.app import build_engine, create_app
from service.cache import Cache, CachedVerdict, MemoryVerdictCache, Storable, VerdictCache
from service.engine.base import JudgeEngine
from service.engine.vllm_local import resolve_dtype
from service.errors import ApiError
from service.execution import Executor
from service.metrics import Metrics
from service.pipeline import seeded_order, with_consensus
from service.protocol import SelectRequest, SelectResponse
from service.selection import SelectionService
from service.settings import Settings
from service.tournament import Knockout, MatchOutcome, OrderedVerdict, merge_orders

__all__ = [
    "ApiError",
    "Cache",
    "CachedVerdict",
    "Executor",
    "JudgeEngine",
    "Knockout",
    "MatchOutcome",
    "MemoryVerdictCache",
    "Metrics",
    "OrderedVerdict",
    "SelectRequest",
    "SelectResponse",
    "SelectionService",
    "Settings",
    "Storable",
    "VerdictCache",
    "build_engine",
    "create_app",
    "merge_orders",
    "resolve_dtype",
    "seeded_order",
    "with_consensus",
]
