"""The `stdin` shape: a whole program that reads standard input and writes standard output (AtCoder, Codeforces,
most competitive-programming agents' output).

Each probe is one standard input, run through the whole program as `__main__` (sandbox mode `stdio`), with the
expected output when the statement's sample or the caller's test gives one. Outputs are compared line by line
after stripping, then token by token, numbers as decimals (docs/service.md).
"""

from __future__ import annotations

import ast
import hashlib
import random
import re
from dataclasses import dataclass

from daj.probes.entry import parse_python
from daj.probes.probeset import Probe, ProbeSet
from daj.probes.shapes.base import GENERATED_INPUT_BYTES, CallerCase, Detection, ProbeInputError, ShapeRequest

name = "stdin"
description = "a whole program reading standard input and printing its answer"

DEFAULT_TIME_LIMIT_S = 2.0
"""CPU seconds per probe when neither the request nor the statement gives a time limit."""
MAX_STDIN_CHARS = 20_000
"""Longest statement sample kept, and the longest seed of mutated inputs."""
LINES_EDITED = 6
"""Lines of one seed input that generated inputs edit (drawn with the problem's seed)."""
SEVERAL_ANSWERS_NOTE = ("the statement allows several correct answers: its sample outputs are not checks (a "
                        "`checker` would make them checks); the samples run as inputs")

CHECKER_NOTE = "outputs are judged by the request's checker (exit 0: valid), not compared with the expected text"

_HEADER = re.compile(r"^\s*Sample\s+(Input|Output)\s*(\d*)\s*(:?)\s*$", re.IGNORECASE)
_SEVERAL_ANSWERS = re.compile(
    r"print any|output any|any of them|any one of them|(?:multiple|several) (?:valid |correct |possible )?"
    r"(?:solutions|answers)|if there are (?:multiple|several|many)|any (?:valid|correct) (?:answer|solution)",
    re.IGNORECASE,
)
_PROSE = re.compile(r"^\s*[A-Za-z][A-Za-z,']*(?: [A-Za-z,'.]+){3,}")


@dataclass(frozen=True)
class Sample:
    input: str
    output: str


def _block(lines: list[str], start: int, colon: bool, output: bool) -> tuple[list[str], int]:
    """The lines of one sample block after its header at `start`, and the index after it.

    AtCoder-style headers (``Sample Input 1``) are followed by empty lines, the content, and an empty line; a line
    holding only ``\\r`` is content (an empty expected output), not the end; two or more empty lines followed
    by prose also mean an empty output. Codeforces-style headers
    (``Sample Input 1:``) run to the next header or a ``Note`` line, and their blank lines are layout."""
    i = start + 1
    if colon:
        found = []
        while i < len(lines) and not _HEADER.match(lines[i]) and lines[i].strip() != "Note":
            if lines[i].strip():
                found.append(lines[i])
            i += 1
        return found, i
    blank = 0
    while i < len(lines) and lines[i] == "":
        i, blank = i + 1, blank + 1
    if output and blank >= 2 and i < len(lines) and _PROSE.match(lines[i]):
        return [], i  # `Sample Output 2`, two empty lines, then the explanation: the expected output is empty
    found = []
    while i < len(lines) and lines[i] != "" and not _HEADER.match(lines[i]):
        found.append(lines[i])
        i += 1
    return found, i


def statement_samples(problem: str) -> list[Sample]:
    """The statement's ``Sample Input k`` / ``Sample Output k`` pairs, in order (an input without its output is
    left out)."""
    # Codeforces statements glue their first header to the prose before it ("...positive answer).Sample Input 1:").
    lines = re.sub(r"(?<=\S)(Sample\s+(?:Input|Output)\s*\d*\s*:)", r"\n\1", problem).split("\n")
    inputs: dict[str, str] = {}
    outputs: dict[str, str] = {}
    order: list[str] = []
    i = 0
    while i < len(lines):
        match = _HEADER.match(lines[i])
        if not match:
            i += 1
            continue
        kind, number, colon = match.group(1).lower(), match.group(2) or "1", bool(match.group(3))
        block, i = _block(lines, i, colon, kind == "output")
        text = "\n".join(line.rstrip("\r") for line in block)
        if kind == "input":
            inputs.setdefault(number, text + "\n")
            order.append(number)
        else:
            outputs.setdefault(number, text + "\n" if text.strip() else "\n")
    return [Sample(inputs[k], outputs[k]) for k in dict.fromkeys(order) if k in outputs]


