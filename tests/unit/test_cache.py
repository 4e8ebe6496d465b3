"""Verdict cache keys and the in-process LRU (pure logic; Redis is tested against a real server)."""

from __future__ import annotations

import asyncio

from service.cache import CachedVerdict, MemoryVerdictCache, verdict_cache_key

BASE = {"model": "m", "adapter": "judge", "adapter_hash": "h1", "prompt_version": "v1", "mode": "verdict",
        "sampling": {"max_tokens": 1, "temperature": 0.0}, "problem": "p", "code_a": "a", "code_b": "b"}


def test_every_part_of_the_key_matters() -> None:
    base = verdict_cache_key(**BASE)
    variants = [("model", "m2"), ("adapter", "other"), ("adapter", None), ("adapter_hash", "h2"),
                ("prompt_version", "v2"), ("mode", "reasoning"), ("sampling", {"max_tokens": 2, "temperature": 0.0}),
                ("problem", "p2"), ("code_a", "b"), ("code_b", "a"), ("dtype", "float32"), ("dtype", "bfloat16")]
    keys = {verdict_cache_key(**(BASE | {field: value})) for field, value in variants}
    assert base not in keys and len(keys) == len(variants)


def test_parts_cannot_be_shifted_across_fields() -> None:
    one = verdict_cache_key(**(BASE | {"code_a": "ab", "code_b": "c"}))
    two = verdict_cache_key(**(BASE | {"code_a": "a", "code_b": "bc"}))
    assert one != two


def test_lru_evicts_the_oldest_and_expires_by_ttl() -> None:
    now = [0.0]
    cache = MemoryVerdictCache(max_entries=2, ttl_s=10, clock=lambda: now[0])
    verdict = CachedVerdict("A", 0.9, None, 10, 1)

    async def scenario() -> None:
        await cache.set_many({"k1": verdict, "k2": verdict})
        assert (await cache.get_many(["k1"]))[0] == verdict  # k1 is now the most recent
        await cache.set_many({"k3": verdict})
        assert await cache.get_many(["k1", "k2", "k3"]) == [verdict, None, verdict]
        now[0] = 10.5
        assert await cache.get_many(["k1", "k3"]) == [None, None]
        assert len(cache) == 0

    asyncio.run(scenario())


def test_cached_verdict_round_trips_through_json() -> None:
    verdict = CachedVerdict("unparseable", None, "ünïcode\nreasoning", 5, 7)
    assert CachedVerdict.from_json(verdict.to_json()) == verdict
