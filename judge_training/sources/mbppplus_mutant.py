"""``mbppplus_mutant``: the MBPP+ canonical solution against AST mutants of it that the sandbox confirms fail
(hard negatives: one-token differences), judged by the MBPP+ base tests. Both programs are re-printed by
``ast.unparse`` so that formatting cannot give the answer away."""

from __future__ import annotations

import ast
import random
from pathlib import Path

from judge_training.data import PairExample
from judge_training.sources._confirm import Plan, confirmed_failures
from judge_training.sources._mbpp import mbpp_files, mbpp_plus_problems
from judge_training.sources._mutation import ast_mutants
from judge_training.sources.base import Drawn, Source, SourceContext

NAME = "mbppplus_mutant"


def mutant_pairs(
    data_dir: Path, rates: dict[int, float], per_problem: int, seed: int, workers: int = 2
) -> tuple[list[PairExample], dict[str, int]]:
    """Canonical MBPP+ solution vs mutants the sandbox confirms FAIL (and whose canonical passes)."""
    from sandbox import evalplus_io

    rng = random.Random(seed)
    plans: list[Plan] = []
    for problem in mbpp_plus_problems(data_dir):
        try:
            canonical = ast.unparse(ast.parse(problem["canonical_solution"]))
            mutants = ast_mutants(problem["canonical_solution"], rng, per_problem)
        except SyntaxError:
            continue
        plans.append((problem, canonical, mutants, evalplus_io(problem, base_only=True)))
    return confirmed_failures(plans, rates, workers, NAME, "mutant")


def _draw(ctx: SourceContext) -> Drawn:
    pairs, stats = mutant_pairs(ctx.data_dir, ctx.ldb.rates, ctx.mutants_per_problem, ctx.seed, ctx.workers)
    return Drawn(pairs, {"mutant_stats": stats})


SOURCE = Source(NAME, _draw, mbpp_files)