_ANY_CASE = re.compile(r"in any (?:letter )?case|case[- ]insensitive|any combination of (?:upper|lower)", re.IGNORECASE)
_TIME_LIMIT = re.compile(r"time\s+limit\s*:?\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|ms)\b", re.IGNORECASE)


def statement_time_limit(problem: str) -> float | None:
    """The statement's "Time Limit: 2 sec" (or "time limit: 1500 ms"), in seconds."""
    match = _TIME_LIMIT.search(problem)
    if match is None:
        return None
    value = float(match.group(1))
    return value / 1000 if match.group(2).lower() == "ms" else value


def any_case(problem: str) -> bool:
    """Whether the statement accepts the answer in any letter case ("You can output the answer in any case")."""
    return bool(_ANY_CASE.search(problem))


def time_limit(request: ShapeRequest) -> float:
    """CPU seconds per probe: the request's; else the statement's time limit, else DEFAULT_TIME_LIMIT_S, scaled
    by the host's speed factor."""
    if request.time_limit_s:
        return request.time_limit_s
    nominal = statement_time_limit(request.problem) or DEFAULT_TIME_LIMIT_S
    return round(nominal * request.speed_factor, 3)


def several_answers(problem: str) -> bool:
    """Whether the statement allows more than one correct output ("print any of them", "If there are multiple
    solutions"): exact comparison would then fail correct programs."""
    return bool(_SEVERAL_ANSWERS.search(problem))


