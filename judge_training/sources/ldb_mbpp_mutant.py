"""``ldb_mbpp_mutant``: AST mutants of the *passing LDB programs* (the policy models' own code), judged by the
MBPP+ base tests of the problem; a pair is kept when the original passes and the mutant fails. Hard negatives
in the policies' style, next to the canonical-solution mutants; a pair's ``policy`` is who wrote it."""

from __future__ import annotations

import ast
import random
from collections.abc import Sequence
from pathlib import Path

from judge_training.data import PairExample
from judge_training.sources._confirm import Plan, confirmed_failures
from judge_training.sources._mbpp import LdbProgram, mbpp_files, mbpp_plus_problems, task_number
from judge_training.sources._mutation import ast_mutants
from judge_training.sources.base import Drawn, Source, SourceContext

NAME = "ldb_mbpp_mutant"


def ldb_mutant_pairs(
    data_dir: Path,
    programs: Sequence[LdbProgram],
    rates: dict[int, float],
    per_program: int,
    seed: int,
    workers: int = 2,
) -> tuple[list[PairExample], dict[str, int]]:
    """Passing LDB MBPP programs vs AST mutants of them, both judged by the MBPP+ base tests of the same
    problem: a kept pair needs the original to pass and the mutant to fail."""
    from sandbox import evalplus_io

    rng = random.Random(seed)
    mbpp_plus = {task_number(p["task_id"]): p for p in mbpp_plus_problems(data_dir)}
    plans: list[Plan] = []
    seen: set[tuple[str, str]] = set()
    for prog in programs:
        reference = mbpp_plus.get(task_number(prog.task_id))
        if not prog.passed or reference is None:
            continue
        try:
            original = ast.unparse(ast.parse(prog.program))
            mutants = ast_mutants(prog.program, rng, per_program)
        except SyntaxError:
            continue
        if (prog.task_id, original) in seen or not mutants:  # the same program from two policies: once
            continue
        seen.add((prog.task_id, original))
        problem = {"task_id": prog.task_id, "prompt": prog.problem, "policy": prog.model}
        plans.append((problem, original, mutants, evalplus_io(reference, base_only=True)))
    return confirmed_failures(plans, rates, workers, NAME, "mutant")


def _draw(ctx: SourceContext) -> Drawn:
    seeds = ctx.ldb
    pairs, stats = ldb_mutant_pairs(
        ctx.data_dir, seeds.programs, seeds.rates, ctx.mutants_per_problem, ctx.seed, ctx.workers
    )
    return Drawn(pairs, {"ldb_mutant_stats": stats})


SOURCE = Source(NAME, _draw, mbpp_files)
