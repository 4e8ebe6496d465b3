"""daj.probes.shapes: which shape a request is (function, stdin, method), the statement's samples and examples,
the caller's tests in their three forms, and the function shape's probe set kept exactly as before.

The statements below are small synthetic copies of real LiveCodeBench texts (question_content of abc344_a,
abc372_a, abc371_e, abc312_b, abc367_c, 1873_A and a LeetCode problem): the same layout, the same traps."""

from __future__ import annotations

import random
from typing import Any

import pytest

from daj.probes import ProbeLimits, build_probe_set
from daj.probes.shapes import (
    CallerCase,
    ProbeInputError,
    ShapeRequest,
    detect_shape,
    plan_probes,
    shape_named,
)
from daj.probes.shapes.base import Detection
from daj.probes.shapes.method import PROGRAM_PRELUDE, starter_signature, statement_examples
from daj.probes.shapes.stdin import (
    DEFAULT_TIME_LIMIT_S,
    SEVERAL_ANSWERS_NOTE,
    Sample,
    mutated_stdin,
    several_answers,
    statement_samples,
    statement_time_limit,
)

# ---- statements ----------------------------------------------------------------------------------------------

HUMANEVAL = 'def twice(x: int) -> int:\n    """Twice x.\n    >>> twice(2)\n    4\n    """\n'

LEETCODE = (
    "Given an integer array nums and an integer k, return true if two different elements of nums sum to k, "
    "and false otherwise.\n\n \nExample 1:\n\nInput: nums = [1,2,3], k = 5\nOutput: true\n"
    "Explanation: 2 + 3 = 5.\n\nExample 2:\n\nInput: nums = [1,1], k = 5\nOutput: false\n\n \nConstraints:\n\n"
    "1 <= nums.length <= 10^5\n\nStarter code:\n```python\nclass Solution:\n"
    "    def hasPair(self, nums: List[int], k: int) -> bool:\n        \n```\n"
)

# abc344_a: an expected output that is an empty line, written as a line holding only "\r".
ABC_EMPTY_LINE = (
    "You are given a string S consisting of lowercase English letters and |.\nRemove the characters between the "
    "two |s, including the |s themselves, and print the resulting string.\n\nInput\n\nThe input is given from "
    "Standard Input in the following format:\nS\n\nOutput\n\nPrint the answer.\n\nConstraints\n\n\n"
    "- S contains exactly two |s.\n\n"
    "Sample Input 1\n\natcoder|beginner|contest\n\nSample Output 1\n\natcodercontest\r\n\n"
    "Remove all the characters between the two |s and print the result.\n\n"
    "Sample Input 2\n\n|spoiler|\n\nSample Output 2\n\n\r\n\nIt is possible that all characters are removed.\n\n"
    "Sample Input 3\n\n||xyz\n\nSample Output 3\n\nxyz"
)

# abc372_a: the last output is empty and written as two "\r" lines, then prose.
ABC_TWO_CR = (
    "Remove all . from S.\n\nSample Input 1\n\n.v.\n\nSample Output 1\n\nv\r\n\nRemoving all . from .v. yields v, "
    "so print v.\n\nSample Input 2\n\n...\n\nSample Output 2\n\n\r\n\r\n\nThere are also cases where all "
    "characters in S are ..\n"
)

# abc371_e: two empty lines after every header, "\r\n" line ends inside the samples.
ABC_TWO_BLANKS = (
    "Input\n\nThe input is given from Standard Input in the following format:\nN\r\nA_1 \\ldots A_N\n\nOutput\n\n\n"
    "Print the answer.\n\nConstraints\n\n\n\n- 1\\leq N\\leq 2\\times 10^5\n\n"
    "Sample Input 1\n\n\n3\r\n1 2 2\n\nSample Output 1\n\n\n8\r\n\nConsider f(1,2). The subsequence (A_1, A_2) = "
    "(1,2) contains 2\r\n                    distinct values, so f(1,2)=2.\nThe sum of f is 8.\n\n"
    "Sample Input 2\n\n\n9\r\n5 4 2 2 3 2 4 4 1\n\nSample Output 2\n\n\n111"
)

