"""The runner contract: what `service.execution.Executor` needs from wherever sandbox runs happen."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sandbox import RunResult
from sandbox.wire import Job


@dataclass
class ExecutorStatus:
    """One executor service as a remote runner sees it (`/ready` lists them)."""

    url: str
    up: bool
    capacity: int
    outstanding: int
    error: str | None


class Runner(Protocol):
    kind: str  # "in-process" or "remote"

    @property
    def capacity(self) -> int:
        """Runs it takes at once: the fair shares are counted in these."""

    @property
    def identity(self) -> str:
        """What a cached run depends on besides the program, spec and limits: the interpreter that ran it."""

    @property
    def error(self) -> str | None:
        """None when every part can run jobs; else why not (all of it) or what is down (some of it)."""

    @property
    def down(self) -> bool:
        """No part can run a job now."""

    def executors(self) -> list[ExecutorStatus]:
        """The executor services it uses (none in-process)."""

    async def start(self) -> None:
        """Before the first job (a remote runner reads its executors' readiness)."""

    def submit(self, job: Job, on_done: Callable[[], None]) -> asyncio.Future[RunResult]:
        """Run `job`; the future raises SandboxError when the sandbox (not the program) failed. `on_done` is called
        once, on the event loop, when the runner is done with the job (finished, or cancelled before it started),
        which may be after the future was cancelled."""

    def close(self) -> None:
        """Stop taking jobs (what runs ends at its own limits)."""

    async def aclose(self) -> None:
        """`close`, and release what needs the event loop (connections)."""
