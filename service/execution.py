"""Execution inside the service: run each distinct candidate once over the probe set, in the sandbox.

One confined process per candidate (sandbox/runner.py), a time limit per probe, a bounded thread pool so the
event loop never blocks, a time budget per request, and a cache of results keyed by the program's hash, the
probe set's hash, the harness version and the limits (Redis when configured, else an in-process LRU).
"""

from __future__ import annotations

import asyncio
import logging
import math
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from daj.probes import CandidateRun, ProbeSet
from sandbox import (
    Limits,
    SandboxError,
    TestSpec,
    execute,
    generator_spec,
    probe_spec,
    probes,
    run_key,
    run_limits,
    stdio,
)
from service.cache import Cache
from service.metrics import Metrics
from service.settings import Settings

logger = logging.getLogger(__name__)

EXECUTION_KEY_PREFIX = "daj:exec:v1:"
_SELF_CHECK_PROGRAM = "def daj_self_check(x):\n    return sorted({x, 2 * x, x})\n"
_SELF_CHECK_CALL = {"kind": "check", "call": "daj_self_check(21)", "expected": "[21, 42]"}
# The host's speed, measured once at start-up: a fixed CPU loop, run as a whole program three times (the least CPU
# time counts) against its time on the reference host. Whole programs' default time limits (the statement's, else
# 2 s) are scaled by it, so a slow host does not fail correct programs a judge on a normal host would accept.
_SPEED_PROGRAM = "total = 0\nfor i in range(1_000_000):\n    total += i * i % 7\nprint(total)\n"
REFERENCE_SPEED_CPU_S = 0.086
"""The loop's CPU seconds on the reference host: Intel Xeon (family 6, model 167; AVX-512, AMX), Python 3.11."""
MAX_SPEED_FACTOR = 4.0


class ExecutionUnavailable(Exception):
    """The sandbox cannot run here (self-check failed) or broke during a run."""


class ExecutionBudgetExceeded(Exception):
    """The candidates did not all finish within the request's execution budget."""


@dataclass(frozen=True)
class ExecutionRun:
    runs: dict[str, CandidateRun]  # by program text
    fresh_runs: int
    cached_runs: int
    elapsed_s: float


def execution_cache_key(code: str, spec_digest: str, limits: Limits, python: str) -> str:
    """The cache key of one run: `sandbox.run_key` in the service's cache namespace."""
    return EXECUTION_KEY_PREFIX + run_key(code, spec_digest, limits, python)


def limits_from(settings: Settings) -> Limits:
    return Limits(wall_seconds=settings.execution_wall_s, cpu_seconds=settings.execution_cpu_s,
                  memory_mb=settings.execution_memory_mb)


