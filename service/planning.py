"""Whether and on what a selection's candidates run: the request's execution fields checked, the entry point
found, the probe set built; or why they will not run. `required` turns every such reason into an error, `auto`
into a judge-only selection that says why."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, replace
from typing import Protocol

from daj.probes import PARSE_ERRORS, ProbeLimits, ProbeSet
from daj.probes.shapes import CallerCase, ProbeInputError, ShapeRequest, plan_probes
from service.errors import ApiError
from service.execution import Executor
from service.protocol import CallerInput, CallerTest, ExecutionMode, ProgramShapeName, SelectRequest
from service.settings import Settings


@dataclass(frozen=True)
class ExecutionPlan:
    """What execution will do for a selection: run `probe_set`, or nothing, for `reason`."""

    status: str  # "ran" (planned), "off" (the request said so) or "skipped"
    reason: str | None = None
    entry_point: str | None = None
    probe_set: ProbeSet | None = None
    budget_s: float = 0.0
    shape: str | None = None
    notes: tuple[str, ...] = ()
    generator: str | None = None  # the request's input_generator, run before the candidates
    generator_runs: int = 0


def _chars(item: str | CallerTest | CallerInput) -> int:
    return len(item) if isinstance(item, str) else len(json.dumps(item.model_dump(exclude_none=True)))


class ProgramFields(Protocol):
    """The request fields that say how programs run, shared by a selection and a reward item."""

    problem: str
    entry_point: str | None
    shape: ProgramShapeName | None
    tests: list[str | CallerTest]
    inputs: list[str | CallerInput]
    time_limit_s: float | None
    checker: str | None


def check_execution_fields(request: SelectRequest, limits: Settings) -> None:
    """Limits of `tests`, `inputs`, the programs and `execution_budget_s`: a 422 naming the field otherwise."""
    check_program_fields(request, limits, generator=request.input_generator)
    budget = request.execution_budget_s
    if budget is not None and budget > limits.execution_budget_s:
        raise ApiError(422, f"execution_budget_s: {budget:g} s asked, at most {limits.execution_budget_s:g} s "
                       "allowed (execution_budget_s)", "invalid_value", "execution_budget_s")


def check_program_fields(fields: ProgramFields, limits: Settings, generator: str | None = None,
                         where: str = "") -> None:
    """Limits of `tests` and `inputs`, and that the checker, the input generator and assert-statement tests are
    Python: a 422 naming the field (after `where`, e.g. `items[2].`) otherwise. (Each shape checks the rest of
    what it runs: `plan_execution`.)"""
    for field_name, items in (("tests", fields.tests), ("inputs", fields.inputs)):
        if len(items) > limits.execution_max_tests:
            raise ApiError(422, f"{where}{field_name}: {len(items)} given, at most {limits.execution_max_tests} "
                           "allowed (execution_max_tests)", "too_many_items", f"{where}{field_name}")
        for index, item in enumerate(items):
            if _chars(item) > limits.execution_max_test_chars:
                raise ApiError(422, f"{where}{field_name}[{index}]: {_chars(item)} characters, at most "
                               f"{limits.execution_max_test_chars} allowed (execution_max_test_chars)",
                               "field_too_long", f"{where}{field_name}[{index}]")
    for field_name, program in (("checker", fields.checker), ("input_generator", generator)):
        if program is not None and len(program) > limits.max_field_chars:
            raise ApiError(422, f"{where}{field_name}: {len(program)} characters, at most {limits.max_field_chars} "
                           "allowed (max_field_chars)", "field_too_long", f"{where}{field_name}")
        if program is not None:
            try:
                compile(program, field_name, "exec", dont_inherit=True)  # what the sandbox will do with it
            except PARSE_ERRORS as exc:
                raise ApiError(422, f"{where}{field_name}: not a Python program ({exc})", "invalid_value",
                               f"{where}{field_name}") from None
    for index, test in enumerate(fields.tests):
        if not isinstance(test, str):
            continue
        try:
            ast.parse(test)
        except PARSE_ERRORS as exc:
            raise ApiError(422, f"{where}tests[{index}]: not Python statements ({exc})", "invalid_value",
                           f"{where}tests[{index}]") from None


def _case(where: str, item: str | CallerTest | CallerInput) -> CallerCase:
    if isinstance(item, str):
        return CallerCase(where, text=item)
    if item.args is not None:
        expected = item.expected if isinstance(item, CallerTest) else None
        has_expected = isinstance(item, CallerTest) and "expected" in item.model_fields_set
        return CallerCase(where, args=tuple(item.args), expected=expected, has_expected=has_expected)
    return CallerCase(where, stdin=item.stdin, stdout=item.stdout if isinstance(item, CallerTest) else None)


def shape_request(request: ProgramFields, codes: list[str], settings: Settings,
                  speed_factor: float = 1.0) -> ShapeRequest:
    """The request (or reward item) as the program shapes read it (`speed_factor`: the host's, see
    `Executor.self_check`)."""
    return ShapeRequest(
        request.problem, tuple(codes), entry_point=request.entry_point,
        shape=request.shape.value if request.shape else None,
        tests=tuple(_case(f"tests[{i}]", item) for i, item in enumerate(request.tests)),
        inputs=tuple(_case(f"inputs[{i}]", item) for i, item in enumerate(request.inputs)),
        limits=ProbeLimits.for_selection(settings.execution_generated_inputs, settings.execution_max_tests),
        time_limit_s=request.time_limit_s, checker=request.checker, speed_factor=speed_factor,
    )


def plan_execution(request: SelectRequest, codes: list[str], settings: Settings,
                   executor: Executor | None) -> ExecutionPlan:
    """The plan for these distinct candidate programs (see the module docstring)."""
    check_execution_fields(request, settings)
    if request.execution is ExecutionMode.OFF:
        return ExecutionPlan("off", "execution is off in the request")
    required = request.execution is ExecutionMode.REQUIRED
    try:
        speed = executor.speed_factor if executor is not None else 1.0
        probes = plan_probes(shape_request(request, codes, settings, speed))
    except ProbeInputError as exc:
        raise ApiError(422, str(exc), "invalid_value", exc.where) from None
    if probes.shape is None:
        if required:
            raise ApiError(422, f"entry_point: not given and not inferred ({probes.reason}); name the function, "
                           "or give `shape`", "entry_point_unknown", "entry_point")
        return ExecutionPlan("skipped", f"no entry point: {probes.reason}")
    if executor is None or not executor.available:
        why = executor.error if executor is not None else "no sandbox configured"
        if required:
            raise ApiError(503, f"execution: required, but the sandbox is unavailable ({why})",
                           "sandbox_unavailable", "execution")
        return ExecutionPlan("skipped", f"sandbox unavailable: {why}", probes.entry_point, shape=probes.shape)
    if probes.probe_set is None and request.input_generator and probes.empty is not None:
        probes = replace(probes, probe_set=probes.empty)
    if probes.probe_set is None:
        if required:
            raise ApiError(422, f"execution: required, but there is {probes.reason}", "no_probes", "tests")
        return ExecutionPlan("skipped", probes.reason, probes.entry_point, shape=probes.shape, notes=probes.notes)
    budget = request.execution_budget_s or settings.execution_budget_s
    runs = (request.generated_inputs or settings.execution_generator_runs) if request.input_generator else 0
    return ExecutionPlan("ran", None, probes.entry_point, probes.probe_set, budget, probes.shape, probes.notes,
                         request.input_generator, runs)
