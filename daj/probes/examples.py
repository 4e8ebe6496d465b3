"""Examples with expected results, read from a problem statement: ``>>>`` doctests and informal lines such as
``f(x) ==> y``. Each example is a pair of Python expressions (what to evaluate, what it should equal)."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

PARSE_ERRORS = (SyntaxError, ValueError, TypeError, MemoryError, RecursionError)
"""What parsing untrusted source can raise (deep nesting gives RecursionError in ast.parse and ast.unparse)."""
MAX_EXAMPLE_CHARS = 2000
"""Longer example lines are skipped: finding where a same-line example splits is quadratic in its length."""


@dataclass(frozen=True)
class Example:
    """``call`` should evaluate to ``expected`` (both Python expressions, as written in the statement)."""

    call: str
    expected: str

    def as_assert(self) -> str:
        return f"assert (\n{self.call}\n) == (\n{self.expected}\n)"


def doctest_examples(prompt: str) -> list[Example]:
    """``>>> expr`` + expected-output line(s). Outputs that are not Python expressions (printed text,
    tracebacks) are skipped."""
    lines, found, i = prompt.splitlines(), [], 0
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped.startswith(">>>"):
            i += 1
            continue
        source = stripped[3:].strip()
        i += 1
        while i < len(lines) and lines[i].strip().startswith("..."):
            source += "\n" + lines[i].strip()[3:].strip()
            i += 1
        expected = []
        while (
            i < len(lines)
            and lines[i].strip()
            and not lines[i].strip().startswith(">>>")
            and '"""' not in lines[i]
            and "'''" not in lines[i]
        ):
            expected.append(lines[i].strip())
            i += 1
        example = Example(source, " ".join(expected)) if expected else _self_checking(source)
        if example is not None and is_single_assert(example.as_assert()):
            found.append(example)
    return found


def _self_checking(source: str) -> Example | None:
    """A doctest with no output line: ``>>> f(x) == y`` (the expression checks itself), or ``>>> f(x) y`` (the
    expected value written on the same line)."""
    if len(source) > MAX_EXAMPLE_CHARS:
        return None
    try:
        node = ast.parse(source.strip(), mode="eval").body
        if (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq)
                and isinstance(node.left, ast.Call)):
            return Example(ast.unparse(node.left), ast.unparse(node.comparators[0]))
    except PARSE_ERRORS:
        node = None
    if node is not None and not (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Call)
                                 and ") [" in source):
        return None  # `f(x) [1, 2]` parses as a subscript, but reads as a call and its expected list
    for cut in range(len(source) - 1, 0, -1):
        if source[cut - 1] != ")":
            continue
        left, right = source[:cut].strip(), source[cut:].strip()
        if right and _is_call(left) and is_literal(right):
            return Example(left, right)
    return None


def _is_call(source: str) -> bool:
    try:
        return isinstance(ast.parse(source, mode="eval").body, ast.Call)
    except PARSE_ERRORS:
        return False


def literal_prefix(text: str) -> str | None:
    """The longest prefix of ``text`` that is a Python literal (``"1". the rest`` -> ``"1"``)."""
    text = text.strip()[:MAX_EXAMPLE_CHARS]
    for end in range(len(text), 0, -1):
        if end < len(text) and text[end] not in " ,.;:":
            continue
        head = text[:end].strip().rstrip(",;")
        if head and is_literal(head):
            return head
    return None


_ASSIGNMENT = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*=\s*")
_PROSE_RESULT = re.compile(
    r"^\s*(?:for|if|when|given)\s+(?P<inputs>.+?),?\s+(?:then\s+)?(?:the\s+)?(?:output|result|answer|function)"
    r"\s+(?:should\s+be|should\s+return|will\s+be|is|returns)\s+(?P<expected>.+)$",
    re.IGNORECASE,
)


def _assigned_arguments(text: str, params: list[str]) -> list[str] | None:
    """``a = [1, 2], k = 3`` -> the literals in parameter order; None unless every parameter is given."""
    values: dict[str, str] = {}
    matches = list(_ASSIGNMENT.finditer(text))
    for position, match in enumerate(matches):
        end = matches[position + 1].start() if position + 1 < len(matches) else len(text)
        value = literal_prefix(text[match.end() : end])
        if match.group(1) in params and value is not None:
            values.setdefault(match.group(1), value)
    if not params or set(values) != set(params):
        return None
    return [values[name] for name in params]


def _input_arguments(text: str, params: list[str]) -> list[str] | None:
    """An ``Input:`` line: assignments to the parameters, or the argument list itself."""
    assigned = _assigned_arguments(text, params)
    if assigned is not None:
        return assigned
    try:
        node = ast.parse(f"f({text.strip()})", mode="eval").body
        if not isinstance(node, ast.Call) or not node.args or node.keywords:
            return None
        if params and len(node.args) != len(params):
            return None
        texts = [ast.unparse(arg) for arg in node.args]
    except PARSE_ERRORS:
        return None
    return texts if all(is_literal(t) for t in texts) else None


