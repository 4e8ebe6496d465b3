"""Turn raw samples into labelled pools by running the hidden tests in the sandbox.

Sources handled here: CodeT's CodeGen-16B HumanEval samples (164 x 100), LDB's one-program-per-model
HumanEval/MBPP files (re-run to check their ``is_solved``), and generic ``{task_id, completion|program}``
sample files for HumanEval, HumanEval+, MBPP (sanitized, CodeT copy) and MBPP+.
"""

from __future__ import annotations

import ast
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from daj.jsonl import read_jsonl
from daj.pools import Pool, read_pools, write_pools
from sandbox.formats import TestSpec, evalplus_io, humaneval_check, script
from sandbox.runner import RunResult, Sandbox

CODET_SOLUTIONS = "codet/HumanEval_codegen16B_temp0.8_topp0.95_num100_max300_code_solution.jsonl.gz"
CODET_SOURCE = "CodeGen-16B-mono, CodeT release (T=0.8, top_p=0.95, 100 samples, max 300 tokens)"
LDB_MODELS = {
    "humaneval": ("codellama", "gpt-3.5-turbo-0613", "gpt-4-1106-preview", "reflexion", "starcoder"),
    "mbpp": ("codellama", "gpt-3.5-turbo-0613", "starcoder"),
}


def label_of(result: RunResult) -> bool | None:
    """Pool label: passed -> True; unsupported (could not run) -> None (unknown); anything else -> False."""
    if result.status == "unsupported":
        return None
    return result.passed


def humaneval_problems(data_dir: Path) -> dict[str, dict]:
    return {p["task_id"]: p for p in read_jsonl(data_dir / "humaneval/HumanEval.jsonl.gz")}


def humaneval_spec(problem: dict) -> TestSpec:
    """Official ``check(candidate)``; helpers the test needs come from the official prompt (trusted)."""
    return humaneval_check(problem["test"], problem["entry_point"], prelude=problem["prompt"])


def defines(program: str, name: str) -> bool:
    """Whether ``program`` defines function ``name`` at any level (False if it does not parse)."""
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError):
        return False
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name for n in ast.walk(tree))


def complete_program(prompt: str, solution: str, entry_point: str) -> str:
    """A body-only completion is appended to the prompt. A full program is kept, with the prompt's import
    lines (e.g. ``from typing import List``) put in front when it lacks them: the prompt provides them."""
    if not defines(solution, entry_point):
        return prompt + solution
    missing = [line for line in _import_lines(prompt) if line not in solution]
    return "\n".join(missing) + "\n\n" + solution if missing else solution


def _import_lines(prompt: str) -> list[str]:
    head = prompt.split("\ndef ", 1)[0]
    return [line for line in head.splitlines() if line.startswith(("import ", "from "))]


