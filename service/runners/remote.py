"""Runs on executor services (`daj executor`) over HTTP: `DAJ_EXECUTOR_URLS`.

- An entry is one executor's URL, or `dns+http://name:port`: every address `name` resolves to is an executor of
  its own, looked up again at every probe. That is how replicas behind one name are used one by one (Compose's
  `--scale executor=N`, a Kubernetes headless Service): a plain URL to such a name would reach whichever replica
  its pooled connection happened to land on.
- Each job goes to the executor with the least outstanding work among those up.
- A job whose executor fails (the connection drops, a 5xx, a sandbox error there) is retried once on another.
- An executor that fails is marked down until its `/ready` answers again; a background probe reads every
  executor's `/ready` every `executor_probe_s` seconds. When the probe fails, the jobs in flight there are given
  up at once and retried elsewhere: a killed container sends no reset, so they would otherwise wait out their
  whole timeout. (One job's own failure stops new jobs going there, but leaves the others running.)
- An address that leaves the name's DNS answer (a replica scaled away) takes no new jobs; it is probed until its
  jobs in flight are done, then forgotten.
- `error` says `degraded` with one down, and the runner is `down` with all of them down: selections then fall
  back (execution auto) or get 503 sandbox_unavailable (required); a candidate never runs in the API process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

import httpx

from sandbox import RunResult, SandboxError
from sandbox.wire import Job, result_from_dict
from service.runners.base import ExecutorStatus

logger = logging.getLogger(__name__)

_RESPONSE_SLACK_S = 15.0  # beyond a job's own wall limit: start-up, the executor's queue, the network
DISCOVERY_SCHEME = "dns+"

# host, port -> the addresses to reach it at (IPv4 dotted or IPv6 text); raises OSError when it has none.
Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve_addresses(host: str, port: int) -> list[str]:
    """Every distinct address `host` has, in the resolver's order (Docker's DNS shuffles it on each answer); the
    IPv4 ones when it has some, so a dual-stack replica (an A and an AAAA record) counts once."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    family = socket.AF_INET if any(info[0] == socket.AF_INET for info in infos) else socket.AF_INET6
    return list(dict.fromkeys(str(info[4][0]) for info in infos if info[0] == family))


@dataclass
class _Executor:
    url: str
    label: str  # the URL, or `dns+http://name:port at <address>` for one found by name
    capacity: int = 1
    outstanding: int = 0
    up: bool = False
    listed: bool = True  # in its name's last DNS answer (always, for a plain URL)
    error: str | None = "not probed yet"
    python: str | None = None
    lost: asyncio.Event = field(default_factory=asyncio.Event)  # set when its probe fails: its jobs give up


@dataclass
class _Source:
    """One entry of `DAJ_EXECUTOR_URLS`: a plain URL is one executor; `dns+` asks DNS for them at every probe."""

    entry: str
    target: SplitResult | None  # `dns+`: the URL whose host name is looked up; None for a plain URL
    executors: dict[str, _Executor] = field(default_factory=dict)  # by URL
    error: str | None = None  # the name resolved to nothing

    @classmethod
    def parse(cls, entry: str) -> _Source:
        entry = entry.rstrip("/")
        if not entry.startswith(DISCOVERY_SCHEME):
            return cls(entry, None, {entry: _Executor(entry, entry)})
        return cls(entry, urlsplit(entry[len(DISCOVERY_SCHEME):]))

    @property
    def name(self) -> tuple[str, int]:
        """The host name and port to look up (`dns+` only)."""
        assert self.target is not None
        return self.target.hostname or "", self.target.port or 80

    def found(self, addresses: list[str]) -> None:
        """Follow the name's DNS answer: new addresses become executors, vanished ones stop taking jobs."""
        assert self.target is not None
        port, urls = self.name[1], {}
        for address in addresses:
            host = f"[{address.replace('%', '%25')}]" if ":" in address else address  # an IPv6 zone: %25
            urls[f"{self.target.scheme}://{host}:{port}{self.target.path}"] = address
        for url, executor in self.executors.items():
            if executor.listed and url not in urls:
                logger.info("executor %s left %s's DNS answer", executor.label, self.entry)
            executor.listed = url in urls
        for url, address in urls.items():
            if url not in self.executors:
                logger.info("executor found: %s", f"{self.entry} at {address}")
                self.executors[url] = _Executor(url, f"{self.entry} at {address}")

    def forget_drained(self) -> None:
        for url in [u for u, e in self.executors.items() if not e.listed and e.outstanding == 0]:
            del self.executors[url]


