"""Whether and on what a selection's candidates run: the request's execution fields checked, the entry point
found, the probe set built; or why they will not run. `required` turns every such reason into an error, `auto`
into a judge-only selection that says why."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from daj.probes import PARSE_ERRORS, ProbeLimits, ProbeSet, build_probe_set, call_arguments, infer_entry_point
from service.errors import ApiError
from service.execution import Executor
from service.protocol import ExecutionMode, SelectRequest
from service.settings import Settings


@dataclass(frozen=True)
class ExecutionPlan:
    """What execution will do for a selection: run `probe_set`, or nothing, for `reason`."""

    status: str  # "ran" (planned), "off" (the request said so) or "skipped"
    reason: str | None = None
    entry_point: str | None = None
    probe_set: ProbeSet | None = None
    budget_s: float = 0.0


def check_execution_fields(request: SelectRequest, limits: Settings) -> None:
    """Limits and syntax of `tests`, `inputs` and `execution_budget_s`: a 422 naming the field otherwise."""
    for field_name, items in (("tests", request.tests), ("inputs", request.inputs)):
        if len(items) > limits.execution_max_tests:
            raise ApiError(422, f"{field_name}: {len(items)} given, at most {limits.execution_max_tests} allowed "
                           "(execution_max_tests)", "too_many_items", field_name)
        for index, item in enumerate(items):
            if len(item) > limits.execution_max_test_chars:
                raise ApiError(422, f"{field_name}[{index}]: {len(item)} characters, at most "
                               f"{limits.execution_max_test_chars} allowed (execution_max_test_chars)",
                               "field_too_long", f"{field_name}[{index}]")
    for index, test in enumerate(request.tests):
        try:
            ast.parse(test)
        except PARSE_ERRORS as exc:
            raise ApiError(422, f"tests[{index}]: not Python statements ({exc})", "invalid_value",
                           f"tests[{index}]") from None
    for index, given in enumerate(request.inputs):
        if call_arguments(f"f({given})", "f") is None:
            raise ApiError(422, f"inputs[{index}]: not an argument list of Python literals, e.g. `[1, 2], 'a'`",
                           "invalid_value", f"inputs[{index}]")
    budget = request.execution_budget_s
    if budget is not None and budget > limits.execution_budget_s:
        raise ApiError(422, f"execution_budget_s: {budget:g} s asked, at most {limits.execution_budget_s:g} s "
                       "allowed (execution_budget_s)", "invalid_value", "execution_budget_s")


def plan_execution(request: SelectRequest, codes: list[str], settings: Settings,
                   executor: Executor | None) -> ExecutionPlan:
    """The plan for these distinct candidate programs (see the module docstring)."""
    check_execution_fields(request, settings)
    if request.execution is ExecutionMode.OFF:
        return ExecutionPlan("off", "execution is off in the request")
    required = request.execution is ExecutionMode.REQUIRED
    entry = infer_entry_point(request.problem, codes, request.entry_point)
    if entry.name is None:
        if required:
            raise ApiError(422, f"entry_point: not given and not inferred ({entry.how}); name the function",
                           "entry_point_unknown", "entry_point")
        return ExecutionPlan("skipped", f"no entry point: {entry.how}")
    if executor is None or not executor.available:
        why = executor.error if executor is not None else "no sandbox configured"
        if required:
            raise ApiError(503, f"execution: required, but the sandbox is unavailable ({why})",
                           "sandbox_unavailable", "execution")
        return ExecutionPlan("skipped", f"sandbox unavailable: {why}", entry.name)
    limits = ProbeLimits.for_selection(settings.execution_generated_inputs, settings.execution_max_tests)
    probe_set = build_probe_set(request.problem, codes, entry, request.tests, request.inputs, limits)
    if probe_set is None or not probe_set.probes:
        if required:
            raise ApiError(422, "execution: required, but there is nothing to run: the problem has no examples "
                           "and its signature no type hints; give tests or inputs", "no_probes", "tests")
        return ExecutionPlan("skipped", "nothing to run: no examples, tests, inputs or type hints", entry.name)
    budget = request.execution_budget_s or settings.execution_budget_s
    return ExecutionPlan("ran", None, entry.name, probe_set, budget)
