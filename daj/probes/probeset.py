"""The probe set of one selection: what every candidate is run on, built from the request alone.

A probe is an expression evaluated in the candidate's namespace (``call``), with the value it must equal
(``expected``) for the statement's examples and ``f(x) == y`` asserts (the statement's or the caller's), none
for generated inputs; or an ``assert`` statement (any other assert of the statement or the caller). The set
reads nothing but the request: no dataset, no data directory, so an evaluation cannot leak hidden tests into it.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

from daj.probes.entry import EntryPoint, infer_entry_point, signature_of, statement_prelude
from daj.probes.examples import (
    Example,
    assert_as_example,
    call_arguments,
    entry_call_arguments,
    statement_asserts,
    statement_examples,
)
from daj.probes.inputs import Args, distinct_inputs, hinted_inputs, mutated_inputs

PROBES_VERSION = "daj-probes-v5"

Origin = Literal["example", "test", "input"]


@dataclass(frozen=True)
class Probe:
    origin: Origin  # example (from the statement), test (the caller's), input (no expected result)
    call: str  # an expression, or for `statement` probes an assert statement; a stdin probe's input text
    expected: str | None = None  # a Python expression; a stdin probe's expected output text
    statement: bool = False
    source: str = ""  # statement, caller, mutation, type_hints, generator
    stdin: bool = False  # a whole program's standard input (the stdin shape), not an expression

    @property
    def checks(self) -> bool:
        """Passing or failing it says something about correctness (examples and tests)."""
        return self.origin != "input"

    def job(self) -> dict[str, str | None]:
        """What the sandbox harness runs (its ``probes`` mode, or ``stdio`` for stdin probes)."""
        if self.stdin:
            return {"kind": "stdin", "stdin": self.call, "expected": self.expected}
        return {"kind": "assert" if self.statement else "check", "call": self.call, "expected": self.expected}


@dataclass(frozen=True)
class ProbeLimits:
    max_generated_inputs: int = 12
    max_input_chars: int = 400
    max_probes: int = 48

    @classmethod
    def for_selection(cls, generated_inputs: int, max_tests: int) -> ProbeLimits:
        """The bounds of one selection's probe set, as the service sets them: its generated inputs, room for up to
        `max_tests` caller tests and as many caller inputs, and the statement's examples."""
        return cls(max_generated_inputs=generated_inputs, max_probes=generated_inputs + 2 * max_tests + 32)


@dataclass(frozen=True)
class ProbeSet:
    """What every candidate of one selection runs on, and how the sandbox runs it: `run_mode` `probes` binds
    `entry_point` from the program's namespace into each probe's (after `prelude`); `stdio` runs the whole
    program once per probe. `program_prelude` and `module_name` are the namespace the program itself runs in
    (the method shape's LeetCode names). `notes` say what the response should know (e.g. several valid answers)."""

    entry_point: str
    prelude: str
    probes: tuple[Probe, ...] = field(default_factory=tuple)
    shape: str = "function"
    run_mode: str = "probes"
    program_prelude: str = ""
    module_name: str = ""
    time_limit_s: float | None = None  # CPU seconds per probe; None: the caller's default
    notes: tuple[str, ...] = ()
    checker: str = ""  # stdio: a program that validates each output (exit 0), instead of exact comparison
    method: str = ""  # the method shape: which method of the entry point's class each probe calls
    ignore_case: bool = False  # stdio: the statement accepts the answer in any letter case
    node_results: bool = False  # method: it returns a ListNode or TreeNode, compared as LeetCode's list

    @property
    def checks(self) -> list[int]:
        return [i for i, probe in enumerate(self.probes) if probe.checks]

    @property
    def inputs(self) -> list[int]:
        return [i for i, probe in enumerate(self.probes) if not probe.checks]

    def counts(self) -> dict[str, int]:
        return {origin: sum(p.origin == origin for p in self.probes) for origin in ("example", "test", "input")}

    def digest(self) -> str:
        blob = json.dumps([PROBES_VERSION, asdict(self)])
        return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


# The salt of the generated inputs' seed. Fixed (it was the version string up to v3): a version bump for another
# reason must not redraw every problem's inputs, or results before and after it stop being comparable.
_INPUT_SEED_SALT = "daj-probes-v3"


def problem_rng(problem: str, entry_point: str) -> random.Random:
    """Seeded by the problem, so the same request always gets the same generated inputs."""
    return random.Random(hashlib.sha256(f"{_INPUT_SEED_SALT}\0{entry_point}\0{problem}".encode()).hexdigest())


def build_probe_set(
    problem: str,
    candidates: Sequence[str],
    entry: EntryPoint | None = None,
    tests: Sequence[str] = (),
    inputs: Sequence[str] = (),
    limits: ProbeLimits | None = None,
) -> ProbeSet | None:
    """Examples, caller tests, caller inputs and generated inputs, in that order; None without an entry point.

    ``inputs`` are argument lists (``"[1, 2], 3"``); ``tests`` are assert statements."""
    limits = limits or ProbeLimits()
    entry = entry or infer_entry_point(problem, candidates)
    name = entry.name
    if name is None:
        return None
    signature = signature_of(name, [problem, *candidates])
    params = [a.arg for a in [*signature.posonlyargs, *signature.args]] if signature is not None else None
    probes: list[Probe] = [Probe("example", e.call, e.expected, source="statement")
                           for e in statement_examples(problem, name, params)]
    probes.extend(_assert_probe(statement, name, "example", "statement")
                  for statement in statement_asserts(problem, name))
    probes.extend(_assert_probe(test, name, "test", "caller") for test in tests)
    seeds: list[Args] = [args for p in probes if (args := entry_call_arguments(p.call, name)) is not None]
    given = [f"{name}({text})" for text in inputs]
    probes.extend(Probe("input", call, source="caller") for call in given)
    seeds.extend(args for call in given if (args := call_arguments(call, name)) is not None)
    rng = problem_rng(problem, name)
    if seeds:
        generated, source = mutated_inputs(seeds, rng), "mutation"
        rng.shuffle(generated)
    else:
        generated, source = hinted_inputs(signature, limits.max_generated_inputs, rng), "type_hints"
    taken = {p.call for p in probes}
    calls = distinct_inputs(name, generated, taken, limits.max_generated_inputs, limits.max_input_chars)
    probes.extend(Probe("input", call, source=source) for call in calls)
    return ProbeSet(name, statement_prelude(problem), tuple(probes[: limits.max_probes]))


def _assert_probe(statement: str, entry_point: str, origin: Origin, source: str) -> Probe:
    """An assert statement as a check: `assert f(x) == y` as a call with its expected value (so a failure shows
    what the program returned), any other assert as a statement that must not raise."""
    example: Example | None = assert_as_example(statement, entry_point)
    if example is not None:
        return Probe(origin, example.call, example.expected, source=source)
    return Probe(origin, statement, statement=True, source=source)
