"""The stdio mode's checker and input-generator runs, in the real sandbox."""

from __future__ import annotations

from sandbox import execute, generator_spec
from sandbox.formats import stdio

CHECKER = """import sys
a, b = map(int, open(sys.argv[1]).read().split())
out = open(sys.argv[2]).read().split()
answer = open(sys.argv[3]).read()
sys.exit(0 if len(out) == 1 and int(out[0]) != a + b and answer == "9\\n" else 1)
"""


def test_a_checker_judges_each_output_instead_of_the_expected_text() -> None:
    items = [{"kind": "stdin", "stdin": "2 5\n", "expected": "9\n"}, {"kind": "stdin", "stdin": "1 1\n",
                                                                        "expected": "0\n"}]
    right = execute("a, b = map(int, input().split())\nprint((a + b + 1) % 10)\n", stdio(items, checker=CHECKER))
    assert right.cases == "PF", right  # 8 is valid, but the second answer file is not "9\n": the checker says no
    wrong = execute("a, b = map(int, input().split())\nprint(a + b)\n", stdio(items, checker=CHECKER))
    assert wrong.cases == "FF" and wrong.outputs == ["7", "2"]


def test_a_checker_that_crashes_or_loops_fails_the_output_not_the_sandbox() -> None:
    items = [{"kind": "stdin", "stdin": "1\n", "expected": None}]
    for checker in ("raise ValueError('no')\n", "while True:\n    pass\n"):
        result = execute("print(input())\n", stdio(items, case_seconds=0.5, checker=checker))
        assert result.status == "failed" and result.cases == "F" and result.outputs == ["1"]


def test_generator_runs_are_seeded_and_kept_as_printed() -> None:
    program = "import sys\nseed = int(sys.argv[1])\nprint(seed + 1)\nprint('  x  ')\n"
    result = execute(program, generator_spec(3, case_seconds=1.0, output_chars=100))
    assert result.cases == "PPP" and result.outputs == ["1\n  x  \n", "2\n  x  \n", "3\n  x  \n"]
    assert len(result.times) == 3 and all(t is not None and t >= 0 for t in result.times)


def test_generator_failures_are_marked_per_seed() -> None:
    program = "import sys\nseed = int(sys.argv[1])\nif seed == 1:\n    while True: pass\nif seed == 2:\n" \
              "    print('y' * 500)\nelse:\n    print(seed)\n"
    result = execute(program, generator_spec(3, case_seconds=0.5, output_chars=100))
    assert result.cases == "PTE" and result.outputs == ["0\n", "timeout", "output too long"]


def test_letter_case_counts_unless_the_statement_waives_it() -> None:
    items = [{"kind": "stdin", "stdin": "1\n", "expected": "YES\n"}]
    program = "input()\nprint('yes')\n"
    assert execute(program, stdio(items)).cases == "F"
    waived = execute(program, stdio(items, ignore_case=True))
    assert waived.cases == "P" and waived.outputs == ["yes"]


def test_atexit_output_and_a_flushed_os_exit_count_as_a_normal_end() -> None:
    items = [{"kind": "stdin", "stdin": "2\n", "expected": "4\n"}]
    buffered = "import atexit, sys\nout = []\natexit.register(lambda: sys.stdout.write(''.join(out)))\n" \
               "out.append(str(2 * int(input())) + '\\n')\n"
    assert execute(buffered, stdio(items)).cases == "P"
    flushed = "import os, sys\nprint(2 * int(input()))\nsys.stdout.flush()\nos._exit(0)\n"
    assert execute(flushed, stdio(items)).cases == "P"


def test_a_number_past_the_decimal_range_is_a_wrong_answer_not_a_crash() -> None:
    items = [{"kind": "stdin", "stdin": "", "expected": "1.5\n"}, {"kind": "stdin", "stdin": "", "expected": "2\n"}]
    result = execute("print('1e999999999')\n", stdio(items))
    assert result.status == "failed" and result.cases == "FF"
