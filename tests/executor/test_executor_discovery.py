"""Executors found by name (`DAJ_EXECUTOR_URLS=dns+http://name:port`): every address of the name is an executor of
its own, looked up again at every probe; and a job in flight on an executor that stops answering (a killed
container sends no reset) is given up as soon as the probe marks it down, and retried on another.

Real `daj executor` processes on 127.0.0.2 and 127.0.0.3 (one port), real HTTP and the real sandbox. Only the name
lookup is a table the test controls, so that it can add and remove replicas; Docker's real DNS is driven by
`make test-docker` (tests/deploy/test_docker_cycle.py, `--scale executor=3`)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from daj.testing.executors import ExecutorProcess
from daj.testing.redis_server import free_port
from sandbox import Limits, SandboxError, probes
from sandbox.wire import Job
from service.runners import RemoteRunner
from service.settings import Settings

TOKEN = "executor-test-token"
NAME = "executors.test"
A, B = "127.0.0.2", "127.0.0.3"


def job(seconds: float = 0.0) -> Job:
    program = f"import time\ndef f(x):\n    time.sleep({seconds})\n    return x * 2\n"
    spec = probes([{"kind": "check", "call": "f(21)", "expected": "42"}], "f", case_seconds=seconds + 2.0)
    return Job(program, spec, Limits())


class Names:
    """The name table the runner resolves with: what a DNS server would answer for NAME, changed by the test."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = list(addresses)
        self.lookups = 0

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups += 1
        if host != NAME or not self.addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.addresses)


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ExecutorProcess]]:
    folder = tmp_path_factory.mktemp("replicas")
    port = free_port()
    started = {host: ExecutorProcess(folder / f"{host}.log", token=TOKEN, port=port, host=host) for host in (A, B)}
    yield started
    for executor in started.values():
        executor.process.send_signal(signal.SIGCONT)
        executor.kill()


def runner(names: Names, port: int) -> RemoteRunner:
    return RemoteRunner([f"dns+http://{NAME}:{port}"], TOKEN, probe_s=0.2, resolver=names)


async def run(remote: RemoteRunner, *jobs: Job) -> list[object]:
    futures = [remote.submit(j, lambda: None) for j in jobs]
    return await asyncio.gather(*futures, return_exceptions=True)


def test_every_address_of_the_name_is_an_executor_and_the_set_follows_dns(
        replicas: dict[str, ExecutorProcess]) -> None:
    port = replicas[A].port
    names = Names(A)

    async def scenario() -> None:
        remote = runner(names, port)
        await remote.start()
        try:
            assert [(e.url, e.up, e.capacity) for e in remote.executors()] == [
                (f"dns+http://{NAME}:{port} at {A}", True, 2)]
            assert remote.capacity == 2 and remote.error is None

            names.addresses = [A, B]  # a replica is scaled in
            await remote.probe()
            assert sorted(e.url.rsplit(" ", 1)[1] for e in remote.executors() if e.up) == [A, B]
            assert remote.capacity == 4
            before = {host: replicas[host].runs() for host in (A, B)}
            results = await run(remote, *(job(0.2) for _ in range(8)))
            assert all(getattr(r, "status", None) == "passed" for r in results), results
            spread = {host: replicas[host].runs() - before[host] for host in (A, B)}
            assert spread[A] >= 2 and spread[B] >= 2 and sum(spread.values()) == 8, spread

            names.addresses = [B]  # A is scaled away: no new jobs go there, and it is no error
            await remote.probe()
            assert [e.url.rsplit(" ", 1)[1] for e in remote.executors()] == [B] and remote.error is None
            before = {host: replicas[host].runs() for host in (A, B)}
            results = await run(remote, *(job() for _ in range(4)))
            assert all(getattr(r, "status", None) == "passed" for r in results), results
            assert replicas[A].runs() == before[A] and replicas[B].runs() == before[B] + 4

            names.addresses = []  # a failed lookup (a DNS server restarting) keeps the last answer
            await remote.probe()
            assert [e.url.rsplit(" ", 1)[1] for e in remote.executors()] == [B] and remote.error is None
            (result,) = await run(remote, job())
            assert getattr(result, "status", None) == "passed", result
        finally:
            await remote.aclose()

        lost = runner(Names(), port)  # a name that never resolved: every executor is down, with the reason
        await lost.start()
        try:
            assert lost.down and lost.executors() == []
            assert lost.error == (f"every executor is down (dns+http://{NAME}:{port}: no executor found "
                                  "(gaierror: [Errno -2] Name or service not known))")
            (failure,) = await run(lost, job())
            assert isinstance(failure, SandboxError) and "no executor is up" in str(failure)
        finally:
            await lost.aclose()

    asyncio.run(scenario())
    assert names.lookups >= 4


def test_a_job_on_an_executor_that_stops_answering_moves_to_another_at_the_next_probe(
        replicas: dict[str, ExecutorProcess]) -> None:
    """SIGSTOP, not SIGKILL: a stopped process holds its connections open and answers nothing, as a killed
    container's address does (no reset comes back). Without the probe the job would wait out its response
    timeout (its wall limit + 15 s)."""
    port = replicas[A].port
    stopped = replicas[A].process

    async def scenario() -> tuple[float, str | None]:
        remote = runner(Names(A, B), port)
        await remote.start()
        try:
            assert remote.capacity == 4
            started = time.monotonic()
            future = remote.submit(job(1.0), lambda: None)  # both idle: the first listed, A, takes it
            await asyncio.sleep(0.3)
            assert [e.outstanding for e in remote.executors()] == [1, 0]
            os.kill(stopped.pid, signal.SIGSTOP)
            result = await future
            took = time.monotonic() - started
            assert result.status == "passed", result
            states = {e.url.rsplit(" ", 1)[1]: (e.up, e.error) for e in remote.executors()}
            assert states[B] == (True, None) and states[A][0] is False, states
            return took, remote.error
        finally:
            os.kill(stopped.pid, signal.SIGCONT)
            await remote.aclose()

    took, error = asyncio.run(scenario())
    # the probe's /ready times out after 5 s, the job is retried at once on B (1 s there)
    assert took < 12, took
    assert job(1.0).limits.wall_seconds + 15 > 12  # what waiting out the response timeout would have cost
    assert error is not None and error.startswith(f"degraded: 1 of 2 executors down (dns+http://{NAME}:{port} at {A}")


def test_executor_urls_are_checked_when_the_settings_are_read(tmp_path: Path) -> None:
    assert Settings(executor_urls="dns+http://executor:8100, http://a:1").executor_urls == [
        "dns+http://executor:8100", "http://a:1"]
    for wrong in ("executor:8100", "dns+https://executor:8100", "ftp://executor", "http://executor:99999"):
        with pytest.raises(ValidationError) as raised:
            Settings(executor_urls=wrong)
        message = str(raised.value)
        assert "executor_urls" in message and wrong in message and "dns+http://name:port" in message, message
