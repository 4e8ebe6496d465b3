"""The executor service: `POST /v1/run` runs sandbox jobs (sandbox/wire.py) on a bounded pool; `/health`,
`/ready` (the sandbox self-check, the Python version and the installed packages, so a caller knows what a
candidate may import) and `/metrics` (runs by status, queue depth, wall and CPU seconds).

It keeps no state between requests: any replica can take any job. Errors have the API's one shape,
`{"error": {"message", "type", "code", "param"}}`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import resource
import subprocess
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from executor.settings import ExecutorSettings
from sandbox import Limits, RunResult, SandboxError, execute
from sandbox.wire import WIRE_VERSION, Job, error_to_dict, result_to_dict, self_check_failure, self_check_job

logger = logging.getLogger(__name__)



def error(status: int, message: str, code: str, param: str | None = None) -> JSONResponse:
    kind = {401: "authentication_error", 422: "invalid_request_error", 503: "service_unavailable_error"}
    return JSONResponse({"error": {"message": message, "type": kind.get(status, "server_error"), "code": code,
                                   "param": param}}, status_code=status)


@dataclass
class ExecutorState:
    settings: ExecutorSettings
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    ready_error: str | None = "the sandbox self-check has not run yet"
    queued: int = 0
    python: str = field(default=sys.executable)  # what candidates run under
    python_version: str = ""
    packages: list[str] = field(default_factory=list)  # what candidates may import; read once (~0.1 s of CPU)

    def __post_init__(self) -> None:
        self.pool = ThreadPoolExecutor(self.settings.execution_workers, thread_name_prefix="sandbox")
        r = self.registry
        self.runs = Counter("daj_executor_runs", "Sandbox runs by status", ["status"], registry=r)
        self.errors = Counter("daj_executor_sandbox_errors", "Runs the sandbox itself failed", registry=r)
        self.queue = Gauge("daj_executor_queue", "Jobs running or waiting for a worker", registry=r)
        self.seconds = Histogram("daj_executor_run_seconds", "Wall seconds of one run", registry=r)
        self.cpu = Gauge("daj_executor_cpu_seconds", "CPU seconds of every finished run (user + system)",
                         registry=r)

    @property
    def identity(self) -> str:
        """What a cached run depends on here: the Python version and, when candidates see it, the package set."""
        digest = hashlib.sha256("\n".join(self.packages).encode()).hexdigest()[:12]
        return f"{self.python_version}+{digest}" if self.settings.executor_site_packages else self.python_version

    async def run(self, job: Job) -> RunResult:
        if self.settings.executor_site_packages:
            job = replace(job, spec=replace(job.spec, needs_site=True))
        self.queued += 1
        self.queue.set(self.queued)
        try:
            result = await asyncio.get_running_loop().run_in_executor(
                self.pool, execute, job.program, job.spec, job.limits, self.python)
        finally:
            self.queued -= 1
            self.queue.set(self.queued)
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu.set(usage.ru_utime + usage.ru_stime)
        self.runs.labels(result.status).inc()
        self.seconds.observe(result.duration)
        return result

    async def self_check(self) -> None:
        try:
            result = await self.run(self_check_job(Limits()))
        except (SandboxError, OSError) as exc:
            self.ready_error = f"{type(exc).__name__}: {exc}"
        else:
            self.ready_error = self_check_failure(result)
        if self.ready_error:
            logger.warning("executor cannot run programs: %s", self.ready_error)


_DESCRIBE = ("import importlib.metadata, json, platform, sys; print(json.dumps([platform.python_version(), "
             "sorted(f\"{d.metadata['Name']}=={d.version}\" for d in importlib.metadata.distributions() "
             "if d.metadata['Name'])]))")


def describe_interpreter(python: str, site_packages: bool) -> tuple[str, list[str]]:
    """The candidates' interpreter: its Python version, and what they may import besides the standard library
    (its installed distributions when `site_packages`, else nothing)."""
    out = subprocess.run([python, "-I", "-c", _DESCRIBE], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    version, packages = json.loads(out)
    return str(version), [str(p) for p in packages] if site_packages else []


def create_executor_app(settings: ExecutorSettings | None = None) -> FastAPI:
    settings = settings or ExecutorSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        python = settings.executor_python or sys.executable
        version, packages = describe_interpreter(python, settings.executor_site_packages)
        state = ExecutorState(settings, python=python, python_version=version, packages=packages)
        app.state.executor = state
        await state.self_check()
        try:
            yield
        finally:
            state.pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="daj executor", summary="Runs sandbox jobs for the daj service.", lifespan=lifespan)

    @app.middleware("http")
    async def authenticate(request: Request, call_next: Any) -> Response:
        token = settings.executor_token
        if token and request.url.path != "/health":
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return error(401, "missing or wrong executor token (DAJ_EXECUTOR_TOKEN)", "invalid_token")
        response: Response = await call_next(request)
        return response

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", response_model=None)
    async def ready(request: Request) -> dict[str, Any] | JSONResponse:
        state: ExecutorState = request.app.state.executor
        if state.ready_error:
            await state.self_check()  # a transient failure at start-up must not keep it out for good
        if state.ready_error:
            return error(503, f"the sandbox cannot run here: {state.ready_error}", "sandbox_unavailable")
        return {"status": "ready", "wire": WIRE_VERSION, "python": state.python_version, "identity": state.identity,
                "site_packages": settings.executor_site_packages, "packages": state.packages,
                "workers": settings.execution_workers, "queued": state.queued}

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        return Response(generate_latest(request.app.state.executor.registry), media_type="text/plain")

    @app.post("/v1/run", response_model=None)
    async def run(request: Request) -> dict[str, Any] | JSONResponse:
        state: ExecutorState = request.app.state.executor
        try:
            body = await request.json()
            raw = body["jobs"]
            if not isinstance(raw, list) or not 1 <= len(raw) <= settings.executor_max_jobs:
                return error(422, f"jobs: 1 to {settings.executor_max_jobs} jobs", "invalid_value", "jobs")
        except (ValueError, KeyError, TypeError):
            return error(422, "the body must be {\"jobs\": [...]}", "invalid_value", "jobs")
        jobs = []
        for index, item in enumerate(raw):
            try:
                jobs.append(Job.from_dict(item))
            except (ValueError, KeyError, TypeError) as exc:
                return error(422, f"jobs[{index}]: {exc}", "invalid_value", f"jobs[{index}]")
        outcomes = await asyncio.gather(*(state.run(job) for job in jobs), return_exceptions=True)
        results = []
        for outcome in outcomes:
            if isinstance(outcome, RunResult):
                results.append(result_to_dict(outcome))
            elif isinstance(outcome, (SandboxError, OSError)):
                state.errors.inc()
                results.append(error_to_dict(outcome))
            else:
                raise outcome  # a bug, not the sandbox: a 500, logged
        return {"results": results}

    return app
