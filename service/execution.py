"""Execution inside the service: run each distinct candidate once over the probe set, in the sandbox.

One confined process per candidate (sandbox/runner.py), a time limit per probe, a time budget per request, and a
cache of results keyed by the program's hash, the probe set's hash, the harness version, the limits and what ran
it (Redis when configured, else an in-process LRU). Runs happen through a runner (service/runners/): this
process's bounded pool, so the event loop never blocks, or executor services; each request gets a fair share of
the runner's slots.
"""

from __future__ import annotations

import asyncio
import logging
import math
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from daj.probes import CandidateRun, ProbeSet
from sandbox import (
    Limits,
    RunResult,
    SandboxError,
    TestSpec,
    generator_spec,
    probe_spec,
    run_key,
    run_limits,
    stdio,
)
from sandbox.wire import Job, self_check_failure, self_check_job
from service.cache import Cache
from service.metrics import Metrics
from service.runners import FairSlots, LocalRunner, Runner
from service.settings import Settings

logger = logging.getLogger(__name__)

EXECUTION_KEY_PREFIX = "daj:exec:v1:"
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
    """Runs candidates in the sandbox for the selection service; `available` after a passing self-check.

    Where runs happen is the runner's business (service/runners/: this process's pool, or executor services); each
    request (`owner`) gets a fair share of the runner's slots (service/runners/fair.py)."""

    def __init__(self, settings: Settings, cache: Cache[CandidateRun], metrics: Metrics,
                 python: str | None = None, runner: Runner | None = None) -> None:
        self.settings = settings
        self.cache = cache
        self.metrics = metrics
        self.runner: Runner = runner or LocalRunner(settings.execution_workers, python)
        self.limits = limits_from(settings)
        self.slots = FairSlots(self.runner.capacity)
        self.checked = False  # the start-up self-check has finished (passed or not)
        self._check_error: str | None = "the sandbox self-check has not run yet"
        self.speed_factor = 1.0  # measured by self_check: whole programs' default time limits are scaled by it
        self._queued = 0
        self._mean_run_s = 0.1  # a moving mean of recent runs' wall time, for Retry-After
        self._recheck: asyncio.Task[None] | None = None  # remote: the self-check again, while it fails

    @property
    def python(self) -> str:
        """What ran the programs, as cache keys know it (an interpreter path, or the executors' Python)."""
        return self.runner.identity

    @property
    def available(self) -> bool:
        """Programs can run now: the self-check passed, and the runner (some executor) is up."""
        return self._check_error is None and not self.runner.down

    @property
    def error(self) -> str | None:
        """Why programs cannot run; or, while they can, what is degraded (an executor down); else None."""
        return self._check_error or self.runner.error

    def spec(self, probe_set: ProbeSet) -> TestSpec:
        return probe_spec(probe_set, self.settings.execution_case_s, self.settings.execution_output_chars)

    async def self_check(self) -> None:
        """Run a known program once: the sandbox works on this host (or the executors) only if it gives the known
        answer."""
        try:
            await self.runner.start()
            result = await self.run_one("self-check", self_check_job(self.limits))
        except (SandboxError, OSError, subprocess.SubprocessError) as exc:
            self.checked = True
            self._unavailable(f"{type(exc).__name__}: {exc}")
            return
        if (failure := self_check_failure(result)) is not None:
            self.checked = True
            self._unavailable(failure)
            return
        self._recheck = None
        self.speed_factor = await self._measure_speed()
        self.slots.capacity = self.runner.capacity
        self.checked = True
        self._check_error = None
        self.metrics.sandbox_ready.set(1)
        logger.info("sandbox self-check passed in %.2f s (%s); speed factor %.2f", result.duration, self.runner.kind,
                    self.speed_factor)

    async def _measure_speed(self) -> float:
        """How much slower than the reference host this one runs Python: at least 1, at most MAX_SPEED_FACTOR,
        rounded down to a step of 0.5, so that a busy host (other processes share its cores and caches: CPU time
        grows a little) keeps its factor, and the time limits and the cache keys that hold them stay put."""
        spec = stdio([{"kind": "stdin", "stdin": "", "expected": None}] * 3, case_seconds=5.0)
        try:
            result = await self.run_one("self-check", Job(_SPEED_PROGRAM, spec, self.limits))
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
        self._check_error = reason
        self.metrics.sandbox_ready.set(0)
        logger.warning("sandbox unavailable, selections fall back to the judge alone: %s", reason)
        if self.runner.kind == "remote":
            # Executors may start after the service (no start order in a cluster): check again until they answer.
            # A host without the sandbox (in-process) stays without it.
            self._recheck = asyncio.create_task(self._check_again(), name="sandbox-recheck")

    async def _check_again(self) -> None:
        await asyncio.sleep(self.settings.executor_probe_s)
        await self.self_check()

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

    async def run_jobs(self, jobs: Sequence[ExecutionJob], budget_s: float, owner: str | None = None) -> BatchRun:
        """Each job (a program over a probe set) once per distinct cache key, cached ones not at all, all within
        `budget_s` seconds. A job's sandbox failure or its not finishing in time concerns that job alone: it is
        reported in `failures` / `unfinished`, and every other result is kept (and cached)."""
        started = time.perf_counter()
        keys: list[str] = []
        work: dict[str, tuple[str, TestSpec, Limits, int]] = {}
        specs: dict[int, tuple[TestSpec, str, Limits]] = {}  # per probe set (a batch's jobs share an item's)
        for job in jobs:
            if id(job.probe_set) not in specs:
                spec = self.spec(job.probe_set)
                specs[id(job.probe_set)] = (spec, spec.digest(), self.run_limits(job.probe_set))
            spec, digest, limits = specs[id(job.probe_set)]
            key = execution_cache_key(job.code, digest, limits, self.python)
            keys.append(key)
            work.setdefault(key, (job.code, spec, limits, len(job.probe_set.probes)))
        distinct = list(work)
        hits = await self.cache.get_many(distinct)
        runs = {key: hit for key, hit in zip(distinct, hits, strict=True) if hit is not None}
        cached = set(runs)
        self.metrics.execution_cache.labels("hit").inc(len(runs))
        todo = [key for key in distinct if key not in runs]
        self.metrics.execution_cache.labels("miss").inc(len(todo))
        owner = owner or uuid.uuid4().hex
        futures = {asyncio.ensure_future(self.run_one(owner, Job(*work[key][:3]))): key for key in todo}
        done, pending = await asyncio.wait(futures, timeout=budget_s) if futures else (set(), set())
        for future in pending:
            future.cancel()  # the waiting ones never start; running ones end at their own wall limit
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

    async def run_one(self, owner: str, job: Job) -> RunResult:
        """One run, once `owner` has a slot of its fair share; counted in `queued` from now until the runner is
        done with it (a run the budget cancels while it runs counts until it ends)."""
        self._count(1)
        self.slots.capacity = self.runner.capacity  # executors come and go
        try:
            await self.slots.acquire(owner)
        except BaseException:
            self._count(-1)
            raise

        def finished() -> None:
            self.slots.release(owner)
            self._count(-1)

        try:
            future = self.runner.submit(job, finished)
        except BaseException:
            finished()
            raise
        return await future

    def _count(self, change: int) -> None:
        self._queued += change
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
        try:
            result = await self.run_one(uuid.uuid4().hex, Job(program, spec, limits))
        except (SandboxError, OSError, subprocess.SubprocessError) as exc:
            self.metrics.sandbox_errors.inc()
            raise ExecutionUnavailable(f"{type(exc).__name__}: {exc}") from exc
        self.metrics.sandbox_runs.labels(result.status).inc()
        return CandidateRun.from_result(result, runs)

    def close(self) -> None:
        if self._recheck is not None:
            self._recheck.cancel()
        self.runner.close()

    async def aclose(self) -> None:
        self.close()
        await self.runner.aclose()
