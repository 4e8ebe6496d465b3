"""Execution inside the service: run each distinct candidate once over the probe set, in the sandbox.

One confined process per candidate (sandbox/runner.py), a time limit per probe, a bounded thread pool so the
event loop never blocks, a time budget per request, and a cache of results keyed by the program's hash, the
probe set's hash, the harness version and the limits (Redis when configured, else an in-process LRU).
"""

from __future__ import annotations

import asyncio
import contextlib
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
    RunResult,
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
class ExecutionJob:
    """One program to run over one probe set."""

    code: str
    probe_set: ProbeSet


@dataclass(frozen=True)
class BatchRun:
    """What `Executor.run_jobs` did: per job, its cache key (`keys`, jobs' order); per key, its run, or why not."""

    keys: list[str]
    runs: dict[str, CandidateRun]
    cached: set[str]  # keys whose run came from the cache
    failures: dict[str, str]  # key -> the sandbox's own error (not the program's)
    unfinished: set[str]  # keys the budget ran out on
    fresh_runs: int
    elapsed_s: float

    @property
    def cached_runs(self) -> int:
        return len(self.cached)


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
        self._queued = 0
        self._mean_run_s = 0.1  # a moving mean of recent runs' wall time, for Retry-After

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

    @property
    def queued(self) -> int:
        """Runs submitted to the sandbox pool and not finished (running or waiting for a worker)."""
        return self._queued

    def retry_after_s(self, extra_runs: int = 0) -> int:
        """A guess at when the pool has room: the queue (plus `extra_runs`) over the workers, at the recent mean
        run time; 1 to 60 s."""
        waiting = (self._queued + extra_runs) / max(1, self.settings.execution_workers)
        return max(1, min(60, math.ceil(waiting * self._mean_run_s)))

    async def run(self, codes: Sequence[str], probe_set: ProbeSet, budget_s: float) -> ExecutionRun:
        """Every distinct program once (cached ones not at all), all within `budget_s` seconds; a sandbox failure
        or a run past the budget fails the whole execution (a selection then falls back to the judge)."""
        distinct = list(dict.fromkeys(codes))
        batch = await self.run_jobs([ExecutionJob(code, probe_set) for code in distinct], budget_s)
        if batch.failures:
            # One failed run (a full process table, a transient error) fails this execution only: the request
            # falls back to the judge, the next one tries the sandbox again.
            raise ExecutionUnavailable(next(iter(batch.failures.values())))
        if batch.unfinished:
            self.metrics.execution_budget_exceeded.inc()
            raise ExecutionBudgetExceeded(f"{len(batch.unfinished)} of {batch.fresh_runs + len(batch.unfinished)} "
                                          f"candidates did not finish within the execution budget of {budget_s:g} s")
        runs = {code: batch.runs[key] for code, key in zip(distinct, batch.keys, strict=True)}
        return ExecutionRun(runs, batch.fresh_runs, batch.cached_runs, batch.elapsed_s)

    async def run_jobs(self, jobs: Sequence[ExecutionJob], budget_s: float) -> BatchRun:
        """Each job (a program over a probe set) once per distinct cache key, cached ones not at all, all within
        `budget_s` seconds. A job's sandbox failure or its not finishing in time concerns that job alone: it is
        reported in `failures` / `unfinished`, and every other result is kept (and cached)."""
        started = time.perf_counter()
        keys: list[str] = []
        work: dict[str, tuple[str, TestSpec, Limits, int]] = {}
        for job in jobs:
            spec = self.spec(job.probe_set)
            limits = self.run_limits(job.probe_set)
            key = execution_cache_key(job.code, spec.digest(), limits, self.python)
            keys.append(key)
            work.setdefault(key, (job.code, spec, limits, len(job.probe_set.probes)))
        distinct = list(work)
        hits = await self.cache.get_many(distinct)
        runs = {key: hit for key, hit in zip(distinct, hits, strict=True) if hit is not None}
        cached = set(runs)
        self.metrics.execution_cache.labels("hit").inc(len(runs))
        todo = [key for key in distinct if key not in runs]
        self.metrics.execution_cache.labels("miss").inc(len(todo))
        futures = {self._submit(*work[key][:3]): key for key in todo}
        done, pending = await asyncio.wait(futures, timeout=budget_s) if futures else (set(), set())
        for future in pending:
            future.cancel()  # the queued ones never start; running ones end at their own wall limit
        fresh: dict[str, CandidateRun] = {}
        failures: dict[str, str] = {}
        for future in done:
            key = futures[future]
            if (error := future.exception()) is not None:
                if not isinstance(error, (SandboxError, OSError, subprocess.SubprocessError)):
                    raise error
                self.metrics.sandbox_errors.inc()
                logger.warning("sandbox run failed: %s: %s", type(error).__name__, error)
                failures[key] = f"{type(error).__name__}: {error}"
                continue
            result = future.result()
            self.metrics.sandbox_runs.labels(result.status).inc()
            self.metrics.sandbox_seconds.observe(result.duration)
            self._mean_run_s += 0.1 * (result.duration - self._mean_run_s)
            runs[key] = fresh[key] = CandidateRun.from_result(result, work[key][3])
        await self.cache.set_many(fresh)  # what finished is kept, even when the request cannot use it
        unfinished = {futures[future] for future in pending}
        return BatchRun(keys, runs, cached, failures, unfinished, len(fresh) + len(failures),
                        time.perf_counter() - started)

    def _submit(self, code: str, spec: TestSpec, limits: Limits) -> asyncio.Future[RunResult]:
        """One run on the sandbox pool, counted in `queued` until the pool is done with it: cancelling the asyncio
        side (a budget ran out) takes a waiting run off the pool at once, but a running one counts until it ends."""
        loop = asyncio.get_running_loop()
        work = self._pool.submit(execute, code, spec, limits, self.python)
        self._queued += 1
        self.metrics.execution_queue.set(self._queued)
        work.add_done_callback(lambda _: self._dequeue_from_pool(loop))
        return asyncio.wrap_future(work, loop=loop)

    def _dequeue_from_pool(self, loop: asyncio.AbstractEventLoop) -> None:
        """In the pool's thread: count the run out on the loop's thread (unless the service has shut down)."""
        with contextlib.suppress(RuntimeError):  # the loop closed: nothing counts any more
            loop.call_soon_threadsafe(self._dequeue)

    def _dequeue(self) -> None:
        self._queued -= 1
        self.metrics.execution_queue.set(self._queued)

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