# abc312_b: the last output is empty: the header, three empty lines, then the explanation.
ABC_EMPTY_THEN_PROSE = (
    "Find all the nine-by-nine regions that satisfy the conditions of a TaK Code.\n\n"
    "Sample Input 1\n\n9 9\n###......\n###......\n\nSample Output 1\n\n1 1\n1 10\n\nA TaK Code looks like the "
    "following, where # is a black cell.\n###.?????\n\n"
    "Sample Input 2\n\n18 18\n######............\n\nSample Output 2\n\n\n\n"
    "There may be no region that satisfies the conditions of TaK Code."
)

# abc367_c: outputs ending in "\r\n", and an empty output followed by two empty lines, then prose.
ABC_CRLF_AND_EMPTY = (
    "Print all integer sequences of length N in ascending lexicographical order.\n\n"
    "Sample Input 1\n\n3 2\r\n2 1 3\n\nSample Output 1\n\n1 1 2\r\n2 1 1\r\n2 1 3\r\n\nThere are three sequences "
    "to be printed, which are (1,1,2),(2,1,1),(2,1,3) in lexicographical order.\n\n"
    "Sample Input 2\n\n1 2\r\n1\n\nSample Output 2\n\n\nThere may be no sequences to print.\r\nIn this case, the "
    "output can be empty.\n\nSample Input 3\n\n5 5\r\n2 3 2 3 2\n\nSample Output 3\n\n1 1 1 1 1\r\n1 2 2 3 2"
)

# 1873_A (Codeforces): the first header glued to the prose before it, blank lines inside the blocks as layout.
CODEFORCES = (
    "Output \"YES\" if it is possible to make the row abc with at most one operation, or \"NO\" otherwise.\n\n"
    "You can output the answer in any case (for example, the strings \"yEs\", \"yes\", \"Yes\" and \"YES\" will be "
    "recognized as a positive answer).Sample Input 1:\n3\n\nabc\n\nacb\n\nbca\n\n\n\nSample Output 1:\n\nYES\nYES\n"
    "NO\n\n\nNote\n\nIn the first test case, we don't need to do any operations."
)

SEVERAL = (
    "Print a permutation P of 1..N with no fixed point. If there are multiple solutions, print any of them.\n\n"
    "Sample Input 1\n\n3\n\nSample Output 1\n\n2 3 1\n\nSample Input 2\n\n2\n\nSample Output 2\n\n2 1\n"
)

ADD = (
    "Time Limit: 3 sec / Memory Limit: 1024 MB\n\nPrint A+B.\n\n"
    "Sample Input 1\n\n1 2\n\nSample Output 1\n\n3\n\nSample Input 2\n\n10 20\n\nSample Output 2\n\n30\n"
)

# ---- candidates ----------------------------------------------------------------------------------------------

TWICE = "def twice(x):\n    return 2 * x\n"
ADDER = "a, b = map(int, input().split())\nprint(a + b)\n"
ADDER_SYS = "import sys\n\ndef main():\n    a, b = map(int, sys.stdin.readline().split())\n    print(a + b)\n\nmain()\n"
ADDER_OPEN = "def main():\n    a, b = map(int, open(0).read().split())\n    print(a + b)\n\nmain()\n"
HAS_PAIR = (
    "class Solution:\n    def hasPair(self, nums: List[int], k: int) -> bool:\n        seen = set()\n"
    "        for x in nums:\n            if k - x in seen:\n                return True\n            seen.add(x)\n"
    "        return False\n"
)
SYNTAX_ERROR = "def broken(:\n"


def request(problem: str, candidates: list[str], **fields: Any) -> ShapeRequest:
    return ShapeRequest(problem, tuple(candidates), **fields)


def detected(problem: str, candidates: list[str], **fields: Any) -> tuple[str, str, str]:
    found = detect_shape(request(problem, candidates, **fields))
    assert isinstance(found, Detection), found
    return found.shape, found.entry_point, found.how


# ---- detection -----------------------------------------------------------------------------------------------


def test_each_shape_is_detected_from_its_statement() -> None:
    assert detected(HUMANEVAL, [TWICE, TWICE]) == ("function", "twice", "statement")
    assert detected(LEETCODE, [HAS_PAIR, HAS_PAIR]) == ("method", "hasPair", "statement")
    assert detected(ABC_EMPTY_LINE, [ADDER, ADDER]) == ("stdin", "", "statement")
    assert detected(CODEFORCES, [ADDER, ADDER]) == ("stdin", "", "statement")