def prose_examples(prompt: str, entry_point: str, params: list[str]) -> list[Example]:
    """Examples written in prose: ``Input: arr = [1, 2], k = 1`` followed by ``Output: [2]``, and
    ``For s = "ab", c = "a", the result should be ('b', False)``."""
    found = []
    lines = [line.strip() for line in prompt.splitlines()]
    for i, line in enumerate(lines):
        if line.lower().startswith("input:"):
            args = _input_arguments(line[len("input:") :], params)
            following = next((later for later in lines[i + 1 : i + 4] if later.lower().startswith("output:")), None)
            expected = literal_prefix(following[len("output:") :]) if following else None
            if args is not None and expected is not None:
                found.append(Example(f"{entry_point}({', '.join(args)})", expected))
            continue
        match = _PROSE_RESULT.match(line)
        if match:
            args = _assigned_arguments(match.group("inputs"), params)
            expected = literal_prefix(match.group("expected"))
            if args is not None and expected is not None:
                found.append(Example(f"{entry_point}({', '.join(args)})", expected))
    return found


_SEPARATORS = (" ==> ", " => ", " ➞ ", " should return ", " returns ", " -> ", " == ", " = ")


def informal_examples(prompt: str, entry_point: str) -> list[Example]:
    """Examples written as ``f(x) ==> y`` / ``f(x) ➞ y`` / ``f(x) == y`` / ``f(x) returns y`` (HumanEval uses
    these instead of ``>>>`` in about half the prompts). Lines whose two sides do not parse are skipped."""
    found = []
    for line in prompt.splitlines():
        text = line.strip().lstrip("*").strip()
        if not text.startswith(entry_point + "(") or ">>>" in text:
            continue
        for sep in _SEPARATORS:
            left, matched, right = text.partition(sep)
            right = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", right.strip().rstrip(".")))
            example = Example(left.strip(), right.strip())
            if matched and literal_call(left, entry_point) and is_literal(right) and is_single_assert(
                example.as_assert()
            ):
                found.append(example)
                break
    return found


def statement_examples(prompt: str, entry_point: str, params: list[str] | None = None) -> list[Example]:
    """Doctests, informal ``f(x) ==> y`` lines, then prose examples (which need the parameter names), without
    repeats."""
    seen: dict[tuple[str, str], Example] = {}
    prose = prose_examples(prompt, entry_point, params) if params else []
    for example in doctest_examples(prompt) + informal_examples(prompt, entry_point) + prose:
        if not (_calls(example.call, entry_point) and is_literal(example.expected)):
            continue  # `>>> print(f(1))` / `hello`, `>>> x` / `3`: no candidate could pass these
        seen.setdefault((_normal(example.call), _normal(example.expected)), example)
    return list(seen.values())


def statement_asserts(prompt: str, entry_point: str) -> list[str]:
    """One-line ``assert`` statements of the statement that call the entry point (MBPP-style problems show their
    visible test this way, e.g. ``assert set(f((3, 4), (4, 5))) == set((4,))``), without repeats."""
    found: list[str] = []
    for line in prompt.splitlines():
        text = line.strip()
        if (text.startswith("assert ") and text not in found and is_single_assert(text)
                and _calls(text[len("assert "):], entry_point)):
            found.append(text)
    return found


def entry_call_arguments(statement: str, entry_point: str) -> tuple[object, ...] | None:
    """The literal arguments of the first call of the entry point inside a statement (None: no such call, or
    its arguments are not literals)."""
    try:
        tree = ast.parse(statement)
    except PARSE_ERRORS:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == entry_point:
            return call_arguments(ast.unparse(node), entry_point)
    return None


def _calls(source: str, name: str) -> bool:
    """Whether the expression calls ``name`` somewhere."""
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except PARSE_ERRORS:
        return False
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name for n in ast.walk(tree))


def _normal(source: str) -> str:
    try:
        return ast.unparse(ast.parse(source.strip(), mode="eval"))
    except PARSE_ERRORS:
        return source.strip()


def is_literal(source: str) -> bool:
    try:
        ast.literal_eval(source.strip())
    except PARSE_ERRORS:
        return False
    return True


def literal_call(source: str, entry_point: str) -> bool:
    """``entry_point(<literals>)``: rules out recurrences like ``fib4(n) = fib4(n-1) + ...``."""
    return call_arguments(source, entry_point) is not None


def call_arguments(source: str, entry_point: str) -> tuple[object, ...] | None:
    """The literal argument values of ``entry_point(<literals>)``, or None for any other expression."""
    try:
        node = ast.parse(source.strip(), mode="eval").body
    except PARSE_ERRORS:
        return None
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == entry_point):
        return None
    if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
        return None
    try:
        return tuple(ast.literal_eval(arg) for arg in node.args)
    except PARSE_ERRORS:
        return None


def is_single_assert(source: str) -> bool:
    try:
        tree = ast.parse(source)
    except PARSE_ERRORS:
        return False
    return len(tree.body) == 1 and isinstance(tree.body[0], ast.Assert)


def assert_as_example(statement: str, entry_point: str) -> Example | None:
    """``assert f(x) == y`` -> Example(f(x), y), so a failure can show what the program returned."""
    try:
        tree = ast.parse(statement)
        if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
            return None
        test = tree.body[0].test
        if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
            return None
        left = test.left
        if not (isinstance(left, ast.Call) and isinstance(left.func, ast.Name) and left.func.id == entry_point):
            return None
        return Example(ast.unparse(left), ast.unparse(test.comparators[0]))
    except PARSE_ERRORS:
        return None
