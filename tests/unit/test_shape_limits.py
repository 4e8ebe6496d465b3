"""Time limits, letter case, generated inputs and the run's wall limit of the program shapes (pure logic)."""

from __future__ import annotations

from daj.probes.shapes import ShapeRequest, plan_probes, with_generated
from daj.probes.shapes.stdin import any_case, time_limit
from service.errors import _most_telling
from service.execution import Executor
from service.metrics import Metrics
from service.settings import Settings

ATCODER = "Print A + B.\n\nSample Input 1\n\n1 2\n\nSample Output 1\n\n3\n"
SUM = "a, b = map(int, input().split())\nprint(a + b)\n"
LEETCODE = ("Return a + b.\n\nExample 1:\n\nInput: a = 1, b = 2\nOutput: 3\n\nStarter code:\n```python\n"
            "class Solution:\n    def add(self, a: int, b: int) -> int:\n        \n```\n")
FUNCTION = 'def add(a: int, b: int) -> int:\n    """Sum.\n    >>> add(1, 2)\n    3\n    """\n'


def test_whole_programs_default_limits_scale_with_the_host_and_the_requests_do_not() -> None:
    assert time_limit(ShapeRequest(ATCODER, (SUM,))) == 2.0
    assert time_limit(ShapeRequest(ATCODER, (SUM,), speed_factor=1.5)) == 3.0
    stated = "Time Limit: 3 sec\n\n" + ATCODER
    assert time_limit(ShapeRequest(stated, (SUM,), speed_factor=2.0)) == 6.0
    assert time_limit(ShapeRequest(stated, (SUM,), time_limit_s=0.5, speed_factor=2.0)) == 0.5
    assert time_limit(ShapeRequest("Time limit: 1500 ms\n" + ATCODER, (SUM,))) == 1.5


def test_a_statement_that_accepts_any_letter_case_compares_without_it() -> None:
    statement = 'Print "YES" or "NO".\nYou can output the answer in any case.\n\n' + ATCODER
    assert any_case(statement) and not any_case(ATCODER)
    probe_set = plan_probes(ShapeRequest(statement, (SUM,))).probe_set
    assert probe_set is not None and probe_set.ignore_case


def test_generated_inputs_are_read_as_each_shape_reads_an_input() -> None:
    stdin = plan_probes(ShapeRequest(ATCODER, (SUM,))).probe_set
    assert stdin is not None
    grown, rejected = with_generated(stdin, ["5 6\n", "  \n", "5 6\n", "1 2\n"])
    assert rejected == 3 and grown.probes[-1].call == "5 6\n" and grown.probes[-1].source == "generator"
    method = plan_probes(ShapeRequest(LEETCODE, ())).probe_set
    assert method is not None
    grown, rejected = with_generated(method, ["7\n8\n", "not json\n"])
    assert rejected == 1 and grown.probes[-1].call == "Solution().add(7, 8)"
    function = plan_probes(ShapeRequest(FUNCTION, ())).probe_set
    assert function is not None
    grown, rejected = with_generated(function, ["7, 8", "import os"])
    assert rejected == 1 and grown.probes[-1].call == "add(7, 8)"


def test_a_whole_programs_run_gets_room_for_each_probes_limit() -> None:
    settings = Settings()
    executor = Executor(settings, cache=None, metrics=Metrics())  # type: ignore[arg-type]  # no run here
    try:
        function = plan_probes(ShapeRequest(FUNCTION, ())).probe_set
        stdin = plan_probes(ShapeRequest(ATCODER, (SUM,))).probe_set
        assert function is not None and stdin is not None
        assert executor.run_limits(function) == executor.limits
        wall = executor.run_limits(stdin).wall_seconds
        assert settings.execution_wall_s <= wall <= settings.execution_budget_s
        many = with_generated(stdin, [f"{i} {i}\n" for i in range(40)])[0]
        assert executor.run_limits(many).wall_seconds == settings.execution_budget_s
    finally:
        executor.close()


def test_an_object_entrys_own_error_is_the_one_reported() -> None:
    errors = [{"loc": ("body", "tests", 1, "str"), "type": "string_type", "msg": "Input should be a valid string"},
              {"loc": ("body", "tests", 1, "function-after[_one_form(), CallerTest]"), "type": "value_error",
               "msg": "Value error, `expected` goes with `args`"}]
    assert _most_telling(errors)["type"] == "value_error"
    wrong_type = [errors[0], {"loc": ("body", "tests", 1, "CallerTest"), "type": "model_type", "msg": "dict"}]
    assert _most_telling(wrong_type)["type"] == "string_type"


def test_an_unknown_key_of_an_object_entry_is_named() -> None:
    errors = [{"loc": ("body", "tests", 0, "str"), "type": "string_type", "msg": "Input should be a valid string"},
              {"loc": ("body", "tests", 0, "CallerTest", "stdn"), "type": "extra_forbidden", "msg": "Extra inputs"}]
    assert _most_telling(errors)["type"] == "extra_forbidden"


def test_a_functions_time_limit_is_the_requests_when_it_gives_one() -> None:
    assert plan_probes(ShapeRequest(FUNCTION, ())).probe_set.time_limit_s is None  # type: ignore[union-attr]
    given = plan_probes(ShapeRequest(FUNCTION, (), time_limit_s=1.5)).probe_set
    assert given is not None and given.time_limit_s == 1.5


def test_reading_stdin_is_read_from_the_code_not_its_comments() -> None:
    from daj.probes.shapes import detect_shape

    commented = ["# reads the input (two numbers)\ndef add(a, b):\n    return a + b\n"] * 2
    found = detect_shape(ShapeRequest("Add two numbers.", tuple(commented)))
    assert not isinstance(found, str) and (found.shape, found.entry_point) == ("function", "add")
    demo = ["def add(a, b):\n    return a + b\n\nprint(add(*map(int, input().split())))\n"] * 2
    found = detect_shape(ShapeRequest("Add two numbers.", tuple(demo)))  # add() is called: a script
    assert not isinstance(found, str) and found.shape == "stdin"
    library = ["def add(a, b):\n    return a + b\n\nif input():\n    pass\n"] * 2
    found = detect_shape(ShapeRequest("Add two numbers.", tuple(library)))  # add is never called: a function
    assert not isinstance(found, str) and (found.shape, found.entry_point) == ("function", "add")


def test_a_huge_number_in_a_statement_or_a_generated_input_is_skipped_not_a_crash() -> None:
    huge = "9" * 5000
    plan = plan_probes(ShapeRequest(LEETCODE.replace("Output: 3", f"Output: {huge}"), ()))
    assert plan.probe_set is None or all(huge not in (p.expected or "") for p in plan.probe_set.probes)
    method = plan_probes(ShapeRequest(LEETCODE, ())).probe_set
    assert method is not None and with_generated(method, [f"{huge}\n1\n"])[1] == 1
    sample = ATCODER.replace("1 2\n\nSample Output", f"2\n{huge} {huge}\n\nSample Output")
    assert plan_probes(ShapeRequest(sample, (SUM,))).probe_set is not None