def test_starter_code_names_the_method_even_when_the_candidates_define_more() -> None:
    helper = HAS_PAIR + "\n    def other(self) -> int:\n        return 1\n"
    assert detected(LEETCODE, [helper, HAS_PAIR]) == ("method", "hasPair", "statement")
    assert starter_signature(LEETCODE) == ("hasPair", ["nums", "k"], " nums: List[int], k: int", "bool")


def test_each_shape_is_detected_from_the_candidates_alone() -> None:
    prose = "Solve the task described by the user."
    assert detected(prose, [HAS_PAIR, HAS_PAIR.replace("seen", "found")]) == ("method", "hasPair", "candidates")
    assert detected(prose, [ADDER, ADDER_SYS, ADDER_OPEN]) == ("stdin", "", "candidates")
    assert detected(prose, [TWICE, "def twice(y):\n    return y + y\n"]) == ("function", "twice", "candidates")


def test_stdin_programs_that_share_a_main_are_stdin_not_function() -> None:
    assert detected("Add two numbers.", [ADDER_SYS, ADDER_OPEN]) == ("stdin", "", "candidates")


def test_a_candidate_that_does_not_parse_does_not_veto_the_shape() -> None:
    assert detected("Add two numbers.", [ADDER, SYNTAX_ERROR]) == ("stdin", "", "candidates")
    assert detected("Is there a pair?", [HAS_PAIR, SYNTAX_ERROR])[:2] == ("method", "hasPair")
    assert detected("Twice x.", [TWICE, SYNTAX_ERROR])[:2] == ("function", "twice")


def test_several_methods_are_told_apart_by_the_statement_or_not_at_all() -> None:
    two = "class Solution:\n    def alpha(self, x):\n        return x\n    def beta(self, x):\n        return x\n"
    assert detected("Implement beta(x).", [two, two])[:2] == ("method", "beta")
    found = detect_shape(request("Implement it.", [two, two]))
    assert isinstance(found, str) and "several methods" in found


def test_a_request_naming_its_shape_is_that_shape() -> None:
    not_reading = "print(42)\n"  # a wrong stdin program that never reads its input
    assert detected("Add two numbers.", [ADDER, not_reading], shape="stdin") == ("stdin", "", "request")
    assert detected("Add two numbers.", [ADDER_SYS, ADDER_OPEN], shape="function") == ("function", "main",
                                                                                     "candidates")
    assert detected(LEETCODE, [HAS_PAIR, HAS_PAIR], shape="method", entry_point="hasPair")[:2] == ("method",
                                                                                                  "hasPair")
    with pytest.raises(ValueError, match="unknown program shape"):
        shape_named("applet")


def test_an_entry_point_in_the_request_is_a_function_even_for_a_statement_with_samples() -> None:
    assert detected(ADD, [ADDER_SYS, ADDER_SYS], entry_point="main") == ("function", "main", "request")


def test_nothing_fits_says_why_for_every_shape() -> None:
    plan = plan_probes(request("Do something.", ["x = 1\n", "y = 2\n"]))
    assert (plan.shape, plan.probe_set, plan.code) == (None, None, "entry_point_unknown")
    assert plan.reason is not None and "class Solution" in plan.reason and "standard input" in plan.reason
    assert "no function defined by every candidate" in plan.reason


def test_a_stdin_statement_without_samples_has_nothing_to_run() -> None:
    plan = plan_probes(request("Add two numbers.", [ADDER, ADDER_SYS]))
    assert (plan.shape, plan.code, plan.probe_set) == ("stdin", "no_probes", None)
    assert plan.reason is not None and "no sample input" in plan.reason


# ---- the statement's samples ---------------------------------------------------------------------------------


def test_an_empty_expected_output_written_as_a_lone_carriage_return() -> None:
    assert statement_samples(ABC_EMPTY_LINE) == [
        Sample("atcoder|beginner|contest\n", "atcodercontest\n"),
        Sample("|spoiler|\n", "\n"),
        Sample("||xyz\n", "xyz\n"),
    ]
    assert statement_samples(ABC_TWO_CR) == [Sample(".v.\n", "v\n"), Sample("...\n", "\n")]


