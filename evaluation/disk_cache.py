"""The service's cache interface on disk, for evaluations: a resumed or repeated evaluation neither runs the same
program on the same probes twice nor asks the judge the same question twice (verdict-mode answers are greedy,
so a cached verdict is the verdict). Entries live in the sandbox's sqlite store, keyed as the service keys them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sandbox.cache import ResultCache
from service.embedded import Cache, Storable

V = TypeVar("V", bound=Storable)


class DiskCache(Cache[V]):
    kind = "disk"

    def __init__(self, decode: Callable[[str], V], directory: Path | None = None) -> None:
        self.store = ResultCache(directory)
        self.decode = decode

    async def get_many(self, keys: list[str]) -> list[V | None]:
        found = [self.store.get(key) for key in keys]
        return [self.decode(hit["value"]) if hit else None for hit in found]

    async def set_many(self, items: dict[str, V]) -> None:
        for key, value in items.items():
            self.store.put(key, {"value": value.to_json()})
