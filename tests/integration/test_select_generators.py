"""A request's checker and input generator through /select: real HTTP, real vLLM (tiny model), the real sandbox."""

from __future__ import annotations

import uuid

import httpx
import pytest

pytestmark = [pytest.mark.engine]

ANY_DIGIT = """You are given integers A and B between 0 and 9. Print any integer between 0 and 9, inclusive, that is
not equal to A + B.

Sample Input 1

2 5

Sample Output 1

2

Sample Input 2

0 0

Sample Output 2

9
"""
NOT_SUM = "a, b = map(int, input().split())\nprint((a + b + 1) % 10)\n"
SUM = "a, b = map(int, input().split())\nprint(a + b)\n"
DIGIT_CHECKER = """import sys
a, b = map(int, open(sys.argv[1]).read().split())
out = open(sys.argv[2]).read().split()
sys.exit(0 if len(out) == 1 and out[0].isdigit() and 0 <= int(out[0]) <= 9 and int(out[0]) != a + b else 1)
"""

TOTAL = """Print the sum of the N integers A_1, ..., A_N.

Sample Input 1

3
1 2 3

Sample Output 1

6
"""
LINEAR = "n = int(input())\nprint(sum(map(int, input().split())))\n"
LINEAR_TOO = "import sys\ndata = sys.stdin.read().split()\nprint(sum(int(x) for x in data[1:]))\n"
QUADRATIC = ("n = int(input())\na = list(map(int, input().split()))\nt = 0\nfor i in range(n):\n"
             "    t = sum(a[: i + 1]) - sum(a[:i]) + t\nprint(t)\n")
BIG_INPUTS = "import sys, random\nrandom.seed(int(sys.argv[1]))\nn = 40000\nprint(n)\n" \
             "print(' '.join(str(random.randint(1, 9)) for _ in range(n)))\n"
LOOPING = "while True:\n    pass\n"


def select(service, **body) -> dict:  # type: ignore[no-untyped-def, type-arg]
    tag = f"# {uuid.uuid4().hex}\n"
    body["candidates"] = [tag + code for code in body["candidates"]]
    response = httpx.post(f"{service.url}/select", json=body, timeout=180)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_several_answers_are_inputs_without_a_checker_and_checks_with_one(memory_service) -> None:  # type: ignore[no-untyped-def]
    plain = select(memory_service, problem=ANY_DIGIT, candidates=[SUM, NOT_SUM], execution="required")
    execution = plain["execution"]
    assert execution["shape"] == "stdin" and execution["probes"]["examples"] == 0
    assert any("several correct answers" in note for note in execution["notes"])
    checked = select(memory_service, problem=ANY_DIGIT, candidates=[SUM, NOT_SUM], execution="required",
                     checker=DIGIT_CHECKER)
    execution = checked["execution"]
    assert execution["probes"]["examples"] == 2 and any("checker" in note for note in execution["notes"])
    by_index = {r["index"]: r for r in checked["ranking"]}
    assert by_index[0]["execution"]["examples_passed"] == 0  # prints A + B: the checker refuses it
    assert by_index[1]["execution"]["examples_passed"] == 2  # 8 and 1, not the samples' 2 and 9: still valid
    assert checked["winner"]["index"] == 1 and checked["usage"]["judge_calls"] == 0


def test_generated_large_inputs_time_out_the_quadratic_program(memory_service) -> None:  # type: ignore[no-untyped-def]
    result = select(memory_service, problem=TOTAL, candidates=[QUADRATIC, LINEAR, LINEAR_TOO],
                    execution="required", input_generator=BIG_INPUTS, generated_inputs=2, time_limit_s=0.5)
    execution = result["execution"]
    assert execution["generator"]["runs"] == 2 and execution["generator"]["inputs"] == 2
    assert execution["generator"]["failures"] == [] and execution["time_limit_s"] == 0.5
    by_index = {r["index"]: r for r in result["ranking"]}
    assert by_index[0]["execution"]["examples_passed"] == 1  # correct on the sample, too slow on the large ones
    assert by_index[0]["execution"]["timeouts"] == 2 and by_index[1]["execution"]["timeouts"] == 0
    assert by_index[1]["cluster"] == by_index[2]["cluster"] != by_index[0]["cluster"]
    assert by_index[1]["execution"]["cpu_s"] is not None and by_index[1]["execution"]["cpu_s"] < 0.5
    assert result["winner"]["index"] in (1, 2)  # the larger cluster: the consensus rule decides, not the judge


def test_a_looping_generator_is_reported_and_the_samples_still_run(memory_service) -> None:  # type: ignore[no-untyped-def]
    result = select(memory_service, problem=TOTAL, candidates=[LINEAR, SUM], execution="required",
                    input_generator=LOOPING, generated_inputs=2)
    generator = result["execution"]["generator"]
    assert generator["inputs"] == 0 and generator["failures"] == ["seed 0: timeout", "seed 1: timeout"]
    assert result["execution"]["status"] == "ran" and result["winner"]["index"] == 0


def test_checker_and_generator_errors_name_their_field(memory_service) -> None:  # type: ignore[no-untyped-def]
    body = {"problem": TOTAL, "candidates": [LINEAR, SUM]}
    for field, value in (("checker", "def broken(:"), ("input_generator", "print(")):
        response = httpx.post(f"{memory_service.url}/select", json={**body, field: value}, timeout=60)
        assert response.status_code == 422 and response.json()["error"]["param"] == field, response.text
    function_problem = 'def f(x: int) -> int:\n    """Twice x.\n    >>> f(2)\n    4\n    """\n'
    response = httpx.post(f"{memory_service.url}/select", timeout=60, json={
        "problem": function_problem, "candidates": ["def f(x):\n    return 2 * x\n", "def f(x):\n    return x\n"],
        "checker": DIGIT_CHECKER})
    assert response.status_code == 422 and response.json()["error"]["param"] == "checker", response.text