def test_two_empty_lines_after_each_header_and_crlf_inside_the_samples() -> None:
    assert statement_samples(ABC_TWO_BLANKS) == [Sample("3\n1 2 2\n", "8\n"), Sample("9\n5 4 2 2 3 2 4 4 1\n", "111\n")]


def test_an_empty_output_followed_by_empty_lines_and_prose() -> None:
    samples = statement_samples(ABC_EMPTY_THEN_PROSE)
    assert samples == [Sample("9 9\n###......\n###......\n", "1 1\n1 10\n"),
                       Sample("18 18\n######............\n", "\n")]
    assert statement_samples(ABC_CRLF_AND_EMPTY) == [
        Sample("3 2\n2 1 3\n", "1 1 2\n2 1 1\n2 1 3\n"),
        Sample("1 2\n1\n", "\n"),
        Sample("5 5\n2 3 2 3 2\n", "1 1 1 1 1\n1 2 2 3 2\n"),
    ]


def test_codeforces_headers_glued_to_the_prose_and_blank_lines_as_layout() -> None:
    assert statement_samples(CODEFORCES) == [Sample("3\nabc\nacb\nbca\n", "YES\nYES\nNO\n")]
    assert not several_answers(CODEFORCES)  # "output the answer in any case" is not "any answer"


def test_no_carriage_return_survives_in_any_sample() -> None:
    for problem in (ABC_EMPTY_LINE, ABC_TWO_CR, ABC_TWO_BLANKS, ABC_EMPTY_THEN_PROSE, ABC_CRLF_AND_EMPTY, CODEFORCES):
        samples = statement_samples(problem)
        assert samples and all("\r" not in s.input + s.output for s in samples)
        assert all(s.input.endswith("\n") and s.output.endswith("\n") for s in samples)


def test_an_input_without_its_output_is_left_out() -> None:
    assert statement_samples("Sample Input 1\n\n1 2\n\nSample Input 2\n\n3 4\n\nSample Output 2\n\n7\n") == [
        Sample("3 4\n", "7\n")]
    assert statement_samples("No samples here.") == []


def test_samples_become_stdin_examples_and_the_time_limit_comes_from_the_statement() -> None:
    plan = plan_probes(request(ADD, [ADDER, ADDER_SYS]))
    assert (plan.shape, plan.entry_point, plan.notes) == ("stdin", "", ())
    probe_set = plan.probe_set
    assert probe_set is not None and probe_set.run_mode == "stdio" and probe_set.time_limit_s == 3.0
    examples = [p for p in probe_set.probes if p.origin == "example"]
    assert [(p.call, p.expected) for p in examples] == [("1 2\n", "3\n"), ("10 20\n", "30\n")]
    assert all(p.stdin and p.source == "statement" for p in examples)
    assert examples[0].job() == {"kind": "stdin", "stdin": "1 2\n", "expected": "3\n"}
    assert all(p.stdin and p.expected is None for p in probe_set.probes if p.origin == "input")


def test_the_time_limit_of_the_request_then_the_statement_then_the_default() -> None:
    assert statement_time_limit("Time Limit: 2 sec / Memory Limit: 1024 MB") == 2.0
    assert statement_time_limit("time limit: 1500 ms") == 1.5
    assert statement_time_limit("Print A+B.") is None
    asked = plan_probes(request(ADD, [ADDER, ADDER], time_limit_s=0.5)).probe_set
    assert asked is not None and asked.time_limit_s == 0.5
    default = plan_probes(request(ADD.split("\n\n", 1)[1], [ADDER, ADDER])).probe_set
    assert default is not None and default.time_limit_s == DEFAULT_TIME_LIMIT_S


def test_several_correct_answers_turn_the_samples_into_inputs_with_a_note() -> None:
    assert several_answers(SEVERAL) and several_answers("If there are several answers, output any.")
    assert not several_answers(ADD)
    plan = plan_probes(request(SEVERAL, [ADDER, ADDER]))
    assert plan.probe_set is not None and plan.notes == (SEVERAL_ANSWERS_NOTE,) == plan.probe_set.notes
    statement = [p for p in plan.probe_set.probes if p.source == "statement"]
    assert [(p.origin, p.call, p.expected) for p in statement] == [("input", "3\n", None), ("input", "2\n", None)]
    assert plan.probe_set.checks == []


