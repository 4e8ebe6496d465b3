"""``ldb_mbpp``: LDB seed programs of three policy models on MBPP; pairs are (solved, unsolved) programs of one
problem. Labels: re-run sandbox pools ``<pools_dir>/ldb_mbpp_<model>.jsonl.gz`` when they exist, otherwise
LDB's recorded ``is_solved`` (which one is recorded in the metadata, ``ldb_label_source``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from judge_training.data import PairExample, difficulty_bucket
from judge_training.sources._mbpp import LdbProgram, ldb_files, task_number
from judge_training.sources.base import Drawn, Source, SourceContext

NAME = "ldb_mbpp"


def ldb_pairs(programs: Sequence[LdbProgram], rates: dict[int, float]) -> list[PairExample]:
    """Every (passing, failing) combination of different programs of one problem."""
    by_task: dict[str, list[LdbProgram]] = defaultdict(list)
    for prog in programs:
        by_task[prog.task_id].append(prog)
    pairs = []
    for task_id, progs in sorted(by_task.items()):
        difficulty = difficulty_bucket(rates.get(task_number(task_id)))
        for good in (p for p in progs if p.passed):
            for bad in (p for p in progs if not p.passed and p.program.strip() != good.program.strip()):
                policy = "+".join(sorted({good.model, bad.model}))
                pairs.append(PairExample(task_id, good.problem, good.program, bad.program, NAME, difficulty, policy))
    return pairs


def _draw(ctx: SourceContext) -> Drawn:
    seeds = ctx.ldb
    return Drawn(ldb_pairs(seeds.programs, seeds.rates), {"ldb_label_source": seeds.label_source})


SOURCE = Source(NAME, _draw, ldb_files)
