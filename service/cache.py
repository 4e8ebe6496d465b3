"""The caches of the service (pair verdicts, execution results): Redis when configured, else an in-process
LRU. Never fails a request.

A key identifies everything that determines a verdict: backbone, adapter name and content hash, prompt
version, mode and sampling parameters, and the sha256 of the problem and of both programs in the order
shown. Each part is hashed and the parts are joined as JSON, so no two different inputs share a key.
Reads and writes of one round are one pipelined round-trip each. When Redis fails or is slow, the cache
logs, counts the error, and steps aside for a short back-off; the selection goes on uncached.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Generic, Protocol, TypeVar

logger = logging.getLogger(__name__)

KEY_PREFIX = "daj:verdict:v1:"


class Storable(Protocol):
    def to_json(self) -> str: ...


T = TypeVar("T", bound=Storable)


@dataclass(frozen=True)
class CachedVerdict:
    choice: str
    p_a: float | None
    reasoning: str | None
    prompt_tokens: int
    completion_tokens: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> CachedVerdict:
        return cls(**json.loads(raw))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def verdict_cache_key(
    *,
    model: str,
    adapter: str | None,
    adapter_hash: str | None,
    prompt_version: str,
    mode: str,
    sampling: dict[str, Any],
    problem: str,
    code_a: str,
    code_b: str,
    evidence: str = "",
    dtype: str | None = None,
) -> str:
    """`evidence` is the rendered evidence section (v2 prompts): the same programs shown other evidence are
    another question. `dtype` is what the judge computes in (None: a remote server's own): float32 and bfloat16
    answer the same question with probabilities a rounding apart, so a cached verdict is only reused by a judge
    that would have computed the very same one."""
    parts = [model, adapter, adapter_hash, prompt_version, mode, sampling, _sha256(problem), _sha256(code_a),
             _sha256(code_b), _sha256(evidence) if evidence else None, dtype]
    return KEY_PREFIX + _sha256(json.dumps(parts, sort_keys=True, separators=(",", ":")))


class Cache(ABC, Generic[T]):
    """`get_many` and `set_many` never raise: a broken cache only costs recomputation."""

    kind: str

    @abstractmethod
    async def get_many(self, keys: list[str]) -> list[T | None]: ...

    @abstractmethod
    async def set_many(self, items: dict[str, T]) -> None: ...

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None


class MemoryCache(Cache[T]):
    """Bounded LRU with a TTL per entry, for one process."""

    kind = "memory"

    def __init__(self, max_entries: int, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self.clock = clock  # public: a test moves time forward instead of sleeping
        self._entries: OrderedDict[str, tuple[float, T]] = OrderedDict()

    async def get_many(self, keys: list[str]) -> list[T | None]:
        now = self.clock()
        found: list[T | None] = []
        for key in keys:
            entry = self._entries.get(key)
            if entry is None or entry[0] <= now:
                self._entries.pop(key, None)
                found.append(None)
                continue
            self._entries.move_to_end(key)
            found.append(entry[1])
        return found

    async def set_many(self, items: dict[str, T]) -> None:
        expires = self.clock() + self.ttl_s
        for key, value in items.items():
            self._entries[key] = (expires, value)
            self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class RedisCache(Cache[T]):
    """Shared across replicas. Size is bounded by the server's `maxmemory` + `allkeys-lru` (see docker/)."""

    kind = "redis"

    def __init__(
        self,
        url: str,
        ttl_s: int,
        decode: Callable[[str], T],
        on_error: Callable[[str], None] | None = None,
        timeout_s: float = 0.25,
        backoff_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self.ttl_s = ttl_s
        self.backoff_s = backoff_s
        self._decode_value = decode
        self._on_error = on_error or (lambda _op: None)
        self.clock = clock  # public: a test moves time past the back-off instead of sleeping through it
        self._skip_until = 0.0
        self._redis = aioredis.Redis.from_url(
            # No client-side retries: a slow or dead Redis must cost at most one short timeout.
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=Retry(NoBackoff(), 0)
        )

    def _available(self) -> bool:
        return self.clock() >= self._skip_until

    def _failed(self, op: str, exc: Exception) -> None:
        # Step aside for a moment so a dead Redis costs one timeout per back-off, not one per round.
        self._skip_until = self.clock() + self.backoff_s
        self._on_error(op)
        logger.warning("cache (redis) %s failed: %s: %s; serving without cache for %.1f s",
                       op, type(exc).__name__, exc, self.backoff_s)

    async def get_many(self, keys: list[str]) -> list[T | None]:
        if not keys or not self._available():
            return [None] * len(keys)
        try:
            raw = await self._redis.mget(keys)
        except Exception as exc:  # any client/connection/timeout error: the cache must not fail a request
            self._failed("read", exc)
            return [None] * len(keys)
        return [self._decode(value) for value in raw]

    def _decode(self, value: bytes | str | None) -> T | None:
        if value is None:
            return None
        try:  # the client returns bytes (no decode_responses); a bad UTF-8 entry is a malformed one
            return self._decode_value(value.decode() if isinstance(value, bytes) else value)
        except (ValueError, TypeError) as exc:
            logger.warning("ignoring a malformed cache entry: %s", exc)
            return None

    async def set_many(self, items: dict[str, T]) -> None:
        if not items or not self._available():
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, value in items.items():
                    pipe.set(key, value.to_json(), ex=self.ttl_s)
                await pipe.execute()
        except Exception as exc:
            self._failed("write", exc)

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except Exception as exc:
            logger.warning("cache (redis) ping failed: %s: %s", type(exc).__name__, exc)
            return False

    async def close(self) -> None:
        await self._redis.aclose()


VerdictCache = Cache[CachedVerdict]


class MemoryVerdictCache(MemoryCache[CachedVerdict]):
    """The pair-verdict cache of one process."""


class RedisVerdictCache(RedisCache[CachedVerdict]):
    """The pair-verdict cache in Redis."""

    def __init__(self, url: str, ttl_s: int, on_error: Callable[[str], None] | None = None, **options: Any) -> None:
        super().__init__(url, ttl_s, CachedVerdict.from_json, on_error, **options)
