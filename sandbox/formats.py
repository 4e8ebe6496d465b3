"""Test specifications: how each benchmark's hidden tests are turned into a job for harness.py.

A TestSpec is plain data (JSON-serialisable) so that it can be hashed into the cache key and sent to the
child on stdin. The program under test travels separately. A spec holds trusted material (dataset tests,
canonical solutions, official prompts), except the caller's own checks in the service's specs: a `stdio`
checker is an untrusted program too, run in the same confinement.
"""

from __future__ import annotations

import ast
import hashlib
import json
import sys
from dataclasses import dataclass, field

MODES = ("script", "io", "unittest", "cases", "probes", "stdio")

# EvalPlus special oracles (evalplus/eval/__init__.py, unsafe_execute), keyed by entry point.
_MBPP_SPECIAL = {
    "are_equivalent": "always",
    "sum_div": "zero_ok",
    "check_str": "not_none",
    "text_match_three": "not_none",
    "text_starta_endb": "not_none",
    **dict.fromkeys(
        [
            "similar_elements",
            "find_char_long",
            "common_in_nested_lists",
            "extract_singly",
            "larg_nnum",
            "intersection_array",
            "find_dissimilar",
            "Diff",
        ],
        "set_eq",
    ),
}


@dataclass(frozen=True)
class TestSpec:
    """What to run against a program. ``payload`` holds mode-specific fields (see harness.py)."""

    __test__ = False  # not a pytest class, despite the name

    mode: str
    payload: dict = field(default_factory=dict)
    needs_site: bool = False
    required_modules: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown test mode {self.mode!r}; expected one of {MODES}")

    def job(self) -> dict:
        return {"mode": self.mode, **self.payload}

    def digest(self) -> str:
        blob = json.dumps([self.job(), self.needs_site, list(self.required_modules)], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


def humaneval_check(test: str, entry_point: str, prelude: str = "") -> TestSpec:
    """HumanEval / CodeT style: the test defines ``check(candidate)``; the harness calls it.

    ``prelude`` should be the official prompt: some tests use helpers defined there (e.g. ``poly`` for
    HumanEval/32); taking them from the prompt rather than from the candidate stops a candidate from
    redefining the helper the test relies on.
    """
    return TestSpec("script", {"test": test, "entry_point": entry_point, "prelude": prelude, "call": "check"})


def script(test: str, entry_point: str, prelude: str = "") -> TestSpec:
    """A test script that refers to functions by name (e.g. LDB's MBPP ``check(remove_Occ)``).

    As in the original MBPP harness, the test sees every name the program defines (some MBPP tests call a
    helper other than the entry point), but its builtins are still the pre-candidate snapshot."""
    payload = {"test": test, "entry_point": entry_point, "prelude": prelude, "call": None, "candidate_names": True}
    return TestSpec("script", payload)


def mbpp_asserts(asserts: list[str], entry_point: str, imports: list[str] | None = None) -> TestSpec:
    """MBPP ``assert f(x) == y`` lines (plus its ``test_imports``)."""
    test = "\n".join([*(imports or []), *asserts]) + "\n"
    return script(test, entry_point)


def _special_oracle(task_id: str, entry_point: str) -> str | None:
    if task_id.startswith("HumanEval/"):
        return "find_zero" if entry_point == "find_zero" else None
    return _MBPP_SPECIAL.get(entry_point)


def evalplus_io(problem: dict, base_only: bool = False) -> TestSpec:
    """HumanEval+ / MBPP+: inputs only; expected outputs are computed in the child from the canonical solution
    before candidate code runs, compared as EvalPlus does (exact, else type/len check + allclose with atol,
    atol=1e-6 for float outputs)."""
    inputs = list(problem["base_input"]) + ([] if base_only else list(problem["plus_input"]))
    task_id = problem["task_id"]
    mbpp_number = int(task_id.split("/")[1]) if task_id.startswith("Mbpp/") else None
    return TestSpec(
        "io",
        {
            "entry_point": problem["entry_point"],
            "canonical": problem["prompt"] + problem["canonical_solution"]
            if mbpp_number is None
            else problem["canonical_solution"],
            "inputs": inputs,
            "atol": float(problem.get("atol") or 0),
            "special": _special_oracle(task_id, problem["entry_point"]),
            "mbpp_number": mbpp_number,
        },
    )


def top_level_imports(source: str) -> set[str]:
    """Top-level module names imported anywhere in ``source`` (empty if it does not parse)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.builtin_module_names and n != "__future__"}


def bigcodebench_unittest(task: dict) -> TestSpec:
    """BigCodeBench: ``class TestCases(unittest.TestCase)``. The modules the task and its tests import are
    checked in the target interpreter before running, so missing libraries give ``unsupported``, not a
    wrong label."""
    libs = task.get("libs") or []
    if isinstance(libs, str):
        libs = ast.literal_eval(libs)
    modules = top_level_imports(task["test"]) | top_level_imports(task.get("code_prompt", "")) | set(libs)
    return TestSpec(
        "unittest",
        {
            "test": task["test"],
            "entry_point": task.get("entry_point", "task_func"),
            "prelude": "",
            "test_class": "TestCases",
        },
        needs_site=True,
        required_modules=tuple(sorted(modules)),
    )


def cases(snippets: list[str], entry_point: str, prelude: str = "", case_seconds: float = 1.0) -> TestSpec:
    """Independent assert snippets; the result records one mark per snippet (P/F/E/T)."""
    return TestSpec(
        "cases", {"cases": list(snippets), "entry_point": entry_point, "prelude": prelude, "case_seconds": case_seconds}
    )


def probes(
    items: list[dict],
    entry_point: str,
    prelude: str = "",
    case_seconds: float = 1.0,
    output_chars: int = 200,
    max_timeouts: int = 3,
    program_prelude: str = "",
    module_name: str = "",
    node_results: bool = False,
) -> TestSpec:
    """Behaviour probes: each item is ``{"kind", "call", "expected"}``. ``call`` is an expression whose value
    is recorded as deterministic text (checked against the ``expected`` expression when there is one), or for
    ``kind == "assert"`` an ``assert`` statement. The result has one mark (P/F/E/T) and one output per probe.
    ``program_prelude`` runs before the program in its namespace and ``module_name`` is its ``__name__`` (the
    method shape: LeetCode's names, and a class that is imported rather than run as a script); its results then
    compare as JSON, ListNode and TreeNode values as LeetCode's lists, and with ``node_results`` a missing node
    (None) as ``[]``."""
    payload = {
        "probes": [dict(item) for item in items],
        "entry_point": entry_point,
        "prelude": prelude,
        "case_seconds": case_seconds,
        "output_chars": output_chars,
        "max_timeouts": max_timeouts,
    }
    if program_prelude or module_name:  # only when used: a function probe set's spec stays what it was
        payload |= {"program_prelude": program_prelude, "module_name": module_name, "json_results": True}
    if node_results:
        payload["node_results"] = True
    return TestSpec("probes", payload)


def stdio(items: list[dict], case_seconds: float = 2.0, output_chars: int = 200, max_timeouts: int = 3,
          checker: str = "", ignore_case: bool = False) -> TestSpec:
    """Whole programs: each item is ``{"kind": "stdin", "stdin", "expected"}``. The program runs once per item as
    ``__main__`` with ``stdin`` as its standard input, for at most ``case_seconds`` of CPU; its standard output is
    compared with ``expected`` when there is one (docs/service.md gives the rules). The result has one mark, one
    output text and one CPU time per item. A ``checker`` (a program run as ``checker INPUT OUTPUT ANSWER``, the
    three as file paths, with the same CPU limit) judges each output instead: exit 0 is valid. ``ignore_case``:
    the statement accepts the answer in any letter case (``yes`` for ``YES``)."""
    payload = {"probes": [dict(item) for item in items], "case_seconds": case_seconds,
               "output_chars": output_chars, "max_timeouts": max_timeouts}
    if checker:
        payload |= {"checker": checker, "checker_seconds": case_seconds}
    if ignore_case:
        payload["ignore_case"] = True
    return TestSpec("stdio", payload)


def generator_spec(runs: int, case_seconds: float = 2.0, output_chars: int = 20_000) -> TestSpec:
    """An input generator: the program runs `runs` times as ``generator SEED`` (seeds 0..runs-1) with an empty
    standard input; each run's standard output, as printed, is one input (at most `output_chars` bytes, else the
    run is marked E). After two timeouts the remaining seeds are not run (marked T)."""
    items = [{"kind": "stdin", "stdin": "", "argv": [str(seed)], "expected": None} for seed in range(runs)]
    return TestSpec("stdio", {"probes": items, "case_seconds": case_seconds, "output_chars": output_chars,
                              "max_timeouts": 2, "raw_outputs": True})