def test_generated_stdin_keeps_the_first_line_and_the_shape_of_each_line() -> None:
    seed = "4 2\n3 1 4 1\nabc de\n"
    generated = mutated_stdin([seed], random.Random(0))
    assert generated and seed not in generated
    for text in generated:
        lines = text.rstrip("\n").split("\n")
        assert lines[0] == "4 2" and len(lines) == 3 and text.endswith("\n")
        assert len(lines[1].split()) == 4 and sorted(lines[1].split()) == ["1", "1", "3", "4"]
    single = mutated_stdin(["1 2 3\n"], random.Random(0))
    assert single and all(sorted(t.split()) == ["1", "2", "3"] for t in single)


def test_the_same_stdin_request_gives_the_same_probes() -> None:
    first, second = plan_probes(request(ADD, [ADDER, ADDER])), plan_probes(request(ADD, [ADDER_SYS, ADDER]))
    assert first.probe_set is not None and second.probe_set is not None
    assert first.probe_set.probes == second.probe_set.probes  # read from the request, not the candidates
    assert first.probe_set.digest() == plan_probes(request(ADD, [ADDER, ADDER])).probe_set.digest()  # type: ignore[union-attr]


def test_stdin_tests_and_inputs_in_their_forms() -> None:
    tests = (CallerCase("tests[0]", stdin="5 6\n", stdout="11\n"),)
    inputs = (CallerCase("inputs[0]", text="7 8\n"), CallerCase("inputs[1]", stdin="100 200\n"))
    plan = plan_probes(request(ADD, [ADDER, ADDER], tests=tests, inputs=inputs))
    assert plan.probe_set is not None
    caller = [(p.origin, p.call, p.expected) for p in plan.probe_set.probes if p.source == "caller"]
    assert caller == [("test", "5 6\n", "11\n"), ("input", "7 8\n", None), ("input", "100 200\n", None)]


# ---- the caller's entries in a form the shape cannot run ---------------------------------------------------------


def test_an_args_test_for_a_stdin_problem_names_the_entry() -> None:
    tests = (CallerCase("tests[0]", stdin="1 1\n", stdout="2\n"), CallerCase("tests[1]", args=(1, 1), expected=2,
                                                                             has_expected=True))
    with pytest.raises(ProbeInputError) as raised:
        plan_probes(request(ADD, [ADDER, ADDER], tests=tests))
    assert raised.value.where == "tests[1]" and str(raised.value).startswith("tests[1]: ")
    assert "stdin" in str(raised.value)


@pytest.mark.parametrize(
    ("problem", "candidates", "field", "case", "words"),
    [
        (ADD, [ADDER, ADDER], "tests", CallerCase("tests[1]", stdin="1 1\n"), "needs `stdout`"),
        (ADD, [ADDER, ADDER], "inputs", CallerCase("inputs[1]", args=(1, 2)), "give `stdin`"),
        (HUMANEVAL, [TWICE, TWICE], "tests", CallerCase("tests[1]", stdin="2\n", stdout="4\n"), "functions"),
        (HUMANEVAL, [TWICE, TWICE], "tests", CallerCase("tests[1]", args=(2,)), "needs `expected`"),
        (HUMANEVAL, [TWICE, TWICE], "inputs", CallerCase("inputs[1]", text="import os"), "argument list"),
        (LEETCODE, [HAS_PAIR, HAS_PAIR], "tests", CallerCase("tests[1]", args=([1], 2)), "needs `expected`"),
        (LEETCODE, [HAS_PAIR, HAS_PAIR], "tests", CallerCase("tests[1]", stdin="[1,2]\nnot json", stdout="true"),
         "line 2"),
        (LEETCODE, [HAS_PAIR, HAS_PAIR], "tests", CallerCase("tests[1]", stdin="[1,2]\n3", stdout="yes"),
         "`stdout` is not a JSON value"),
        (LEETCODE, [HAS_PAIR, HAS_PAIR], "tests", CallerCase("tests[1]", stdin="[1,2]\n3"), "needs `stdout`"),
    ],
)
def test_a_wrong_form_is_named(problem: str, candidates: list[str], field: str, case: CallerCase,
                               words: str) -> None:
    stdin = problem == ADD
    good = {"tests": CallerCase("tests[0]", stdin="1 1\n", stdout="2\n") if stdin else
            CallerCase("tests[0]", text="assert twice(2) == 4" if problem == HUMANEVAL else "assert True"),
            "inputs": CallerCase("inputs[0]", text="1 2\n" if stdin else "[1], 2")}
    entries = {field: (good[field], case)}
    with pytest.raises(ProbeInputError, match=r"^" + field + r"\[1\]: ") as raised:
        plan_probes(request(problem, candidates, **entries))
    assert raised.value.where == f"{field}[1]" and words in str(raised.value)