def reads_stdin(tree: ast.Module) -> bool:
    """The program reads standard input: calls `input()`, touches `sys.stdin`, or reads fd 0 (`open(0)`,
    `os.read(0, ...)`) in its code (comments and strings do not count)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "stdin":
            return True
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else (
                node.func.attr if isinstance(node.func, ast.Attribute) else "")
            first = node.args[0] if node.args else None
            if name == "input" or (name in ("open", "read") and isinstance(first, ast.Constant) and first.value == 0):
                return True
    return False


def _called_elsewhere(tree: ast.Module) -> set[str]:
    """Names of the top-level functions the program calls somewhere outside their own body (a script's `main`
    and the `solve` it calls; not a function that is only defined, or only calls itself)."""
    called: set[str] = set()
    for statement in tree.body:
        own = statement.name if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)) else None
        for node in ast.walk(statement):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id != own:
                called.add(node.func.id)
    return called


def _shared_library_function(trees: list[ast.Module]) -> bool:
    """Every program defines one same top-level function that nothing else in it calls: they implement that
    function, and the stdin they read is a demo (a function the program calls, such as `main`, is a script's)."""
    common: set[str] | None = None
    for tree in trees:
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        uncalled = defined - _called_elsewhere(tree)
        common = uncalled if common is None else common & uncalled
    return bool(common)


def detect(request: ShapeRequest) -> Detection | None:
    if request.shape == name:  # a whole program has no entry point to find: the caller's word is enough
        return Detection(name, "", "request")
    if statement_samples(request.problem):
        return Detection(name, "", "statement")
    return None


def detect_from_candidates(request: ShapeRequest) -> Detection | str:
    # A candidate that does not parse cannot run in any shape: it does not vote (as for the function shape).
    parsed = [tree for code in request.candidates if (tree := parse_python(code)) is not None]
    if not parsed or not all(reads_stdin(tree) for tree in parsed):
        return "not every candidate reads standard input"
    if _shared_library_function(parsed):
        return "the candidates read standard input, but share a function they do not call themselves"
    return Detection(name, "", "candidates")


def _test_probe(case: CallerCase) -> Probe:
    if case.stdin is None:
        raise ProbeInputError(case.where, "the candidates are stdin programs: give `stdin` and `stdout`")
    if case.stdout is None:
        raise ProbeInputError(case.where, "a `stdin` test needs `stdout` (give it under `inputs` to run it alone)")
    return Probe("test", case.stdin, case.stdout, source="caller", stdin=True)


def _input_probe(case: CallerCase) -> Probe:
    text = case.stdin if case.stdin is not None else case.text
    if text is None:
        raise ProbeInputError(case.where, "the candidates are stdin programs: give `stdin` (or the input as a string)")
    return Probe("input", text, source="caller", stdin=True)


def probe_set(request: ShapeRequest, detection: Detection) -> ProbeSet:
    samples = [s for s in statement_samples(request.problem) if len(s.input) <= MAX_STDIN_CHARS]
    several = several_answers(request.problem) and not request.checker
    if several:
        probes = [Probe("input", s.input, source="statement", stdin=True) for s in samples]
    else:
        probes = [Probe("example", s.input, s.output, source="statement", stdin=True) for s in samples]
    probes += [_test_probe(case) for case in request.tests]
    probes += [_input_probe(case) for case in request.inputs]
    limits = request.limits
    taken = {p.call for p in probes}
    generated = [text for text in mutated_stdin([p.call for p in probes], _rng(request.problem)) if text not in taken]
    probes += [Probe("input", text, source="mutation", stdin=True)
               for text in list(dict.fromkeys(generated))[: limits.max_generated_inputs]]
    notes = (SEVERAL_ANSWERS_NOTE,) if several and samples else ()
    if request.checker:
        notes = (CHECKER_NOTE,)
    return ProbeSet("", "", tuple(probes[: limits.max_probes]), shape=name, run_mode="stdio",
                    time_limit_s=time_limit(request),
                    notes=notes, checker=request.checker or "", ignore_case=any_case(request.problem))


def _rng(problem: str) -> random.Random:
    return random.Random(hashlib.sha256(f"daj-stdin-inputs\0{problem}".encode()).hexdigest())


def _swap_chars(token: str, rng: random.Random) -> str:
    if len(token) < 2:
        return token
    i = rng.randrange(len(token) - 1)
    return token[:i] + token[i + 1] + token[i] + token[i + 2:]


def _line_edits(tokens: list[str], rng: random.Random) -> list[list[str]]:
    """Edits of one line that keep its token count and its values (so sizes and ranges stay valid): two tokens
    swapped, the line reversed or sorted, two neighbouring characters of a word swapped."""
    edits: list[list[str]] = []
    if len(tokens) >= 2:
        i, j = sorted(rng.sample(range(len(tokens)), 2))
        swapped = list(tokens)
        swapped[i], swapped[j] = swapped[j], swapped[i]
        edits += [swapped, tokens[::-1]]
        numbers = all(re.fullmatch(r"-?\d{1,18}", t) for t in tokens)  # int() of 4300+ digits raises
        edits.append(sorted(tokens, key=int) if numbers else sorted(tokens))
    words = [k for k, t in enumerate(tokens) if len(t) >= 2 and not re.fullmatch(r"-?\d+(\.\d+)?", t)]
    if words:
        k = rng.choice(words)
        edits.append([*tokens[:k], _swap_chars(tokens[k], rng), *tokens[k + 1:]])
    return edits


def mutated_stdin(seeds: list[str], rng: random.Random) -> list[str]:
    """Inputs one line away from a seed input, in the seed's own structure. A multi-line input keeps its first
    line (sizes and counts, in most formats); every other line may be edited (see `_line_edits`)."""
    found: list[str] = []
    for text in seeds:
        if len(text) > MAX_STDIN_CHARS:
            continue
        lines = text.rstrip("\n").split("\n")
        editable = list(range(len(lines)) if len(lines) == 1 else range(1, len(lines)))
        if len(editable) > LINES_EDITED:  # each edit copies the whole input: a few lines per seed, not all
            editable = sorted(rng.sample(editable, LINES_EDITED))
        for index in editable:
            tokens = lines[index].split()
            for edit in _line_edits(tokens, rng):
                if edit != tokens:
                    found.append("\n".join([*lines[:index], " ".join(edit), *lines[index + 1:]]) + "\n")
    rng.shuffle(found)
    return found


def generated_probe(text: str, probe_set: ProbeSet) -> Probe | None:
    """An input the request's generator printed: the whole text is one standard input."""
    if not text.strip() or len(text.encode("utf-8", "surrogateescape")) > GENERATED_INPUT_BYTES:
        return None
    return Probe("input", text, source="generator", stdin=True)
