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
    "class ListNode:\n"
    "    def __init__(self, val=0, next=None):\n"
    "        self.val, self.next = val, next\n"
    "class TreeNode:\n"
    "    def __init__(self, val=0, left=None, right=None):\n"
    "        self.val, self.left, self.right = val, left, right\n"
)
"""The names a LeetCode program may use without importing them, ListNode and TreeNode included."""
NODE_BUILDERS = """def _node_class(name):
    for value in vars(Solution).values():  # the class the program's own method sees (it may define its own)
        found = getattr(value, "__globals__", {}).get(name)
        if isinstance(found, type):
            return found
    raise NameError(name)


def build_list(values):
    node_class, head = _node_class("ListNode"), None
    for value in reversed(values):
        node = node_class(value)
        node.next = head
        head = node
    return head


def build_lists(lists):
    return [build_list(values) for values in lists]


def build_tree(values):
    if not values or values[0] is None:
        return None
    node_class = _node_class("TreeNode")
    root = node_class(values[0])
    root.left = root.right = None
    level, i = [root], 1
    while level and i < len(values):
        following = []
        for parent in level:
            for side in ("left", "right"):
                child = None
                if i < len(values) and values[i] is not None:
                    child = node_class(values[i])
                    child.left = child.right = None
                    following.append(child)
                setattr(parent, side, child)
                i += 1
        level = following
    return root
"""
"""Builds a method's ListNode and TreeNode arguments from LeetCode's lists (level order for trees, `null` for a
missing child), in the probes' namespace, with the node classes the program's own method sees."""
_METHOD = re.compile(r"def\s+([A-Za-z_]\w*)\s*\(\s*self\s*(?:,(?P<params>[^)\n]{0,1000}))?\)"
                     r"\s*(?:->\s*(?P<returns>[^:\n]{0,200}))?:")
_CLASS_LINE = re.compile(rf"^[ \t]*class\s+{CLASS}\b", re.MULTILINE)
_JSON = json.JSONDecoder()


def _starter(problem: str) -> str | None:
    """The statement's ``class Solution:`` starter code (from the class line on)."""
    match = _CLASS_LINE.search(problem)
    return problem[match.start():match.start() + 5000] if match else None


def _parameters(written: str) -> list[str]:
    """A parameter list as written, split at its top-level commas (``a: Dict[int, str], k: int = 3``)."""
    parts, depth, current = [], 0, ""
    for char in written + ",":
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        if char == "," and depth == 0:
            if current.strip():
                parts.append(current)
            current = ""
        else:
            current += char
    return parts


def _params(written: str) -> list[str]:
    """The parameters' names."""
    names = [part.split(":")[0].split("=")[0].strip().lstrip("*") for part in _parameters(written)]
    return [name for name in names if name]


def starter_signature(problem: str) -> tuple[str, list[str], str, str] | None:
    """(method, parameters, the parameter list as written, the return annotation) of the statement's starter
    code."""
    starter = _starter(problem)
    match = _METHOD.search(starter) if starter else None
    if match is None:
        return None
    written = match.group("params") or ""
    return match.group(1), _params(written), written, match.group("returns") or ""


def _node_kind(annotation: str) -> str:
    """How an argument of this annotation is built from a list: `list` (a ListNode), `lists` (a list of them),
    `tree` (a TreeNode), or "" (used as is)."""
    if "TreeNode" in annotation:
        return "tree"
    if "ListNode" in annotation:
        return "lists" if re.search(r"\b[Ll]ist\[\s*(?:Optional\[\s*)?ListNode", annotation) else "list"
    return ""


def _annotations(written: str) -> list[str]:
    """Each parameter's annotation, in order ("" when it has none)."""
    return [part.split(":", 1)[1].split("=")[0] if ":" in part else "" for part in _parameters(written)]


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


def _call(method: str, args: list[Any] | Args, kinds: tuple[str, ...] = ()) -> str:
    """``Solution().name(args)``; arguments of a node kind wrapped in their builder (``build_tree([1, None])``)."""
    rendered = [stable_repr(v) for v in args]
    for position, kind in enumerate(kinds[: len(rendered)]):
        if kind:
            rendered[position] = f"build_{kind}({rendered[position]})"
    return f"{CLASS}().{method}({', '.join(rendered)})"


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


