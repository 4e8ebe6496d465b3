"""Fixed, paired draws of N candidates per problem and seed.

Every method sees exactly the same candidates for a given (task, N, seed), so differences between methods are
paired, not sampling noise. The seeding string is the one `sandbox/baselines.py` uses
(``random.Random(f"{seed}:{task_id}:{n}")``), so the execution baselines it writes were computed on these very
draws too.

When N is the whole pool (N == pool size) there is nothing to draw, only an order to show: seed s then shows the
candidates in rotation s (pool indices s, s+1, ... mod N), so seeds 0..N-1 show each candidate first exactly once
(with N = 2, seeds 0 and 1 are both orders). A random permutation would not promise that. Draws with N smaller
than the pool are the random sample above, unchanged.
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
    """The same N indices for every method and every run (depends only on task, pool size, N and seed): a random
    sample, or rotation `seed` of the whole pool when N == pool size (see the module docstring)."""
    if n > pool_size:
        raise ValueError(f"{task_id}: cannot draw {n} of {pool_size} candidates")
    if n == pool_size:
        return tuple((seed + offset) % n for offset in range(n))
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
