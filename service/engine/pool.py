"""Several vLLM servers as one judge engine (`DAJ_ENGINE_URLS`): the judge tier, scaled out.

- **Affinity.** A selection's calls all go to one server, so the server's prefix cache holds the problem and the
  candidates the selection's pairs share. The selection is the request id's prefix (`<selection>-r<round>-...`).
- **Load.** A new selection goes to the server with the fewest calls in flight among those up.
- **Failover.** A call that fails because its server did (connection refused or dropped, a 5xx) marks that
  server down and is sent again to another (a 4xx is the request's own fault, and is not); the selection then
  sticks to the new one. A probe reads every down server's `/health` every `probe_s` seconds, and a server that
  answers is used again.
- **Health.** The pool is healthy while one server is; `servers()` says which are up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Sequence

from service.engine.base import DeltaCallback, EngineError, JudgeCall, JudgeEngine, JudgeResult
from service.engine.remote import RemoteEngine

logger = logging.getLogger(__name__)

_AFFINITY_ENTRIES = 4096  # selections remembered (a selection's calls come within seconds of each other)


def selection_of(request_id: str) -> str:
    """`<selection>-r<round>-<a>v<b>` -> `<selection>` (a request id of another form is its own selection)."""
    head, separator, _ = request_id.rpartition("-r")
    return head if separator else request_id


class EnginePool(JudgeEngine):
    def __init__(self, engines: Sequence[RemoteEngine], probe_s: float = 5.0) -> None:
        if not engines:
            raise ValueError("an engine pool needs at least one server")
        self.engines = list(engines)
        self._up = [False] * len(self.engines)
        self._started = [False] * len(self.engines)
        self._errors: list[str | None] = ["not started"] * len(self.engines)
        self._calls = [0] * len(self.engines)  # calls each server answered (for /metrics and the tests)
        self._affinity: OrderedDict[str, int] = OrderedDict()
        self._probe_s = probe_s
        self._prober: asyncio.Task[None] | None = None

    async def start(self) -> None:
        results = await asyncio.gather(*(engine.start() for engine in self.engines), return_exceptions=True)
        for index, result in enumerate(results):
            if isinstance(result, BaseException):
                self._mark_down(index, f"{type(result).__name__}: {result}")
            else:
                self._up[index], self._errors[index], self._started[index] = True, None, True
        if not any(self._up):
            raise EngineError("no judge server started: " + "; ".join(self._describe_down()))
        first = next(i for i, up in enumerate(self._up) if up)
        self.tokenizer = self.engines[first].tokenizer
        self._prober = asyncio.create_task(self._probe_forever(), name="engine-probe")

    def servers(self) -> list[dict[str, object]]:
        return [{"url": engine.base_url, "up": up, "in_flight": engine.running_requests(), "calls": calls,
                 "error": error}
                for engine, up, calls, error in zip(self.engines, self._up, self._calls, self._errors, strict=True)]

    async def judge(self, call: JudgeCall, on_delta: DeltaCallback | None = None) -> JudgeResult:
        selection = selection_of(call.request_id)
        tried: set[int] = set()
        failures: list[str] = []
        while True:
            index = self._server_for(selection, tried)
            if index is None:
                raise EngineError("no judge server is up: " + "; ".join(failures or self._describe_down()))
            tried.add(index)
            try:
                result = await self.engines[index].judge(call, on_delta)
            except EngineError as exc:
                if not exc.server_failed or (on_delta is not None and "mid-stream" in str(exc)):
                    raise  # the request's own fault, or reasoning already streamed: another server would not help
                failures.append(f"{self.engines[index].base_url}: {exc}")
                self._mark_down(index, str(exc))
                self._affinity.pop(selection, None)
                continue
            self._calls[index] += 1
            return result

    def _server_for(self, selection: str, tried: set[int]) -> int | None:
        index = self._affinity.get(selection)
        if index is not None and self._up[index] and index not in tried:
            self._affinity.move_to_end(selection)
            return index
        candidates = [i for i, up in enumerate(self._up) if up and i not in tried]
        if not candidates:
            return None
        index = min(candidates, key=lambda i: self.engines[i].running_requests())
        self._affinity[selection] = index
        if len(self._affinity) > _AFFINITY_ENTRIES:
            self._affinity.popitem(last=False)
        return index

    def _mark_down(self, index: int, why: str) -> None:
        if self._up[index]:
            logger.warning("judge server %s is down: %s", self.engines[index].base_url, why)
        self._up[index], self._errors[index] = False, why

    def _describe_down(self) -> list[str]:
        return [f"{engine.base_url}: {error}" for engine, up, error in zip(self.engines, self._up, self._errors,
                                                                             strict=True) if not up]

    async def _probe_forever(self) -> None:
        while True:
            await asyncio.sleep(self._probe_s)
            for index, engine in enumerate(self.engines):
                if self._up[index]:
                    continue
                try:
                    if not self._started[index]:
                        await engine.start()  # it was down at start-up: it has no model list yet
                        self._started[index] = True
                    else:
                        await engine.check_health()
                except Exception as exc:  # any failure keeps it down; the next probe tries again
                    self._errors[index] = f"{type(exc).__name__}: {exc}"
                    continue
                logger.info("judge server %s is up again", engine.base_url)
                self._up[index], self._errors[index] = True, None

    async def abort(self, request_ids: list[str]) -> None:
        return None  # cancelling a call closes its connection; vLLM aborts requests whose client left

    async def check_health(self) -> None:
        if not any(self._up):
            raise EngineError("no judge server is up: " + "; ".join(self._describe_down()))

    def running_requests(self) -> int:
        return sum(engine.running_requests() for engine in self.engines)

    async def close(self) -> None:
        if self._prober is not None:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober
        await asyncio.gather(*(engine.close() for engine in self.engines), return_exceptions=True)
