"""Each test format labels the canonical solution as passing and a wrong program as failing."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

from daj.jsonl import read_jsonl
from sandbox import Limits, Sandbox, cases, evalplus_io, execute, humaneval_check, mbpp_asserts
from sandbox.baselines import (
    ProblemSignals,
    docstring_examples,
    generated_tests,
    informal_examples,
    pick_codet,
)
from sandbox.cache import ResultCache
from sandbox.formats import TestSpec, bigcodebench_unittest
from sandbox.labels import complete_program, humaneval_problems, humaneval_spec
from sandbox.runner import cache_key

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.exists(), reason="shared data folder not present")
LIMITS = Limits(wall_seconds=10.0, cpu_seconds=8.0)


def _run_all(jobs):
    return Sandbox(limits=LIMITS, cache=False).run_many(jobs, progress=False)


@needs_data
def test_humaneval_canonical_passes_and_stubs_fail():
    problems = list(humaneval_problems(DATA).values())[::8]
    good = _run_all([(p["prompt"] + p["canonical_solution"], humaneval_spec(p)) for p in problems])
    bad = _run_all([(p["prompt"] + "    return None\n", humaneval_spec(p)) for p in problems])
    assert [r.status for r in good] == ["passed"] * len(problems)
    assert not any(r.passed for r in bad)


@needs_data
def test_helper_functions_come_from_the_official_prompt():
    problem = humaneval_problems(DATA)["HumanEval/32"]  # its test calls poly() from the prompt
    cheat = problem["prompt"] + "    return 0.0\n\ndef poly(xs, x):\n    return 0\n"
    assert execute(cheat, humaneval_spec(problem), LIMITS).status == "failed"


@needs_data
def test_mbpp_assert_lines():
    row = read_jsonl(DATA / "evalplus/MbppPlus-OriginFmt.jsonl.gz")[0]
    asserts = ast.literal_eval(row["test_list"]) if isinstance(row["test_list"], str) else row["test_list"]
    spec = mbpp_asserts(asserts, "similar_elements", imports=[])
    good, bad = _run_all([(row["code"], spec), ("def similar_elements(a, b):\n    return ()\n", spec)])
    assert (good.status, bad.status) == ("passed", "failed")


def test_mbpp_tests_may_call_other_functions_of_the_program():
    spec = mbpp_asserts(["assert helper(2) == 3", "assert f(2) == 4"], "f")
    program = "def helper(x):\n    return x + 1\n\ndef f(x):\n    return 2 * x\n"
    assert execute(program, spec, LIMITS).status == "passed"


@needs_data
def test_evalplus_io_humaneval_and_mbpp():
    he = {p["task_id"]: p for p in read_jsonl(DATA / "evalplus/HumanEvalPlus.jsonl.gz")}
    mb = {p["task_id"]: p for p in read_jsonl(DATA / "evalplus/MbppPlus.jsonl.gz")}
    jobs = [
        (he["HumanEval/2"]["prompt"] + he["HumanEval/2"]["canonical_solution"], evalplus_io(he["HumanEval/2"])),
        (he["HumanEval/32"]["prompt"] + he["HumanEval/32"]["canonical_solution"], evalplus_io(he["HumanEval/32"])),
        (mb["Mbpp/2"]["canonical_solution"], evalplus_io(mb["Mbpp/2"])),  # tuple inputs (deserialised)
        (he["HumanEval/2"]["prompt"] + "    return round(number % 1.0, 2)\n", evalplus_io(he["HumanEval/2"])),
    ]
    assert [r.status for r in _run_all(jobs)] == ["passed", "passed", "passed", "failed"]


def test_evalplus_float_tolerance():
    problem = {
        "task_id": "HumanEval/999",
        "entry_point": "f",
        "prompt": "",
        "atol": 0,
        "canonical_solution": "def f(x):\n    return x * 0.1 + 0.2\n",
        "base_input": [[1], [2]],
        "plus_input": [[3]],
    }
    spec = evalplus_io(problem)
    close = "def f(x):\n    return (x + 2) / 10\n"  # differs in the last bits: within 1e-6
    off = "def f(x):\n    return x * 0.1 + 0.2 + 1e-4\n"  # outside 1e-6
    wrong_type = "def f(x):\n    return str(x * 0.1 + 0.2)\n"
    assert [r.status for r in _run_all([(close, spec), (off, spec), (wrong_type, spec)])] == [
        "passed",
        "failed",
        "failed",
    ]


@needs_data
def test_bigcodebench_missing_modules_are_unsupported_not_failed():
    rows = {r["task_id"]: r for r in read_jsonl(DATA / "bigcodebench/BigCodeBench.hf_data.jsonl.gz")}
    fake = dict(rows["BigCodeBench/1"], libs="['definitely_not_installed_mod']")
    result = execute(fake["complete_prompt"] + fake["canonical_solution"], bigcodebench_unittest(fake), LIMITS)
    assert (result.status, result.detail) == ("unsupported", "missing:definitely_not_installed_mod")
    task = rows["BigCodeBench/1"]
    spec = bigcodebench_unittest(task)
    good = execute(task["complete_prompt"] + task["canonical_solution"], spec, LIMITS)
    bad = execute(task["complete_prompt"] + "    return 'x'\n", spec, LIMITS)
    assert (good.status, bad.status) == ("passed", "failed")


def test_syntax_error_and_missing_entry_point():
    spec = humaneval_check("def check(candidate):\n    assert candidate() == 1\n", "f")
    assert execute("def f(:\n", spec, LIMITS).status == "syntax_error"
    missing = execute("def g():\n    return 1\n", spec, LIMITS)
    assert (missing.status, missing.detail) == ("error", "NameError")


def test_cases_mode_marks_each_case():
    spec = cases(["assert f(1) == 2", "assert f(2) == 5", "assert g(1)", "while True: pass"], "f", case_seconds=0.3)
    result = execute("def f(x):\n    return 2 * x\n", spec, LIMITS)
    assert (result.status, result.cases) == ("failed", "PFET")


def test_cache_makes_reruns_free(tmp_path):
    sandbox = Sandbox(limits=LIMITS, cache=ResultCache(tmp_path))
    spec = humaneval_check("def check(candidate):\n    assert candidate() == 1\n", "f")
    first = sandbox.run("def f():\n    return 1\n", spec)
    second = sandbox.run("def f():\n    return 1\n", spec)
    assert (first.cached, second.cached, second.status) == (False, True, "passed")
    assert len(sandbox.cache) == 1
    other = Limits(wall_seconds=9.0)
    assert cache_key("x", spec, LIMITS, sys.executable) != cache_key("x", spec, other, sys.executable)


def test_spec_rejects_unknown_mode():
    with pytest.raises(ValueError, match="unknown test mode"):
        TestSpec("pytest")


def test_complete_program_appends_bodies_only():
    prompt = 'def f(x):\n    """doc"""\n'
    assert complete_program(prompt, "    return x\n", "f") == prompt + "    return x\n"
    assert complete_program(prompt, "def f(x):\n    return x\n", "f") == "def f(x):\n    return x\n"
    typed = "from typing import List\n\n\ndef f(x: List[int]):\n"
    assert complete_program(typed, "def f(x: List[int]):\n    return x\n", "f").startswith("from typing import List\n")


def test_example_extraction():
    prompt = 'def f(x):\n    """Double.\n    >>> f(2)\n    4\n    >>> f(3)  # odd\n    6\n    """\n'
    assert len(docstring_examples(prompt)) == 2
    informal = 'def g(s):\n    """\n    g("a") ➞ True\n    g(n) = g(n-1)\n    g("b") => false\n    """\n'
    assert informal_examples(informal, "g") == ['assert (g("a")) == (True)', 'assert (g("b")) == (False)']
    tests = generated_tests(["\n    f(1) == 2, 'one'\nassert \n    f(2) == 4\n\nimport timeit", "\n"])
    assert tests == ["assert f(1) == 2, 'one'", "assert f(2) == 4"]


def test_codet_scoring_prefers_large_agreeing_clusters():
    sig = ProblemSignals(
        examples=[True] * 5,
        has_examples=False,
        test_sets=[frozenset({0, 1}), frozenset({0, 1}), frozenset({0, 1, 2}), frozenset(), frozenset({0, 1})],
    )
    labels = [True, True, False, False, True]
    assert pick_codet(list(range(5)), labels, sig) == 1.0  # 3 programs x 2 tests beats 1 x 3


def test_report_is_json_safe():
    result = execute(
        "print('x')\ndef f():\n    return 1\n",
        humaneval_check("def check(candidate):\n    assert candidate() == 1\n", "f"),
        LIMITS,
    )
    assert json.loads(json.dumps(result.to_dict()))["status"] == "passed"