# ---- the method shape --------------------------------------------------------------------------------------------


def test_method_examples_read_json_literals_and_several_parameters() -> None:
    problem = (
        "Example 1:\n\nInput: grid = [[1,0],[0,1]], word = \"a, b = c\", flag = true, root = null\n"
        "Output: [true,false,null]\nExplanation: something.\n\n"
        "Example 2:\n\nInput: grid = [], word = \"\", flag = false, root = {\"x\": 1.5}\nOutput: \"done\"\n\n"
        "Example 3:\n\nInput: grid = [[2]], word = \"q\", flag = true\nOutput: 1\n\n"  # a parameter missing: left out
        "class Solution:\n    def solve(self, grid: List[List[int]], word: str, flag: bool, root: Optional[dict]) "
        "-> List[Optional[bool]]:\n        "
    )
    params = ["grid", "word", "flag", "root"]
    assert statement_examples(problem, params) == [
        ([[[1, 0], [0, 1]], "a, b = c", True, None], [True, False, None]),
        ([[], "", False, {"x": 1.5}], "done"),
    ]
    candidate = "class Solution:\n    def solve(self, grid, word, flag, root):\n        return [flag]\n"
    plan = plan_probes(request(problem, [candidate, candidate]))
    assert plan.probe_set is not None and (plan.shape, plan.entry_point) == ("method", "solve")
    examples = [(p.call, p.expected) for p in plan.probe_set.probes if p.origin == "example"]
    assert examples == [
        ("Solution().solve([[1, 0], [0, 1]], 'a, b = c', True, None)", "[True, False, None]"),
        ("Solution().solve([], '', False, {'x': 1.5})", "'done'"),
    ]


def test_the_method_probe_set_runs_a_fresh_solution_after_the_leetcode_prelude() -> None:
    plan = plan_probes(request(LEETCODE, [HAS_PAIR, HAS_PAIR]))
    probe_set = plan.probe_set
    assert probe_set is not None and (probe_set.shape, probe_set.run_mode) == ("method", "probes")
    assert (probe_set.entry_point, probe_set.module_name, probe_set.program_prelude) == ("Solution", "solution",
                                                                                         PROGRAM_PRELUDE)
    assert "from typing import *" in PROGRAM_PRELUDE and "from collections import *" in PROGRAM_PRELUDE
    assert [(p.call, p.expected) for p in probe_set.probes if p.origin == "example"] == [
        ("Solution().hasPair([1, 2, 3], 5)", "True"), ("Solution().hasPair([1, 1], 5)", "False")]
    generated = [p.call for p in probe_set.probes if p.source == "mutation"]
    assert generated and all(call.startswith("Solution().hasPair(") for call in generated)


