"""The `method` shape: a LeetCode-style ``class Solution`` whose method is called with the example's arguments.

Each probe calls the method on a fresh ``Solution()`` (sandbox mode `probes`, the class bound as the entry point),
after LeetCode's usual prelude (typing names, collections, heapq, bisect, math, ...) in the program's namespace.
Arguments and results are JSON values, as LeetCode writes them (``true``, ``null``); tuples compare as lists.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from daj.probes.entry import parse_python
from daj.probes.examples import call_arguments
from daj.probes.inputs import Args, distinct_inputs, mutated_inputs, stable_repr
from daj.probes.probeset import Probe, ProbeSet, problem_rng
from daj.probes.shapes.base import CallerCase, Detection, ProbeInputError, ShapeRequest

name = "method"
description = "a LeetCode-style `class Solution` method"

CLASS = "Solution"
PROGRAM_PRELUDE = (
    "from typing import *\n"
    "from collections import *\n"
    "from heapq import *\n"
    "from bisect import *\n"
    "from itertools import *\n"
    "from functools import *\n"
    "from math import *\n"
    "from operator import *\n"
    "import collections, heapq, bisect, itertools, functools, math, operator, string, re, sys\n"
    "from builtins import *\n"  # `from math import *` shadows pow; LeetCode's builtins win
)
"""The names a LeetCode program may use without importing them."""
_NODE_TYPES = ("ListNode", "TreeNode", "Node")
_METHOD = re.compile(r"def\s+([A-Za-z_]\w*)\s*\(\s*self\s*(?:,(?P<params>[^)\n]{0,1000}))?\)")
_CLASS_LINE = re.compile(rf"^[ \t]*class\s+{CLASS}\b", re.MULTILINE)
_JSON = json.JSONDecoder()


def _starter(problem: str) -> str | None:
    """The statement's ``class Solution:`` starter code (from the class line on)."""
    match = _CLASS_LINE.search(problem)
    return problem[match.start():match.start() + 5000] if match else None


def _params(text: str) -> list[str]:
    names, depth, current = [], 0, ""
    for char in text + ",":
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        if char == "," and depth == 0:
            param = current.split(":")[0].split("=")[0].strip().lstrip("*")
            if param:
                names.append(param)
            current = ""
        else:
            current += char
    return names


def starter_signature(problem: str) -> tuple[str, list[str], str] | None:
    """(method, parameters, the parameter list as written) of the statement's starter code."""
    starter = _starter(problem)
    match = _METHOD.search(starter) if starter else None
    if match is None:
        return None
    written = match.group("params") or ""
    return match.group(1), _params(written), written


def _solution_methods(code: str) -> dict[str, list[str]] | None:
    tree = parse_python(code)
    if tree is None:
        return None
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == CLASS:
            return {f.name: [a.arg for a in f.args.args[1:]] for f in node.body
                    if isinstance(f, ast.FunctionDef) and not f.name.startswith("_")}
    return None


def detect(request: ShapeRequest) -> Detection | None:
    signature = starter_signature(request.problem)
    if signature is None:
        return None
    return Detection(name, request.entry_point or signature[0], "request" if request.entry_point else "statement")


def detect_from_candidates(request: ShapeRequest) -> Detection | str:
    common: set[str] | None = None
    for code in request.candidates:
        if parse_python(code) is None:
            continue  # cannot run in any shape: it does not vote (as for the function shape)
        methods = _solution_methods(code)
        if methods is None:
            return f"not every candidate defines `class {CLASS}`"
        common = set(methods) if common is None else common & set(methods)
    if request.entry_point and common and request.entry_point in common:
        return Detection(name, request.entry_point, "request")
    if not common:
        return f"no public method of `{CLASS}` defined by every candidate"
    if len(common) == 1:
        return Detection(name, next(iter(common)), "candidates")
    mentioned = sorted(m for m in common if m in request.problem)
    if len(mentioned) == 1:
        return Detection(name, mentioned[0], "candidates")
    return f"several methods of `{CLASS}` could be the entry point: {sorted(common)}"


def _json_prefix(text: str) -> tuple[bool, Any]:
    """The JSON value at the start of `text` (after spaces), if there is one."""
    text = text.strip()
    try:
        value, _ = _JSON.raw_decode(text)
    except (ValueError, RecursionError):  # not JSON, or an integer past Python's 4300-digit conversion limit
        return False, None
    return True, value


def _assigned(text: str, params: list[str]) -> list[Any] | None:
    """``a = [1,2], k = 3`` -> [[1, 2], 3] in parameter order; None unless every parameter has a JSON value."""
    marks = [(m.start(), m.end(), m.group(1)) for m in re.finditer(r"\b([A-Za-z_]\w*)\s*=\s*", text)
             if m.group(1) in params]
    values: dict[str, Any] = {}
    for position, (_, end, param) in enumerate(marks):
        stop = marks[position + 1][0] if position + 1 < len(marks) else len(text)
        ok, value = _json_prefix(text[end:stop].rstrip().rstrip(","))
        if ok:
            values.setdefault(param, value)
    if not params or set(values) != set(params):
        return None
    return [values[p] for p in params]


