"""The `function` shape: a top-level ``def NAME`` called as ``NAME(literals)`` (HumanEval, MBPP, BigCodeBench).

Its probes are Python expressions evaluated with the candidate's function bound (sandbox mode `probes`): the
statement's doctests and examples, the caller's asserts, argument lists and generated inputs
(daj.probes.probeset.build_probe_set)."""

from __future__ import annotations

from dataclasses import replace

from daj.probes.entry import infer_entry_point
from daj.probes.examples import call_arguments
from daj.probes.inputs import call_text, stable_repr
from daj.probes.probeset import Probe, ProbeSet, build_probe_set
from daj.probes.shapes.base import CallerCase, Detection, ProbeInputError, ShapeRequest

name = "function"
description = "a top-level Python function, called with literal arguments"


def detect(request: ShapeRequest) -> Detection | None:
    """The requested entry point, or the statement's function (the one left without a body)."""
    if request.entry_point:
        return Detection(name, request.entry_point, "request")
    entry = infer_entry_point(request.problem, [])
    return Detection(name, entry.name, entry.how) if entry.name is not None else None


def detect_from_candidates(request: ShapeRequest) -> Detection | str:
    entry = infer_entry_point(request.problem, request.candidates)
    return Detection(name, entry.name, entry.how) if entry.name is not None else entry.how


def _arguments(args: tuple[object, ...]) -> str:
    return ", ".join(stable_repr(value) for value in args)


def _test_text(case: CallerCase, entry_point: str) -> str:
    if case.text is not None:
        return case.text
    if case.args is not None:
        if not case.has_expected:
            raise ProbeInputError(case.where, "an `args` test needs `expected`")
        return f"assert {call_text(entry_point, case.args)} == {stable_repr(case.expected)}"
    raise ProbeInputError(case.where, "a `stdin` test, but the candidates are functions: give `args` and "
                          "`expected`, or an assert statement")


def _input_text(case: CallerCase) -> str:
    if case.text is not None:
        if call_arguments(f"f({case.text})", "f") is None:
            raise ProbeInputError(case.where, "not an argument list of Python literals, e.g. `[1, 2], 'a'`")
        return case.text
    if case.args is not None:
        return _arguments(case.args)
    raise ProbeInputError(case.where, "a `stdin` input, but the candidates are functions: give `args`")


def probe_set(request: ShapeRequest, detection: Detection) -> ProbeSet:
    tests = [_test_text(case, detection.entry_point) for case in request.tests]
    inputs = [_input_text(case) for case in request.inputs]
    found = build_probe_set(request.problem, request.candidates, infer_entry_point("", [], detection.entry_point),
                            tests, inputs, request.limits)
    assert found is not None  # an entry point was given
    return replace(found, time_limit_s=request.time_limit_s) if request.time_limit_s else found


def generated_probe(text: str, probe_set: ProbeSet) -> Probe | None:
    """An input the request's generator printed: an argument list of Python literals (``[1, 2], 3``)."""
    arguments = text.strip()
    if not arguments or call_arguments(f"f({arguments})", "f") is None:
        return None
    return Probe("input", f"{probe_set.entry_point}({arguments})", source="generator")