def _test_probe(case: CallerCase, method: str, kinds: tuple[str, ...]) -> Probe:
    if case.text is not None:
        return Probe("test", case.text, statement=True, source="caller")
    args = _case_args(case)
    if case.args is not None and not case.has_expected:
        raise ProbeInputError(case.where, "an `args` test needs `expected`")
    if case.args is None and case.stdout is None:
        raise ProbeInputError(case.where, "a `stdin` test needs `stdout`")
    expected = case.expected if case.args is not None else _expected_json(case)
    return Probe("test", _call(method, args, kinds), stable_repr(expected), source="caller")


def _expected_json(case: CallerCase) -> Any:
    try:
        return json.loads(case.stdout or "")
    except (ValueError, RecursionError):
        raise ProbeInputError(case.where, "`stdout` is not a JSON value (the functional format)") from None


def _input_call(case: CallerCase, method: str, kinds: tuple[str, ...]) -> str:
    if case.text is not None:
        if call_arguments(f"f({case.text})", "f") is None:
            raise ProbeInputError(case.where, "not an argument list of Python literals, e.g. `[1, 2], 'a'`")
        return f"{CLASS}().{method}({case.text})"
    return _call(method, _case_args(case), kinds)


def probe_set(request: ShapeRequest, detection: Detection) -> ProbeSet:
    method = detection.entry_point
    signature = starter_signature(request.problem)
    params = signature[1] if signature and signature[0] == method else _candidate_params(request, method)
    own = signature is not None and signature[0] == method
    kinds = tuple(_node_kind(a) for a in _annotations(signature[2])) if own and signature else ()
    node_result = own and signature is not None and _node_kind(signature[3]) in ("list", "tree")
    uses_nodes = any(kinds) or node_result
    examples = statement_examples(request.problem, params) if params else []
    probes = [Probe("example", _call(method, args, kinds), stable_repr(expected), source="statement")
              for args, expected in examples]
    probes += [_test_probe(case, method, kinds) for case in request.tests]
    probes += [Probe("input", _input_call(case, method, kinds), source="caller") for case in request.inputs]
    seeds: list[Args] = [tuple(args) for args, _ in examples]
    rng = problem_rng(request.problem, method)
    generated = mutated_inputs(seeds, rng)
    rng.shuffle(generated)
    limits = request.limits
    taken = {p.call for p in probes}
    if uses_nodes:
        calls = _node_calls(method, generated, kinds, taken, limits.max_generated_inputs, limits.max_input_chars)
    else:
        calls = distinct_inputs(f"{CLASS}().{method}", generated, taken, limits.max_generated_inputs,
                                limits.max_input_chars)
    probes += [Probe("input", call, source="mutation") for call in calls]
    return ProbeSet(CLASS, NODE_BUILDERS if uses_nodes else "", tuple(probes[: limits.max_probes]), shape=name,
                    program_prelude=PROGRAM_PRELUDE, module_name="solution", time_limit_s=request.time_limit_s,
                    method=method, node_results=node_result)


def _node_calls(method: str, generated: list[Args], kinds: tuple[str, ...], taken: set[str], limit: int,
                max_chars: int) -> list[str]:
    """Generated calls of a method with node arguments: the mutated lists, wrapped in their builders (a list that
    is not a list of values for its node kind is left out)."""
    found: list[str] = []
    for args in generated:
        if len(found) >= limit:
            break
        if any(kind and not _node_values(arg, kind) for kind, arg in zip(kinds, args, strict=False)):
            continue
        try:
            call = _call(method, args, kinds)
        except (RecursionError, ValueError, MemoryError):
            continue
        if call not in taken and len(call) <= max_chars:
            taken.add(call)
            found.append(call)
    return found


def _node_values(value: object, kind: str) -> bool:
    if kind == "lists":
        return isinstance(value, list) and all(_node_values(v, "list") for v in value)
    return isinstance(value, list) and all(v is None or isinstance(v, (int, float, str, bool)) for v in value)


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