def statement_examples(problem: str, params: list[str]) -> list[tuple[list[Any], Any]]:
    """LeetCode's ``Input: a = ..., b = ...`` / ``Output: ...`` examples, as JSON values."""
    found: list[tuple[list[Any], Any]] = []
    lines = [line.strip() for line in problem.splitlines()]
    for i, line in enumerate(lines):
        if not line.lower().startswith("input:"):
            continue
        args = _assigned(line[len("input:"):], params)
        following = next((later for later in lines[i + 1: i + 4] if later.lower().startswith("output:")), None)
        if args is None or following is None:
            continue
        ok, expected = _json_prefix(following[len("output:"):])
        if ok:
            found.append((args, expected))
    return found


def _call(method: str, args: list[Any] | Args) -> str:
    return f"{CLASS}().{method}({', '.join(stable_repr(v) for v in args)})"


def _json_lines(text: str) -> list[Any]:
    """LiveCodeBench's functional format: one JSON value per argument, one per line (blank lines skipped)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _lines_as_args(case: CallerCase, text: str) -> list[Any]:
    """LiveCodeBench's functional format: one JSON value per argument, one per line."""
    values = []
    for number, line in enumerate(line for line in text.splitlines() if line.strip()):
        try:
            values.append(json.loads(line))
        except (ValueError, RecursionError):
            raise ProbeInputError(case.where, f"line {number + 1} of `stdin` is not a JSON value (the functional "
                                  "format: one JSON value per argument, one per line)") from None
    return values


def _case_args(case: CallerCase) -> list[Any]:
    if case.args is not None:
        return list(case.args)
    if case.stdin is not None:
        return _lines_as_args(case, case.stdin)
    raise ProbeInputError(case.where, "the candidates are `class Solution` methods: give `args` (or `stdin` in "
                          "the functional format)")


def _test_probe(case: CallerCase, method: str) -> Probe:
    if case.text is not None:
        return Probe("test", case.text, statement=True, source="caller")
    args = _case_args(case)
    if case.args is not None and not case.has_expected:
        raise ProbeInputError(case.where, "an `args` test needs `expected`")
    if case.args is None and case.stdout is None:
        raise ProbeInputError(case.where, "a `stdin` test needs `stdout`")
    expected = case.expected if case.args is not None else _expected_json(case)
    return Probe("test", _call(method, args), stable_repr(expected), source="caller")


def _expected_json(case: CallerCase) -> Any:
    try:
        return json.loads(case.stdout or "")
    except (ValueError, RecursionError):
        raise ProbeInputError(case.where, "`stdout` is not a JSON value (the functional format)") from None


def _input_call(case: CallerCase, method: str) -> str:
    if case.text is not None:
        if call_arguments(f"f({case.text})", "f") is None:
            raise ProbeInputError(case.where, "not an argument list of Python literals, e.g. `[1, 2], 'a'`")
        return f"{CLASS}().{method}({case.text})"
    return _call(method, _case_args(case))


def probe_set(request: ShapeRequest, detection: Detection) -> ProbeSet:
    method = detection.entry_point
    signature = starter_signature(request.problem)
    params = signature[1] if signature and signature[0] == method else _candidate_params(request, method)
    uses_nodes = signature is not None and any(node in signature[2] for node in _NODE_TYPES)
    notes: tuple[str, ...] = ()
    examples = statement_examples(request.problem, params) if params else []
    if uses_nodes and examples:
        notes = ("the method takes ListNode/TreeNode arguments, which are not built from the examples' lists: "
                 "examples skipped",)
        examples = []
    probes = [Probe("example", _call(method, args), stable_repr(expected), source="statement")
              for args, expected in examples]
    probes += [_test_probe(case, method) for case in request.tests]
    probes += [Probe("input", _input_call(case, method), source="caller") for case in request.inputs]
    seeds: list[Args] = [tuple(args) for args, _ in examples]
    rng = problem_rng(request.problem, method)
    generated = mutated_inputs(seeds, rng)
    rng.shuffle(generated)
    limits = request.limits
    calls = distinct_inputs(f"{CLASS}().{method}", generated, {p.call for p in probes},
                            limits.max_generated_inputs, limits.max_input_chars)
    probes += [Probe("input", call, source="mutation") for call in calls]
    return ProbeSet(CLASS, "", tuple(probes[: limits.max_probes]), shape=name, program_prelude=PROGRAM_PRELUDE,
                    module_name="solution", time_limit_s=request.time_limit_s, notes=notes, method=method)


def _candidate_params(request: ShapeRequest, method: str) -> list[str]:
    for code in request.candidates:
        methods = _solution_methods(code)
        if methods and method in methods:
            return methods[method]
    return []


def generated_probe(text: str, probe_set: ProbeSet) -> Probe | None:
    """An input the request's generator printed, in the functional format (one JSON value per argument, one per
    line), as a call of the probe set's method."""
    try:
        args = _json_lines(text)
    except (ValueError, RecursionError):
        return None
    if not args or not probe_set.method:
        return None
    return Probe("input", _call(probe_set.method, args), source="generator")