class Executor:
    """Runs candidates in the sandbox for the selection service; `available` after a passing self-check."""

    def __init__(self, settings: Settings, cache: Cache[CandidateRun], metrics: Metrics,
                 python: str | None = None) -> None:
        self.settings = settings
        self.cache = cache
        self.metrics = metrics
        self.python = python or sys.executable
        self.limits = limits_from(settings)
        self._pool = ThreadPoolExecutor(max_workers=settings.execution_workers, thread_name_prefix="sandbox")
        self.available = False
        self.checked = False  # the start-up self-check has finished (passed or not)
        self.error: str | None = "the sandbox self-check has not run yet"
        self.speed_factor = 1.0  # measured by self_check: whole programs' default time limits are scaled by it

    def spec(self, probe_set: ProbeSet) -> TestSpec:
        return probe_spec(probe_set, self.settings.execution_case_s, self.settings.execution_output_chars)

    async def self_check(self) -> None:
        """Run a known program once: the sandbox works on this host only if it gives the known answer."""
        spec = probes([_SELF_CHECK_CALL], "daj_self_check", case_seconds=5.0)
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._pool, execute, _SELF_CHECK_PROGRAM, spec, self.limits,
                                                self.python)
        except (SandboxError, OSError, subprocess.SubprocessError) as exc:
            self.checked = True
            self._unavailable(f"{type(exc).__name__}: {exc}")
            return
        if result.cases != "P" or result.outputs != ["[21, 42]"]:
            self.checked = True
            self._unavailable(f"self-check gave {result.status} {result.cases!r} {result.outputs!r}")
            return
        self.speed_factor = await self._measure_speed()
        self.checked = True
        self.available, self.error = True, None
        self.metrics.sandbox_ready.set(1)
        logger.info("sandbox self-check passed in %.2f s; speed factor %.2f", result.duration, self.speed_factor)

    async def _measure_speed(self) -> float:
        """How much slower than the reference host this one runs Python: at least 1, at most MAX_SPEED_FACTOR,
        rounded down to a step of 0.5, so that a busy host (other processes share its cores and caches: CPU time
        grows a little) keeps its factor, and the time limits and the cache keys that hold them stay put."""
        spec = stdio([{"kind": "stdin", "stdin": "", "expected": None}] * 3, case_seconds=5.0)
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._pool, execute, _SPEED_PROGRAM, spec, self.limits, self.python)
        except (SandboxError, OSError, subprocess.SubprocessError) as exc:
            logger.warning("speed not measured (%s): time limits are not scaled", exc)
            return 1.0
        times = [t for t in result.times if t is not None]
        if result.cases != "PPP" or not times:
            logger.warning("speed not measured (%s %r): time limits are not scaled", result.status, result.cases)
            return 1.0
        ratio = min(times) / REFERENCE_SPEED_CPU_S
        return min(MAX_SPEED_FACTOR, max(1.0, math.floor(ratio * 2) / 2))

    def _unavailable(self, reason: str) -> None:
        self.available, self.error = False, reason
        self.metrics.sandbox_ready.set(0)
        logger.warning("sandbox unavailable, selections fall back to the judge alone: %s", reason)

    def run_limits(self, probe_set: ProbeSet) -> Limits:
        """The limits of one candidate's run over this probe set (`sandbox.run_limits`)."""
        return run_limits(probe_set, self.limits, self.settings.execution_case_s, self.settings.execution_budget_s)

    async def run(self, codes: Sequence[str], probe_set: ProbeSet, budget_s: float) -> ExecutionRun:
        """Every distinct program once (cached ones not at all), all within `budget_s` seconds."""
        started = time.perf_counter()
        spec = self.spec(probe_set)
        digest = spec.digest()
        limits = self.run_limits(probe_set)
        distinct = list(dict.fromkeys(codes))
        keys = [execution_cache_key(code, digest, limits, self.python) for code in distinct]
        hits = await self.cache.get_many(keys)
        runs = {code: hit for code, hit in zip(distinct, hits, strict=True) if hit is not None}
        self.metrics.execution_cache.labels("hit").inc(len(runs))
        todo = [(code, key) for code, key, hit in zip(distinct, keys, hits, strict=True) if hit is None]
        self.metrics.execution_cache.labels("miss").inc(len(todo))
        loop = asyncio.get_running_loop()
        futures = {loop.run_in_executor(self._pool, execute, code, spec, limits, self.python): (code, key)
                   for code, key in todo}
        done, pending = await asyncio.wait(futures, timeout=budget_s) if futures else (set(), set())
        for future in pending:
            future.cancel()  # the queued ones never start; running ones end at their own wall limit
        fresh, failure = {}, None
        for future in done:
            code, key = futures[future]
            if future.exception() is not None:
                failure = future.exception()
                continue
            result = future.result()
            self.metrics.sandbox_runs.labels(result.status).inc()
            self.metrics.sandbox_seconds.observe(result.duration)
            runs[code] = fresh[key] = CandidateRun.from_result(result, len(probe_set.probes))
        await self.cache.set_many(fresh)  # what finished is kept, even when the selection cannot use it
        if failure is not None:
            # One failed run (a full process table, a transient error) fails this execution only: the request
            # falls back to the judge, the next one tries the sandbox again.
            self.metrics.sandbox_errors.inc()
            logger.warning("sandbox run failed: %s: %s", type(failure).__name__, failure)
            if not isinstance(failure, (SandboxError, OSError, subprocess.SubprocessError)):
                raise failure
            raise ExecutionUnavailable(f"{type(failure).__name__}: {failure}") from failure
        if pending:
            self.metrics.execution_budget_exceeded.inc()
            raise ExecutionBudgetExceeded(f"{len(pending)} of {len(todo)} candidates did not finish within the "
                                          f"execution budget of {budget_s:g} s")
        return ExecutionRun(runs, len(todo), len(distinct) - len(todo), time.perf_counter() - started)

    async def generate(self, program: str, runs: int, max_chars: int) -> CandidateRun:
        """Run a request's input generator `runs` times (seeds 0..runs-1), each under its own CPU limit
        (`execution_generator_s`), within a wall limit of its own (at most `execution_budget_s`; after two
        timeouts the other seeds are not run): a looping generator costs its own runs, not the candidates'
        budget. Not cached: its outputs may be large, and the execution cache is bounded by entries, not bytes.
        Mark P: the output is an input."""
        seconds = self.settings.execution_generator_s
        spec = generator_spec(runs, seconds, max_chars)
        wall = min(self.settings.execution_budget_s, runs * (seconds + 0.5) + 2 * (seconds + 1) + 5)
        limits = Limits(wall_seconds=wall, cpu_seconds=max(self.settings.execution_cpu_s, math.ceil(seconds) + 2),
                        memory_mb=self.settings.execution_memory_mb)
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._pool, execute, program, spec, limits, self.python)
        except (SandboxError, OSError, subprocess.SubprocessError) as exc:
            self.metrics.sandbox_errors.inc()
            raise ExecutionUnavailable(f"{type(exc).__name__}: {exc}") from exc
        self.metrics.sandbox_runs.labels(result.status).inc()
        return CandidateRun.from_result(result, runs)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
