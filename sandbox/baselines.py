"""Reference selectors that use execution but no judge, to put the judge's numbers in context.

* docstring examples: pick uniformly among candidates that pass the ``>>>`` examples of the official prompt
  (all candidates if none pass or the prompt has no examples);
* CodeT dual agreement: cluster candidates by the exact set of model-generated tests they pass; score a
  cluster by |programs| x |tests passed|; pick from the best cluster (ties: uniform over tied clusters).

Both report the EXPECTED pass rate of the pick (the mean label over what the selector would choose from),
not a sampled pick, so the only randomness is which N candidates are drawn. Draws use
``random.Random(f"{seed}:{task_id}:{n}")`` so every selector sees the same candidates.
"""

from __future__ import annotations

import ast
import random
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from daj.jsonl import read_jsonl
from daj.pools import Pool, read_pools
from daj.probes import doctest_examples, is_single_assert
from daj.probes import informal_examples as informal_statement_examples
from sandbox.formats import TestSpec, cases
from sandbox.labels import humaneval_problems
from sandbox.runner import Sandbox

CODET_TESTS = "codet/HumanEval_codegen16B_temp0.8_topp0.95_num100_max300_test_case.jsonl.gz"
TESTS_PER_SAMPLE = 5  # first 5 asserts per generated sample, as the CodeT paper describes (not checked vs its code)
NS = (4, 8, 16)
SEEDS = range(5)


def docstring_examples(prompt: str) -> list[str]:
    """``>>> expr`` + expected-output line(s) -> ``assert (expr) == (expected)`` snippets (daj.probes reads them,
    as the service does)."""
    return [example.as_assert() for example in doctest_examples(prompt)]


def informal_examples(prompt: str, entry_point: str) -> list[str]:
    """``f(x) ==> y`` / ``f(x) ➞ y`` / ``f(x) == y`` / ``f(x) returns y`` lines -> assert snippets."""
    return [f"assert ({e.call}) == ({e.expected})" for e in informal_statement_examples(prompt, entry_point)]


def generated_tests(samples: Sequence[str], limit: int = TESTS_PER_SAMPLE) -> list[str]:
    """CodeT generated-test samples (text continuing ``assert ``) -> unique single-assert snippets."""
    seen: dict[str, None] = {}
    for sample in samples:
        chunks = re.split(r"\n\s*assert\b", "\n" + "assert " + sample.lstrip())
        kept = 0
        for chunk in chunks:
            snippet = _longest_assert_prefix("assert " + chunk.strip().removeprefix("assert").strip())
            if snippet and kept < limit:
                seen.setdefault(snippet, None)
                kept += 1
    return list(seen)


def _longest_assert_prefix(text: str) -> str:
    lines = text.splitlines()
    for end in range(len(lines), 0, -1):
        candidate = " ".join(line.strip() for line in lines[:end])
        if is_single_assert(candidate):
            return ast.unparse(ast.parse(candidate))
    return ""


@dataclass
class ProblemSignals:
    """Per candidate: passes all docstring examples? which generated tests does it pass?"""

    examples: list[bool]
    has_examples: bool
    test_sets: list[frozenset[int]]
    informal: list[bool] = field(default_factory=list)  # passes ``>>>`` AND informal examples
    has_informal: bool = False


def collect_signals(sandbox: Sandbox, pools: list[Pool], data_dir: Path) -> dict[str, ProblemSignals]:
    """One sandbox run per candidate with all its cases: ``>>>`` examples, informal examples, generated tests."""
    problems = humaneval_problems(data_dir)
    by_prompt = {row["prompt"]: row["samples"] for row in read_jsonl(data_dir / CODET_TESTS)}
    codet_rows = read_jsonl(data_dir / "codet/HumanEval_for_code_generation.jsonl.gz")
    codet_prompts = {r["task_id"]: r["prompt"] for r in codet_rows}
    jobs: list[tuple[str, TestSpec]] = []
    layout: dict[str, tuple[int, int, int]] = {}
    for pool in pools:
        problem = problems[pool.task_id]
        doctests = docstring_examples(problem["prompt"])
        informal = informal_examples(problem["prompt"], problem["entry_point"])
        tests = generated_tests(_tests_for(by_prompt, codet_prompts[pool.task_id]))
        spec = cases(doctests + informal + tests, problem["entry_point"], prelude=problem["prompt"], case_seconds=0.5)
        layout[pool.task_id] = (len(doctests), len(informal), len(tests))
        jobs.extend((program, spec) for program in pool.candidates)
    results = iter(sandbox.run_many(jobs, desc="selector signals"))
    return {pool.task_id: _signals(pool, layout[pool.task_id], results) for pool in pools}


