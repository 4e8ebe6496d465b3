"""Runs on executor services (`daj executor`) over HTTP: `DAJ_EXECUTOR_URLS`.

- Each job goes to the executor with the least outstanding work among those up.
- A job whose executor fails (the connection drops, a 5xx, a sandbox error there) is retried once on another.
- An executor that fails is marked down until its `/ready` answers again; a background probe reads every
  executor's `/ready` every `executor_probe_s` seconds.
- `error` says `degraded` with one down, and the runner is `down` with all of them down: selections then fall
  back (execution auto) or get 503 sandbox_unavailable (required); a candidate never runs in the API process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from sandbox import RunResult, SandboxError
from sandbox.wire import Job, result_from_dict

logger = logging.getLogger(__name__)

_RESPONSE_SLACK_S = 15.0  # beyond a job's own wall limit: start-up, the executor's queue, the network


@dataclass
class _Executor:
    url: str
    capacity: int = 1
    outstanding: int = 0
    up: bool = False
    error: str | None = "not probed yet"
    python: str | None = None


class RemoteRunner:
    kind = "remote"

    def __init__(self, urls: Sequence[str], token: str | None, probe_s: float = 2.0) -> None:
        self._executors = [_Executor(url.rstrip("/")) for url in urls]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(10.0))
        self._probe_s = probe_s
        self._prober: asyncio.Task[None] | None = None

    @property
    def capacity(self) -> int:
        """Slots across the executors that are up (at least 1, so a request still gets to find out)."""
        return max(1, sum(e.capacity for e in self._executors if e.up))

    @property
    def identity(self) -> str:
        versions = sorted({e.python for e in self._executors if e.python})
        return "executor:" + ",".join(versions or ["unknown"])

    @property
    def down(self) -> bool:
        return not any(e.up for e in self._executors)

    @property
    def error(self) -> str | None:
        down = [e for e in self._executors if not e.up]
        if not down:
            return None
        what = "; ".join(f"{e.url}: {e.error}" for e in down)
        if len(down) == len(self._executors):
            return f"every executor is down ({what})"
        return f"degraded: {len(down)} of {len(self._executors)} executors down ({what})"

    async def start(self) -> None:
        """Probe every executor now, and from then on in the background (again: a probe now)."""
        await self.probe()
        if self._prober is None:
            self._prober = asyncio.create_task(self._probe_forever(), name="executor-probe")

    async def probe(self) -> None:
        await asyncio.gather(*(self._probe_one(e) for e in self._executors))

    async def _probe_forever(self) -> None:
        while True:
            await asyncio.sleep(self._probe_s)
            await self.probe()

    async def _probe_one(self, executor: _Executor) -> None:
        try:
            response = await self._http.get(f"{executor.url}/ready", timeout=5.0)
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            self._mark_down(executor, f"{type(exc).__name__}: {exc}")
            return
        if response.status_code != 200:
            message = body.get("error", {}).get("message") if isinstance(body, dict) else None
            self._mark_down(executor, f"/ready {response.status_code}: {message or response.text[:200]}")
            return
        if not executor.up:
            logger.info("executor %s is up", executor.url)
        executor.up, executor.error = True, None
        executor.capacity = int(body.get("workers") or 1)
        executor.python = str(body.get("identity") or body.get("python") or "") or None

    def _mark_down(self, executor: _Executor, why: str) -> None:
        if executor.up:
            logger.warning("executor %s is down: %s", executor.url, why)
        executor.up, executor.error = False, why

    def submit(self, job: Job, on_done: Callable[[], None]) -> asyncio.Future[RunResult]:
        task = asyncio.create_task(self._run(job))
        task.add_done_callback(lambda _: on_done())
        return task

    async def _run(self, job: Job) -> RunResult:
        """On the least busy executor that is up; once more on another if that one fails."""
        tried: list[_Executor] = []
        failures: list[str] = []
        for _ in range(2):
            candidates = [e for e in self._executors if e.up and e not in tried]
            if not candidates:
                break
            executor = min(candidates, key=lambda e: e.outstanding / e.capacity)
            tried.append(executor)
            try:
                return await self._post(executor, job)
            except SandboxError as exc:
                failures.append(f"{executor.url}: {exc}")
        if not failures:
            raise SandboxError(f"no executor is up: {self.error}")
        raise SandboxError("executor failed: " + "; ".join(failures))

    async def _post(self, executor: _Executor, job: Job) -> RunResult:
        executor.outstanding += 1
        started = time.monotonic()
        try:
            response = await self._http.post(f"{executor.url}/v1/run", json={"jobs": [job.to_dict()]},
                                             timeout=job.limits.wall_seconds + _RESPONSE_SLACK_S)
        except httpx.HTTPError as exc:
            self._mark_down(executor, f"{type(exc).__name__}: {exc}")
            raise SandboxError(f"{type(exc).__name__} after {time.monotonic() - started:.1f} s") from exc
        finally:
            executor.outstanding -= 1
        if response.status_code != 200:
            why = f"HTTP {response.status_code}: {response.text[:200]}"
            if response.status_code >= 500:
                self._mark_down(executor, why)
            raise SandboxError(why)
        outcome = result_from_dict(response.json()["results"][0])
        if isinstance(outcome, str):
            raise SandboxError(outcome)
        return outcome

    def close(self) -> None:
        if self._prober is not None:
            self._prober.cancel()

    async def aclose(self) -> None:
        self.close()
        if self._prober is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober
        await self._http.aclose()