def test_method_tests_as_args_or_in_the_functional_format() -> None:
    tests = (
        CallerCase("tests[0]", args=([4, 4], 8), expected=True, has_expected=True),
        CallerCase("tests[1]", stdin="[1,2,3]\n7\n", stdout="false"),  # LiveCodeBench: one JSON value a line
        CallerCase("tests[2]", text="assert Solution().hasPair([0, 0], 0)"),
    )
    inputs = (CallerCase("inputs[0]", args=([5], 5)), CallerCase("inputs[1]", stdin="[9,1]\n10"),
              CallerCase("inputs[2]", text="[2, 2], 4"))
    plan = plan_probes(request(LEETCODE, [HAS_PAIR, HAS_PAIR], tests=tests, inputs=inputs))
    assert plan.probe_set is not None
    caller = [(p.origin, p.call, p.expected, p.statement) for p in plan.probe_set.probes if p.source == "caller"]
    assert caller == [
        ("test", "Solution().hasPair([4, 4], 8)", "True", False),
        ("test", "Solution().hasPair([1, 2, 3], 7)", "False", False),
        ("test", "assert Solution().hasPair([0, 0], 0)", None, True),
        ("input", "Solution().hasPair([5], 5)", None, False),
        ("input", "Solution().hasPair([9, 1], 10)", None, False),
        ("input", "Solution().hasPair([2, 2], 4)", None, False),
    ]


def test_linked_list_and_tree_arguments_are_built_from_the_examples_lists() -> None:
    problem = ("Input: head = [1,2,3]\nOutput: [3,2,1]\n\nclass Solution:\n"
               "    def reverseList(self, head: Optional[ListNode]) -> Optional[ListNode]:\n        ")
    candidate = "class Solution:\n    def reverseList(self, head):\n        return head\n"
    plan = plan_probes(request(problem, [candidate, candidate]))
    assert plan.probe_set is not None and not plan.notes and plan.probe_set.node_results
    assert plan.probe_set.probes[0].call == "Solution().reverseList(build_list([1, 2, 3]))"
    assert "def build_tree(values):" in plan.probe_set.prelude
    assert all(p.call.startswith("Solution().reverseList(build_list([") for p in plan.probe_set.probes)


# ---- the function shape: the old behaviour, exactly -----------------------------------------------------------

MBPP_LIKE = "Write a function to find the shared elements from the given two lists."
SHARED = "def similar_elements(a, b):\n    return tuple(set(a) & set(b))\n"
HINTED = "def scale(xs: list[int], k: int) -> list[int]:\n    pass\n"


@pytest.mark.parametrize(
    ("problem", "candidates", "tests", "inputs"),
    [
        (HUMANEVAL, [TWICE, "def twice(x):\n    return x + 2\n"], [], []),
        (HUMANEVAL, [TWICE, TWICE], ["assert twice(3) == 6", "assert twice(0) in (0,)"], ["5", "-1"]),
        (MBPP_LIKE, [SHARED, SHARED.replace("tuple", "list")],
         ["assert set(similar_elements((3, 4, 5, 6), (5, 7, 4, 10))) == set((4, 5))"], ["(1, 2), (2, 3)"]),
        (HINTED, ["def scale(xs, k):\n    return [x * k for x in xs]\n"] * 2, [], []),
    ],
)
def test_a_function_request_gets_exactly_the_old_probe_set(problem: str, candidates: list[str], tests: list[str],
                                                           inputs: list[str]) -> None:
    plan = plan_probes(ShapeRequest.of(problem, candidates, tests, inputs))
    old = build_probe_set(problem, candidates, tests=tests, inputs=inputs)
    assert old is not None and plan.probe_set == old
    assert plan.probe_set.digest() == old.digest()
    assert (plan.shape, plan.entry_point, plan.notes) == ("function", old.entry_point, ())


def test_function_args_tests_are_the_same_probes_as_their_asserts() -> None:
    as_data = ShapeRequest(HUMANEVAL, (TWICE, TWICE),
                           tests=(CallerCase("tests[0]", args=(3,), expected=6, has_expected=True),),
                           inputs=(CallerCase("inputs[0]", args=([1, 2],)),))
    as_text = ShapeRequest.of(HUMANEVAL, [TWICE, TWICE], ["assert twice(3) == 6"], ["[1, 2]"])
    assert plan_probes(as_data).probe_set == plan_probes(as_text).probe_set


def test_function_limits_are_the_selections_limits() -> None:
    limits = ProbeLimits(max_generated_inputs=2, max_probes=3)
    plan = plan_probes(ShapeRequest.of(HUMANEVAL, [TWICE, TWICE], limits=limits))
    old = build_probe_set(HUMANEVAL, [TWICE, TWICE], limits=limits)
    assert plan.probe_set == old and old is not None and len(old.probes) == 3
