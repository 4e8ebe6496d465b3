"""Broken copies of a passing program that the sandbox confirms fail: the labels of the mutant and truncation
sources come from running them, never from assuming a change breaks the program."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from judge_training.data import PairExample, difficulty_bucket
from judge_training.sources._mbpp import task_number

if TYPE_CHECKING:
    from sandbox import Limits

# (problem, passing program, [(kind, broken copy)], the sandbox test spec both are run against)
Plan = tuple[dict[str, Any], str, list[tuple[str, str]], Any]


def confirmed_failures(
    plans: Sequence[Plan],
    rates: dict[int, float],
    workers: int,
    source: str,
    policy: str,
    limits: Limits | None = None,
) -> tuple[list[PairExample], dict[str, int]]:
    """Run each plan's canonical and broken copies against its spec in the sandbox (one batch for all plans);
    keep (canonical, broken) pairs where the canonical passes and the broken copy fails.
    A plan's problem may name its own ``policy`` (who wrote the passing program); else ``policy`` is used.
    ``limits`` defaults to the sandbox's own, sized for MBPP-style functions."""
    from sandbox import Sandbox

    jobs = [(program, spec) for _, canonical, broken, spec in plans
            for program in (canonical, *(copy for _, copy in broken))]
    results = iter(Sandbox(limits=limits, workers=workers).run_many(jobs, desc=source))
    pairs: list[PairExample] = []
    stats: dict[str, int] = defaultdict(int)
    for problem, canonical, broken, _ in plans:
        canonical_ok = next(results).passed
        task_id, prompt, author = problem["task_id"], problem["prompt"], problem.get("policy", policy)
        difficulty = difficulty_bucket(rates.get(task_number(task_id)))
        for kind, program in broken:
            failed = not next(results).passed
            stats[f"{kind}:{'fails' if failed else 'survives'}"] += 1
            if canonical_ok and failed:
                pairs.append(PairExample(task_id, prompt, canonical, program, source, difficulty, author))
        stats["canonical_passes" if canonical_ok else "canonical_fails"] += 1
    return pairs, dict(stats)
