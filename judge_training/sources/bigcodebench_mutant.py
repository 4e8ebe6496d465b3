"""``bigcodebench_mutant``: AST mutants of BigCodeBench canonical solutions, judged by each task's unittest
suite (tasks whose libraries this interpreter lacks are left out): longer, library-heavy programs (files,
regexes, dates, collections) next to MBPP's short functions."""

from __future__ import annotations

import ast
import random
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daj.jsonl import read_jsonl
from judge_training.data import PairExample
from judge_training.sources._confirm import Plan, confirmed_failures
from judge_training.sources._mutation import ast_mutants
from judge_training.sources.base import Drawn, Source, SourceContext

if TYPE_CHECKING:
    from sandbox import TestSpec

NAME = "bigcodebench_mutant"
BIGCODEBENCH_FILE = "bigcodebench/BigCodeBench.hf_data.jsonl.gz"


def bigcodebench_tasks(data_dir: Path) -> list[tuple[dict[str, Any], TestSpec]]:
    """The BigCodeBench tasks, each with its test spec, whose libraries (declared, and imported by the task and
    its tests) this interpreter has: the others would come back ``unsupported`` from the sandbox and can give
    no label. One ``find_spec`` probe covers every task."""
    from sandbox import bigcodebench_unittest
    from sandbox.runner import missing_modules

    specs = [(task, bigcodebench_unittest(task)) for task in read_jsonl(data_dir / BIGCODEBENCH_FILE)]
    needed = sorted(set().union(*(spec.required_modules for _, spec in specs)))
    missing = set(missing_modules(sys.executable, tuple(needed)))
    return [(task, spec) for task, spec in specs if not missing.intersection(spec.required_modules)]


def bigcodebench_mutant_pairs(
    data_dir: Path, per_problem: int, seed: int, workers: int = 2, limit_tasks: int | None = None
) -> tuple[list[PairExample], dict[str, int]]:
    """BigCodeBench canonical solution vs AST mutants of it, judged by the task's own unittest suite: a kept
    pair needs the canonical to pass and the mutant to fail. The problem is the task's ``complete_prompt``
    (imports, signature, docstring: the HumanEval shape); the programs are ``code_prompt`` + body, re-printed
    by ``ast.unparse``. No pass rates exist for these tasks, so their difficulty is ``unknown``."""
    from sandbox.limits import BIGCODEBENCH_LIMITS

    rng = random.Random(seed + 2)  # its own stream: the MBPP+ mutants draw from `seed`
    tasks = bigcodebench_tasks(data_dir)[:limit_tasks]
    plans: list[Plan] = []
    for task, spec in tasks:
        source = task["code_prompt"] + task["canonical_solution"]
        try:
            canonical = ast.unparse(ast.parse(source))
            mutants = ast_mutants(source, rng, per_problem)
        except SyntaxError:
            continue
        plans.append(({"task_id": task["task_id"], "prompt": task["complete_prompt"]}, canonical, mutants, spec))
    pairs, stats = confirmed_failures(plans, {}, workers, NAME, "mutant", limits=BIGCODEBENCH_LIMITS)
    return pairs, {**stats, "tasks_with_libraries": len(tasks)}


def _draw(ctx: SourceContext) -> Drawn:
    pairs, stats = bigcodebench_mutant_pairs(ctx.data_dir, ctx.mutants_per_problem, ctx.seed, ctx.workers)
    return Drawn(pairs, {"bigcodebench_mutant_stats": stats})


def _files(data_dir: Path) -> list[Path]:
    return [data_dir / BIGCODEBENCH_FILE]


SOURCE = Source(NAME, _draw, _files)
