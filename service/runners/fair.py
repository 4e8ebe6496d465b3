"""Fair shares of the sandbox: a request gets at most its share of the run slots while others wait.

Without it, runs are served first come, first served: a batch of 500 completions submitted a moment before a
selection of 8 candidates makes the selection wait for all 500. Here each run first takes a slot, and a free slot
goes to the waiting owner (a request) that holds the fewest slots; among those, to the one with the least work
waiting, then the one waiting longest. Two requests with work get half the slots each, whatever their sizes, and a
small one sent during a huge one takes the slots as they free up, so it finishes in about its own time.
"""

from __future__ import annotations

import asyncio
from collections import deque


class FairSlots:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_use = 0
        self._held: dict[str, int] = {}
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}

    async def acquire(self, owner: str) -> None:
        """Wait for a slot for `owner`; release it with `release(owner)`."""
        if self.in_use < self.capacity and not self._waiting:
            self._take(owner)
            return
        grant: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(owner, deque()).append(grant)
        try:
            await grant
        except asyncio.CancelledError:
            if grant.done() and not grant.cancelled():
                self.release(owner)  # granted as it was cancelled: hand the slot on
            else:
                self._forget(owner, grant)
            raise

    def release(self, owner: str) -> None:
        self.in_use -= 1
        self._held[owner] -= 1
        if not self._held[owner]:
            del self._held[owner]
        self._grant()

    def _take(self, owner: str) -> None:
        self.in_use += 1
        self._held[owner] = self._held.get(owner, 0) + 1

    def _grant(self) -> None:
        while self.in_use < self.capacity and self._waiting:
            # the owner holding the fewest slots; among those, the one with the least work waiting (a small request
            # finishes in about its own time), then the one waiting longest (dicts keep insertion order)
            owner = min(self._waiting, key=lambda name: (self._held.get(name, 0), len(self._waiting[name])))
            queue = self._waiting[owner]
            grant = queue.popleft()
            if not queue:
                del self._waiting[owner]
            if grant.cancelled():
                continue
            self._take(owner)
            grant.set_result(None)

    def _forget(self, owner: str, grant: asyncio.Future[None]) -> None:
        queue = self._waiting.get(owner)
        if queue is None:
            return
        if grant in queue:
            queue.remove(grant)
        if not queue:
            del self._waiting[owner]
