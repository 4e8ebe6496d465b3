"""The meta set: CodeGen-16B pools of the HumanEval ``meta`` split (mixed problems only), split by problem into
``meta_train`` (drives the outer step) and ``meta_eval`` (reported only). Not a training source: the
registry does not list it. The HumanEval ``test`` split is never read."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

from daj.pools import Pool, read_pools
from judge_training.data import PairExample, difficulty_bucket


def pool_pairs(pools: Sequence[Pool], per_problem: int, seed: int, source: str) -> list[PairExample]:
    """Up to ``per_problem`` (pass, fail) pairs of distinct programs from each mixed pool."""
    rng = random.Random(seed)
    pairs = []
    for pool in pools:
        good = sorted({c.strip() for c, ok in zip(pool.candidates, pool.passed, strict=True) if ok})
        bad = sorted({c.strip() for c, ok in zip(pool.candidates, pool.passed, strict=True) if ok is False})
        combos = [(g, b) for g in good for b in bad]
        rng.shuffle(combos)
        rate = pool.pass_rate
        for g, b in combos[:per_problem]:
            pairs.append(PairExample(pool.task_id, pool.problem, g, b, source, difficulty_bucket(rate), pool.source))
    return pairs


def load_meta_pools(pool_path: Path, splits_path: Path) -> list[Pool]:
    """HumanEval ``meta``-split pools only; refuses any pool from the ``test`` split."""
    meta_ids = set(json.loads(splits_path.read_text())["meta"])
    pools = read_pools(pool_path)
    leaked = [p.task_id for p in pools if p.task_id not in meta_ids]
    if leaked:
        raise ValueError(f"{pool_path} holds problems outside the HumanEval meta split: {leaked[:5]}")
    return pools