@dataclass
class LabelledSet:
    """Pools plus the raw statuses (for reporting status counts)."""

    pools: list[Pool]
    statuses: dict[str, list[str]]

    def mean_pass_rate(self) -> float:
        rates = [p.pass_rate for p in self.pools if p.pass_rate is not None]
        return sum(rates) / len(rates) if rates else float("nan")

    def status_counts(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for statuses in self.statuses.values():
            for status in statuses:
                counts[status] += 1
        return dict(sorted(counts.items()))


def label_groups(
    sandbox: Sandbox, groups: dict[str, tuple[str, list[str], TestSpec]], source: str, desc: str = "label"
) -> LabelledSet:
    """groups: task_id -> (problem statement, programs, spec). Runs everything in one parallel batch."""
    jobs = [(program, spec) for _, programs, spec in groups.values() for program in programs]
    results = iter(sandbox.run_many(jobs, desc=desc))
    pools, statuses = [], {}
    for task_id, (problem, programs, _) in groups.items():
        got = [next(results) for _ in programs]
        pools.append(Pool(task_id, problem, list(programs), [label_of(r) for r in got], source))
        statuses[task_id] = [r.status for r in got]
    return LabelledSet(pools, statuses)


def codet_groups(data_dir: Path) -> dict[str, tuple[str, list[str], TestSpec]]:
    """CodeT samples -> task_id by exact prompt match; program = official prompt + completion."""
    by_prompt = {
        p["prompt"]: p["task_id"] for p in read_jsonl(data_dir / "codet/HumanEval_for_code_generation.jsonl.gz")
    }
    problems = humaneval_problems(data_dir)
    groups = {}
    for row in read_jsonl(data_dir / CODET_SOLUTIONS):
        task_id = by_prompt[row["prompt"]]
        problem = problems[task_id]
        programs = [problem["prompt"] + completion for completion in row["samples"]]
        groups[task_id] = (problem["prompt"], programs, humaneval_spec(problem))
    return dict(sorted(groups.items(), key=lambda kv: int(kv[0].split("/")[1])))


def split_pools(pools: Iterable[Pool], splits_path: Path) -> dict[str, list[Pool]]:
    """HumanEval pools -> {"meta": [...], "test": [...]} following splits.json."""
    splits = json.loads(Path(splits_path).read_text())
    out: dict[str, list[Pool]] = {"meta": [], "test": []}
    for pool in pools:
        for name in out:
            if pool.task_id in splits[name]:
                out[name].append(pool)
    return out


def read_pools_safe(path: Path) -> list[Pool]:
    return read_pools(path) if Path(path).exists() else []


def write_split(pools: list[Pool], data_dir: Path, out_dir: Path, stem: str) -> dict[str, Path]:
    paths = {}
    for name, subset in split_pools(pools, data_dir / "splits.json").items():
        paths[name] = out_dir / f"{stem}_{name}.jsonl.gz"
        write_pools(paths[name], subset)
    return paths


def ldb_rows(data_dir: Path, dataset: str, model: str) -> list[dict]:
    return read_jsonl(data_dir / f"ldb/{dataset}__seed__{model}__seed.jsonl.gz")


def ldb_spec(row: dict, dataset: str) -> TestSpec:
    if dataset == "humaneval":
        return humaneval_spec(row)
    return script(row["test"], row["entry_point"])  # LDB's MBPP test ends with check(<entry point>)


def ldb_groups(data_dir: Path, dataset: str, model: str) -> dict[str, tuple[str, list[str], TestSpec]]:
    groups = {}
    for row in ldb_rows(data_dir, dataset, model):
        program = complete_program(row["prompt"], row["solution"], row["entry_point"])
        groups[row["task_id"]] = (row["prompt"], [program], ldb_spec(row, dataset))
    return groups


def ldb_agreement(labelled: LabelledSet, rows: list[dict]) -> dict:
    """Compare LDB's recorded ``is_solved`` with our re-run label, per problem."""
    ours = {p.task_id: p.passed[0] for p in labelled.pools}
    theirs = {r["task_id"]: str(r["is_solved"]).lower() == "true" for r in rows}
    common = [t for t in theirs if ours.get(t) is not None]
    agree = sum(ours[t] == theirs[t] for t in common)
    return {
        "n": len(common),
        "agree": agree,
        "agreement": agree / len(common) if common else float("nan"),
        "ldb_pass_rate": sum(theirs[t] for t in common) / max(1, len(common)),
        "rerun_pass_rate": sum(bool(ours[t]) for t in common) / max(1, len(common)),
        "ldb_true_rerun_false": sorted(t for t in common if theirs[t] and not ours[t]),
        "ldb_false_rerun_true": sorted(t for t in common if ours[t] and not theirs[t]),
    }


def sample_groups(samples: list[dict], benchmark: str, data_dir: Path) -> dict[str, tuple[str, list[str], TestSpec]]:
    """Generic samples ``{task_id, program | completion}`` for humaneval, humaneval+, mbpp (CodeT's sanitized
    copy with check()), mbpp+ (inputs, EvalPlus comparison)."""
    problems, make_spec = _benchmark(benchmark, data_dir)
    programs: dict[str, list[str]] = defaultdict(list)
    for sample in samples:
        problem = problems[sample["task_id"]]
        if "program" in sample:
            program = sample["program"]
        else:
            program = complete_program(problem["prompt"], sample["completion"], problem["entry_point"])
        programs[sample["task_id"]].append(program)
    return {t: (problems[t]["prompt"], progs, make_spec(problems[t])) for t, progs in programs.items()}


def _benchmark(benchmark: str, data_dir: Path):
    if benchmark == "humaneval":
        return humaneval_problems(data_dir), humaneval_spec
    if benchmark == "humaneval+":
        return {p["task_id"]: p for p in read_jsonl(data_dir / "evalplus/HumanEvalPlus.jsonl.gz")}, evalplus_io
    if benchmark == "mbpp+":
        return {p["task_id"]: p for p in read_jsonl(data_dir / "evalplus/MbppPlus.jsonl.gz")}, evalplus_io
    if benchmark == "mbpp":
        rows = read_jsonl(data_dir / "codet/mbpp_sanitized_for_code_generation.jsonl.gz")
        return {p["task_id"]: p for p in rows}, lambda p: humaneval_check(p["test"], p["entry_point"])
    raise ValueError(f"unknown benchmark {benchmark!r}: humaneval, humaneval+, mbpp, mbpp+")
