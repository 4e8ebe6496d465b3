"""Fixed, paired draws of N candidates per problem and seed.

Every method sees exactly the same candidates for a given (task, N, seed), so differences between methods are
paired, not sampling noise. The seeding string is the one `sandbox/baselines.py` uses
(``random.Random(f"{seed}:{task_id}:{n}")``), so the execution baselines it writes were computed on these very
draws too.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from daj.pools import Pool


@dataclass(frozen=True)
class Draw:
    """N candidate indices of one pool, in the order they are shown to a selector."""

    task_id: str
    n: int
    seed: int
    indices: tuple[int, ...]


@dataclass(frozen=True)
class ShortPool:
    """A pool with fewer than N candidates: skipped for that N, but reported."""

    task_id: str
    n: int
    size: int


def draw_indices(task_id: str, pool_size: int, n: int, seed: int) -> tuple[int, ...]:
    """The same N indices for every method and every run (depends only on task, pool size, N and seed)."""
    if n > pool_size:
        raise ValueError(f"{task_id}: cannot draw {n} of {pool_size} candidates")
    return tuple(random.Random(f"{seed}:{task_id}:{n}").sample(range(pool_size), n))


def make_draws(pools: Sequence[Pool], ns: Iterable[int], seeds: Iterable[int]) -> tuple[list[Draw], list[ShortPool]]:
    """All draws, plus the (task, N) combinations that were skipped because the pool is too small."""
    draws: list[Draw] = []
    short: list[ShortPool] = []
    seed_list = list(seeds)
    for n in ns:
        for pool in pools:
            size = len(pool.candidates)
            if size < n:
                short.append(ShortPool(pool.task_id, n, size))
                continue
            draws.extend(Draw(pool.task_id, n, seed, draw_indices(pool.task_id, size, n, seed)) for seed in seed_list)
    return draws, short
