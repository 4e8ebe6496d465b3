"""Program shapes: one module per way a candidate is called, behind one registry, and `plan_probes`, the one
function that turns a request into a probe set or into the reason there is none (the service, training evidence
and evaluation all call it).

Which shape a request is: the one it names (`shape`); else the first whose claim the statement supports (a
function left without a body, LeetCode starter code, sample input/output sections); else the first the
candidates support (a `class Solution` every candidate defines, every candidate reading standard input, a
function every candidate defines). A new shape is one new module here and one line in `SHAPES`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from types import ModuleType

from daj.probes.probeset import Probe, ProbeSet
from daj.probes.shapes import function, method, stdin
from daj.probes.shapes.base import (
    CallerCase,
    Detection,
    ProbeInputError,
    ProbePlan,
    ProgramShape,
    ShapeRequest,
)

SHAPES: dict[str, ModuleType] = {module.name: module for module in (function, method, stdin)}
"""Every shape, by name."""
STATEMENT_ORDER = ("method", "function", "stdin")
"""Whose claim from the statement is asked first: LeetCode starter code names the method even when the request
names it too; a requested `entry_point` is otherwise a function's."""
CANDIDATE_ORDER = ("method", "stdin", "function")
"""Whose claim from the candidates is asked first: whole programs that read stdin often share a `main`."""


def shape_named(name: str) -> ProgramShape:
    try:
        return SHAPES[name]  # a module that follows the ProgramShape protocol
    except KeyError:
        known = "; ".join(f"{key} ({module.description})" for key, module in sorted(SHAPES.items()))
        raise ValueError(f"unknown program shape {name!r}; one of: {known}") from None


def detect_shape(request: ShapeRequest) -> Detection | str:
    """The request's shape and entry point, or why none claims it."""
    if request.shape is not None:
        shape = shape_named(request.shape)
        claim = shape.detect(request)
        return claim if claim is not None else shape.detect_from_candidates(request)
    for name in STATEMENT_ORDER:
        claim = shape_named(name).detect(request)
        if claim is not None:
            return claim
    reasons = []
    for name in CANDIDATE_ORDER:
        found = shape_named(name).detect_from_candidates(request)
        if isinstance(found, Detection):
            return found
        reasons.append(found)
    return "; ".join(dict.fromkeys(reasons))


def plan_probes(request: ShapeRequest) -> ProbePlan:
    """The probe set of a request, or why there is none. Raises ProbeInputError for a caller test or input the
    request's shape cannot run (the service answers 422 naming it)."""
    found = detect_shape(request)
    if isinstance(found, str):
        return ProbePlan(None, None, reason=f"no program shape fits: {found}", code="entry_point_unknown")
    if request.checker and found.shape != "stdin":
        raise ProbeInputError("checker", f"a checker judges what whole programs print; these candidates are "
                              f"{found.shape}s (`{found.entry_point}`)")
    probe_set = shape_named(found.shape).probe_set(request, found)
    if not probe_set.probes:
        return ProbePlan(found.shape, found.entry_point, reason=_nothing_to_run(found.shape), code="no_probes",
                         notes=probe_set.notes, empty=probe_set)
    return ProbePlan(found.shape, found.entry_point, probe_set, notes=probe_set.notes)


def with_generated(probe_set: ProbeSet, texts: Sequence[str]) -> tuple[ProbeSet, int]:
    """The probe set with the inputs an `input_generator` printed appended (as its shape reads them), and how
    many of the texts were not valid inputs or repeated a probe."""
    shape = shape_named(probe_set.shape)
    taken = {probe.call for probe in probe_set.probes}
    added: list[Probe] = []
    for text in texts:
        probe = shape.generated_probe(text, probe_set)
        if probe is None or probe.call in taken:
            continue
        taken.add(probe.call)
        added.append(probe)
    return replace(probe_set, probes=probe_set.probes + tuple(added)), len(texts) - len(added)


def _nothing_to_run(shape: str) -> str:
    if shape == "stdin":
        return ("nothing to run: the statement has no sample input and output; give tests, inputs or an "
                "input_generator")
    return "nothing to run: no examples, tests, inputs or type hints"


__all__ = [
    "CANDIDATE_ORDER",
    "SHAPES",
    "STATEMENT_ORDER",
    "CallerCase",
    "Detection",
    "ProbeInputError",
    "ProbePlan",
    "ProgramShape",
    "ShapeRequest",
    "detect_shape",
    "plan_probes",
    "shape_named",
    "with_generated",
]