class RemoteRunner:
    kind = "remote"

    def __init__(self, urls: Sequence[str], token: str | None, probe_s: float = 2.0,
                 resolver: Resolver = resolve_addresses) -> None:
        self._sources = [_Source.parse(url) for url in urls]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(10.0))
        self._probe_s = probe_s
        self._resolver = resolver
        self._prober: asyncio.Task[None] | None = None

    def _listed(self) -> list[_Executor]:
        return [e for s in self._sources for e in s.executors.values() if e.listed]

    @property
    def capacity(self) -> int:
        """Slots across the executors that are up (at least 1, so a request still gets to find out)."""
        return max(1, sum(e.capacity for e in self._listed() if e.up))

    @property
    def identity(self) -> str:
        versions = sorted({e.python for e in self._listed() if e.python})
        return "executor:" + ",".join(versions or ["unknown"])

    @property
    def down(self) -> bool:
        return not any(e.up for e in self._listed())

    @property
    def error(self) -> str | None:
        down = [f"{e.label}: {e.error}" for e in self._listed() if not e.up]
        down += [f"{s.entry}: {s.error}" for s in self._sources if s.error]
        if not down:
            return None
        total = len(self._listed()) + sum(1 for s in self._sources if s.error)
        what = "; ".join(down)
        if self.down:
            return f"every executor is down ({what})"
        return f"degraded: {len(down)} of {total} executors down ({what})"

    def executors(self) -> list[ExecutorStatus]:
        return [ExecutorStatus(e.label, e.up, e.capacity, e.outstanding, e.error) for e in self._listed()]

    async def start(self) -> None:
        """Probe every executor now, and from then on in the background (again: a probe now)."""
        await self.probe()
        if self._prober is None:
            self._prober = asyncio.create_task(self._probe_forever(), name="executor-probe")

    async def probe(self) -> None:
        await asyncio.gather(*(self._resolve(s) for s in self._sources if s.target is not None))
        await asyncio.gather(*(self._probe_one(e) for s in self._sources for e in s.executors.values()))
        for source in self._sources:
            source.forget_drained()

    async def _probe_forever(self) -> None:
        while True:
            await asyncio.sleep(self._probe_s)
            try:
                await self.probe()
            except Exception:  # a bug must not end the probing: executors marked down would never come back
                logger.exception("probing the executors failed; trying again in %.1f s", self._probe_s)

    async def _resolve(self, source: _Source) -> None:
        """Follow the name's answer. A failed lookup (a restarting DNS server, or a name with no replica left)
        keeps the last answer: those executors stay in use while their probes pass."""
        try:
            addresses = await self._resolver(*source.name)
        except (OSError, UnicodeError) as exc:
            why = f"{type(exc).__name__}: {exc}"
            known = any(e.listed for e in source.executors.values())
            if source.error is None:
                logger.warning("looking up %s failed (%s): %s", source.entry, why,
                               "the last answer stays" if known else "no executor found")
            source.error = None if known else f"no executor found ({why})"
            return
        source.found(addresses)
        source.error = None if addresses else "no executor found (the name has no address)"

    async def _probe_one(self, executor: _Executor) -> None:
        """Its /ready decides: up, or down with its jobs in flight given up (they are retried elsewhere)."""
        try:
            response = await self._http.get(f"{executor.url}/ready", timeout=5.0)
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            self._mark_down(executor, f"{type(exc).__name__}: {exc}", abandon=True)
            return
        message = body.get("error", {}).get("message") if isinstance(body, dict) else None
        if response.status_code != 200 or not isinstance(body, dict):
            self._mark_down(executor, f"/ready {response.status_code}: {message or response.text[:200]}",
                            abandon=True)
            return
        try:
            capacity = max(1, int(body.get("workers") or 1))
        except (TypeError, ValueError):
            self._mark_down(executor, f"/ready gave workers={body.get('workers')!r}", abandon=True)
            return
        if not executor.up:
            logger.info("executor %s is up", executor.label)
            executor.lost = asyncio.Event()
        executor.up, executor.error, executor.capacity = True, None, capacity
        executor.python = str(body.get("identity") or body.get("python") or "") or None

    def _mark_down(self, executor: _Executor, why: str, abandon: bool) -> None:
        """No new jobs until its /ready passes again. `abandon` (the probe failed): its jobs in flight give up
        too. One job's own failure does not abandon the others: a busy executor is slow, not gone."""
        if executor.up:
            logger.warning("executor %s is down: %s", executor.label, why)
        executor.up, executor.error = False, why
        if abandon:
            executor.lost.set()

    def submit(self, job: Job, on_done: Callable[[], None]) -> asyncio.Future[RunResult]:
        task = asyncio.create_task(self._run(job))
        task.add_done_callback(lambda _: on_done())
        return task

    async def _run(self, job: Job) -> RunResult:
        """On the least busy executor that is up; once more on another if that one fails."""
        tried: list[_Executor] = []
        failures: list[str] = []
        for _ in range(2):
            candidates = [e for e in self._listed() if e.up and e not in tried]
            if not candidates:
                break
            executor = min(candidates, key=lambda e: e.outstanding / e.capacity)
            tried.append(executor)
            try:
                return await self._post(executor, job)
            except SandboxError as exc:
                failures.append(f"{executor.label}: {exc}")
        if not failures:
            raise SandboxError(f"no executor is up: {self.error}")
        raise SandboxError("executor failed: " + "; ".join(failures))

    async def _post(self, executor: _Executor, job: Job) -> RunResult:
        executor.outstanding += 1
        started = time.monotonic()
        request = asyncio.ensure_future(self._http.post(
            f"{executor.url}/v1/run", json={"jobs": [job.to_dict()]},
            timeout=job.limits.wall_seconds + _RESPONSE_SLACK_S))
        lost = asyncio.ensure_future(executor.lost.wait())
        try:
            await asyncio.wait({request, lost}, return_when=asyncio.FIRST_COMPLETED)
            if not request.done():
                raise SandboxError(f"the executor went down ({executor.error}) "
                                   f"after {time.monotonic() - started:.1f} s")
            response = request.result()
        except httpx.HTTPError as exc:
            self._mark_down(executor, f"{type(exc).__name__}: {exc}", abandon=False)
            raise SandboxError(f"{type(exc).__name__} after {time.monotonic() - started:.1f} s") from exc
        finally:
            executor.outstanding -= 1
            request.cancel()
            lost.cancel()
            if request.done() and not request.cancelled():
                request.exception()  # retrieved: a failure that raced a cancellation is not logged as lost
        if response.status_code != 200:
            why = f"HTTP {response.status_code}: {response.text[:200]}"
            if response.status_code >= 500:
                self._mark_down(executor, why, abandon=False)
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
