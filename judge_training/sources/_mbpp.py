"""MBPP data that several sources share: the LDB seed programs of three policy models (labels, and the pass
rate of each problem, the difficulty signal) and the MBPP+ problems whose base tests judge the MBPP sources."""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daj.jsonl import read_jsonl

LDB_MBPP_MODELS = ("codellama", "gpt-3.5-turbo-0613", "starcoder")
MBPP_PLUS_FILE = "evalplus/MbppPlus.jsonl.gz"


@dataclass(frozen=True)
class LdbProgram:
    task_id: str
    problem: str
    program: str
    model: str
    passed: bool


@dataclass(frozen=True)
class LdbSeeds:
    """Every LDB MBPP program, where each model's labels came from, and each problem's pass rate."""

    programs: list[LdbProgram]
    label_source: dict[str, str]
    rates: dict[int, float]


def task_number(task_id: str) -> int:
    """MBPP/LDB/MBPP+ spell one problem differently (``MBPP/11``, ``Mbpp/11``): the number joins them."""
    return int(task_id.split("/")[1])


def _ldb_file(data_dir: Path, model: str) -> Path:
    return data_dir / f"ldb/mbpp__seed__{model}__seed.jsonl.gz"


def ldb_models_present(data_dir: Path) -> list[str]:
    return [m for m in LDB_MBPP_MODELS if _ldb_file(data_dir, m).is_file()]


def ldb_files(data_dir: Path) -> list[Path]:
    """The LDB MBPP files (hashed into the metadata of every source that reads the LDB labels or rates)."""
    return sorted(data_dir.glob("ldb/mbpp__*.jsonl.gz"))


def mbpp_files(data_dir: Path) -> list[Path]:
    """What an MBPP+ source reads: the MBPP+ problems, and the LDB programs its difficulty comes from."""
    return [data_dir / MBPP_PLUS_FILE, *ldb_files(data_dir)]


def mbpp_plus_problems(data_dir: Path) -> list[dict[str, Any]]:
    return read_jsonl(data_dir / MBPP_PLUS_FILE)


def _sandbox_labels(pools_dir: Path, model: str) -> dict[str, bool] | None:
    """Re-run labels from the sandbox helper's pool, if it wrote one."""
    path = pools_dir / f"ldb_mbpp_{model}.jsonl.gz"
    if not path.is_file():
        return None
    from daj.pools import read_pools

    return {p.task_id: bool(p.passed[0]) for p in read_pools(path) if p.passed and p.passed[0] is not None}


def with_visible_tests(prompt: str, given_tests: str | Sequence[str]) -> str:
    """The statement with MBPP's visible test(s) written into its docstring, one `assert` a line (as MBPP shows
    them to a model, and as the probes read them as checks); unchanged when it has no docstring to extend.
    `given_tests` is a list, or its Python literal (the LDB files hold both)."""
    if isinstance(given_tests, str):
        try:
            given_tests = ast.literal_eval(given_tests) if given_tests.strip() else []
        except (ValueError, SyntaxError):
            return prompt
    tests = [t.strip() for t in given_tests if isinstance(t, str) and t.strip().startswith("assert ")]
    end = prompt.rstrip().rfind('"""')
    if not tests or end <= prompt.find('"""'):
        return prompt
    lines = "".join(f"    {test}\n" for test in tests)
    return prompt[:end].rstrip() + "\n" + lines + "    " + prompt[end:]


def load_ldb_mbpp(
    data_dir: Path,
    pools_dir: Path,
    visible_tests: bool = False,
) -> tuple[list[LdbProgram], dict[str, str]]:
    """All LDB MBPP seed programs with labels, and where each model's labels came from; `visible_tests` writes
    each problem's visible test into its statement."""
    programs: list[LdbProgram] = []
    label_source: dict[str, str] = {}
    for model in ldb_models_present(data_dir):
        rerun = _sandbox_labels(pools_dir, model)
        label_source[model] = "sandbox re-run pool" if rerun is not None else "LDB is_solved (not re-run)"
        for row in read_jsonl(_ldb_file(data_dir, model)):
            recorded = str(row["is_solved"]).lower() == "true"
            passed = rerun.get(row["task_id"], recorded) if rerun is not None else recorded
            problem = with_visible_tests(row["prompt"], row.get("given_tests", "")) if visible_tests else row["prompt"]
            programs.append(LdbProgram(row["task_id"], problem, row["solution"], model, passed))
    return programs, label_source


def mbpp_pass_rates(programs: Sequence[LdbProgram]) -> dict[int, float]:
    """Pass rate of each MBPP problem over the LDB policy models (the difficulty signal)."""
    by_task: dict[int, list[bool]] = defaultdict(list)
    for prog in programs:
        by_task[task_number(prog.task_id)].append(prog.passed)
    return {task: sum(v) / len(v) for task, v in by_task.items()}


def load_seeds(data_dir: Path, pools_dir: Path, visible_tests: bool = False) -> LdbSeeds:
    programs, label_source = load_ldb_mbpp(data_dir, pools_dir, visible_tests)
    return LdbSeeds(programs, label_source, mbpp_pass_rates(programs))
