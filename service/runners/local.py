"""Runs in this process's bounded thread pool: each run is its own confined process (sandbox/runner.py)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sandbox import RunResult, execute
from sandbox.wire import Job
from service.runners.base import ExecutorStatus


class LocalRunner:
    kind = "in-process"

    def __init__(self, workers: int, python: str | None = None) -> None:
        self.workers = workers
        self.python = python or sys.executable
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox")

    @property
    def capacity(self) -> int:
        return self.workers

    @property
    def identity(self) -> str:
        return self.python

    @property
    def error(self) -> str | None:
        return None

    @property
    def down(self) -> bool:
        return False

    def executors(self) -> list[ExecutorStatus]:
        return []

    async def start(self) -> None:
        return None

    def submit(self, job: Job, on_done: Callable[[], None]) -> asyncio.Future[RunResult]:
        loop = asyncio.get_running_loop()
        work = self._pool.submit(execute, job.program, job.spec, job.limits, self.python)

        def done(_: object) -> None:  # in the pool's thread: cancelling the asyncio side does not stop a running job
            with contextlib.suppress(RuntimeError):  # the loop closed: nothing counts any more
                loop.call_soon_threadsafe(on_done)

        work.add_done_callback(done)
        return asyncio.wrap_future(work, loop=loop)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def aclose(self) -> None:
        self.close()
