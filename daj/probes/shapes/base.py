"""What every program shape provides, and the request it reads.

A shape is one way a candidate program is called: a top-level function (`function`), a whole program reading
standard input (`stdin`), a LeetCode `class Solution` method (`method`). Each shape module tells whether a request
is its shape, names the entry point, pulls examples out of the statement, turns the caller's tests and inputs into
probes (arguments as data) and says how the sandbox runs them (the probe set's `run_mode`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from daj.probes.probeset import Probe, ProbeLimits, ProbeSet

GENERATED_INPUT_BYTES = 100_000
"""Longest input an `input_generator` may print, in every shape: large inputs tell a slow program from a fast one."""


class ProbeInputError(ValueError):
    """A caller test or input this shape cannot run: `where` names the entry (``tests[2]``)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where


@dataclass(frozen=True)
class CallerCase:
    """One entry of the request's `tests` or `inputs`, in any of its forms:

    - text: the string form (an assert statement in `tests`, an argument list such as ``[1, 2], 3`` in `inputs`);
    - args: ``{"args": [...], "expected": ...}``, the arguments (and the result) as JSON values;
    - stdin: ``{"stdin": ..., "stdout": ...}``, a whole program's input (and its expected output)."""

    where: str  # "tests[0]", "inputs[3]": how errors name it
    text: str | None = None
    args: tuple[Any, ...] | None = None
    expected: Any = None
    has_expected: bool = False
    stdin: str | None = None
    stdout: str | None = None


@dataclass(frozen=True)
class ShapeRequest:
    """What a shape reads: the statement, the distinct candidate programs and the caller's fields."""

    problem: str
    candidates: tuple[str, ...]
    entry_point: str | None = None  # asked for (function: the function; method: the method name)
    shape: str | None = None  # asked for; None: detected
    tests: tuple[CallerCase, ...] = ()
    inputs: tuple[CallerCase, ...] = ()
    limits: ProbeLimits = field(default_factory=ProbeLimits)
    time_limit_s: float | None = None  # asked for; None: the statement's, else the caller's default
    checker: str | None = None  # stdin: a program that reads the input and an output, and exits 0 when valid
    speed_factor: float = 1.0  # how much slower the host runs Python than the reference: scales default limits

    @classmethod
    def of(cls, problem: str, candidates: Sequence[str], tests: Sequence[str] = (), inputs: Sequence[str] = (),
           **fields: Any) -> ShapeRequest:
        """From string tests and inputs (training and evaluation have no other kind)."""
        return cls(problem, tuple(candidates),
                   tests=tuple(CallerCase(f"tests[{i}]", text=t) for i, t in enumerate(tests)),
                   inputs=tuple(CallerCase(f"inputs[{i}]", text=t) for i, t in enumerate(inputs)), **fields)


@dataclass(frozen=True)
class Detection:
    """A shape's claim on a request: its entry point, and how it was found (``statement``, ``candidates``, ...)."""

    shape: str
    entry_point: str
    how: str


@dataclass(frozen=True)
class ProbePlan:
    """The probe set of a request, or the reason there is none (`code`: the error a `required` request gets)."""

    shape: str | None
    entry_point: str | None
    probe_set: ProbeSet | None = None
    reason: str | None = None
    code: str = ""  # "entry_point_unknown" (no shape claimed the request) or "no_probes"
    notes: tuple[str, ...] = ()
    empty: ProbeSet | None = None  # with "no_probes": the set without probes, for an input generator to fill


class ProgramShape(Protocol):
    """One module per shape (daj/probes/shapes/<name>.py), registered in daj/probes/shapes/__init__.py."""

    name: str
    description: str

    def detect(self, request: ShapeRequest) -> Detection | None:
        """This shape's claim on the request from the statement alone (None: the statement does not say)."""

    def detect_from_candidates(self, request: ShapeRequest) -> Detection | str:
        """Its claim from the candidates, or why it cannot claim the request."""

    def probe_set(self, request: ShapeRequest, detection: Detection) -> ProbeSet:
        """Examples, the caller's tests and inputs, and generated inputs; raises ProbeInputError for a caller
        entry this shape cannot run."""

    def generated_probe(self, text: str, probe_set: ProbeSet) -> Probe | None:
        """One input an `input_generator` printed, as this shape's probe (None: not a valid input)."""