def _signals(pool: Pool, layout: tuple[int, int, int], results) -> ProblemSignals:
    n_doc, n_inf, n_tests = layout
    n_ex = n_doc + n_inf
    marks = [next(results).cases.ljust(n_ex + n_tests, "E") for _ in pool.candidates]
    return ProblemSignals(
        examples=[set(m[:n_doc]) <= {"P"} for m in marks],
        has_examples=n_doc > 0,
        test_sets=[frozenset(i for i, c in enumerate(m[n_ex:]) if c == "P") for m in marks],
        informal=[set(m[:n_ex]) <= {"P"} for m in marks],
        has_informal=n_ex > 0,
    )


def _tests_for(by_prompt: dict[str, list[str]], codet_prompt: str) -> list[str]:
    """Test-case prompts are the CodeT prompt + 'pass' + '# check the correctness of ...\\nassert '."""
    for prompt, samples in by_prompt.items():
        if prompt.startswith(codet_prompt):
            return samples
    return []


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def pick_examples(idx: list[int], labels: list[bool], sig: ProblemSignals) -> float:
    eligible = [i for i in idx if sig.examples[i]] if sig.has_examples else []
    return _mean([float(labels[i]) for i in (eligible or idx)])


def pick_examples_informal(idx: list[int], labels: list[bool], sig: ProblemSignals) -> float:
    eligible = [i for i in idx if sig.informal[i]] if sig.has_informal else []
    return _mean([float(labels[i]) for i in (eligible or idx)])


def pick_codet(idx: list[int], labels: list[bool], sig: ProblemSignals) -> float:
    clusters: dict[frozenset[int], list[int]] = defaultdict(list)
    for i in idx:
        clusters[sig.test_sets[i]].append(i)
    scores = {key: len(members) * len(key) for key, members in clusters.items()}
    best = max(scores.values())
    tied = [clusters[key] for key, score in scores.items() if score == best]
    return _mean([_mean([float(labels[i]) for i in members]) for members in tied])


def evaluate(pools: list[Pool], signals: dict[str, ProblemSignals]) -> dict:
    table: dict[str, dict[str, float]] = {}
    for n in NS:
        sums: dict[str, list[float]] = defaultdict(list)
        for pool in pools:
            labels = [bool(p) for p in pool.passed]
            for seed in SEEDS:
                idx = random.Random(f"{seed}:{pool.task_id}:{n}").sample(range(len(labels)), n)
                sums["random"].append(_mean([float(labels[i]) for i in idx]))
                sums["oracle"].append(float(any(labels[i] for i in idx)))
                sums["docstring_examples"].append(pick_examples(idx, labels, signals[pool.task_id]))
                sums["docstring_examples_plus_informal"].append(
                    pick_examples_informal(idx, labels, signals[pool.task_id])
                )
                sums["codet_dual_agreement"].append(pick_codet(idx, labels, signals[pool.task_id]))
        table[f"N={n}"] = {name: round(_mean(values), 4) for name, values in sums.items()}
    return table


def run_baselines(sandbox: Sandbox, data_dir: Path, pool_path: Path) -> dict:
    pools = read_pools(pool_path)
    signals = collect_signals(sandbox, pools, data_dir)
    with_examples = sum(s.has_examples for s in signals.values())
    with_informal = sum(s.has_informal for s in signals.values())
    return {
        "problems_with_any_examples": with_informal,
        "pools": str(pool_path),
        "problems": len(pools),
        "problems_with_docstring_examples": with_examples,
        "seeds": len(SEEDS),
        "results": evaluate(pools, signals),
    }


def markdown_table(table: dict) -> str:
    rows = table["results"]
    names = ["random", "docstring_examples", "docstring_examples_plus_informal", "codet_dual_agreement", "oracle"]
    lines = [
        f"Selected pass@1 on {table['pools']} ({table['problems']} problems, {table['seeds']} draws each)",
        "",
        "| N | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for key, row in rows.items():
        lines.append(f"| {key.removeprefix('N=')} | " + " | ".join(f"{100 * row[n]:.1f}%" for n in names) + " |")
    return "\n".join(lines) + "\n"
