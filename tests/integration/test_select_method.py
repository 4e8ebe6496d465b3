"""A LeetCode request (the `method` shape) through POST /select end to end: real HTTP, real vLLM (tiny model), the
real sandbox. The statement carries the starter code; the caller's tests are `{args, expected}` or LiveCodeBench's
functional format; each probe calls a fresh `Solution()`; a tuple result reads as a list."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.engine]

PROBLEM = (
    "Given an integer array nums and an integer k, return the k largest values of nums in descending order.\n\n \n"
    "Example 1:\n\nInput: nums = [1,5,3], k = 2\nOutput: [5,3]\nExplanation: 5 and 3 are the two largest.\n\n"
    "Example 2:\n\nInput: nums = [4,4,1], k = 1\nOutput: [4]\n\n \nConstraints:\n\n1 <= k <= nums.length <= 10^5\n\n"
    "Starter code:\n```python\nclass Solution:\n    def topK(self, nums: List[int], k: int) -> List[int]:\n"
    "        \n```\n"
)
# Uses `List` without importing it (LeetCode's prelude), and has a demo that must not run (module `solution`).
RIGHT = (
    "class Solution:\n    def topK(self, nums: List[int], k: int) -> List[int]:\n"
    "        return sorted(nums, reverse=True)[:k]\n\n\n"
    "if __name__ == '__main__':\n    raise SystemExit(input())\n"
)
# A tuple where LeetCode wants a list, `heapq` without an import, and state on the instance (a fresh one per call).
TUPLE = (
    "class Solution:\n    calls = 0\n\n    def topK(self, nums: List[int], k: int) -> List[int]:\n"
    "        assert self.calls == 0\n        self.calls += 1\n"
    "        return tuple(heapq.nlargest(len(nums), nums)[:k])\n"
)
WRONG = "class Solution:\n    def topK(self, nums: List[int], k: int) -> List[int]:\n        return sorted(nums)[:k]\n"
TESTS = [{"args": [[7, 7, 7], 2], "expected": [7, 7]}, {"stdin": "[2,9,4]\n3", "stdout": "[9,4,2]"}]


def select(service: Any, **body: Any) -> httpx.Response:
    body.setdefault("problem", PROBLEM)
    return httpx.post(f"{service.url}/select", json=body, timeout=120)


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_a_leetcode_request_runs_the_method_and_the_right_programs_win(memory_service: Any) -> None:
    tag = f"# {uuid.uuid4().hex}\n"
    result = ok(select(memory_service, candidates=[WRONG + tag, RIGHT + tag, TUPLE + tag], tests=TESTS,
                       inputs=[{"args": [[3, 1, 2], 3]}, "[0, -1], 1"], execution="required"))
    report = result["execution"]
    assert (report["status"], report["shape"], report["entry_point"]) == ("ran", "method", "topK")
    assert report["probes"]["examples"] == 2 and report["probes"]["tests"] == 2
    by_index = {r["index"]: r for r in result["ranking"]}
    wrong = by_index[0]["execution"]
    assert (wrong["examples_passed"], wrong["examples_total"], wrong["tests_passed"]) == (0, 2, 1)
    assert wrong["first_failure"] == {"input": "Solution().topK([1, 5, 3], 2)", "expected": "[5, 3]",
                                      "actual": "[1, 3]"}
    for index in (1, 2):
        summary = by_index[index]["execution"]
        assert (summary["examples_passed"], summary["tests_passed"]) == (2, 2), (index, summary)
        assert summary["first_failure"] is None and summary["status"] == "passed", (index, summary)
    assert by_index[1]["cluster"] == by_index[2]["cluster"] != by_index[0]["cluster"]  # the tuple reads as a list
    assert result["winner"]["index"] in (1, 2) and not result["no_candidate_passes"]
    assert result["usage"]["judge_calls"] == 0  # one behaviour passes: no judge needed


def test_the_method_is_found_from_the_candidates_without_starter_code(memory_service: Any) -> None:
    statement = PROBLEM.split("Starter code:")[0]
    result = ok(select(memory_service, problem=statement, candidates=[RIGHT, WRONG], execution="required"))
    report = result["execution"]
    assert (report["shape"], report["entry_point"], report["probes"]["examples"]) == ("method", "topK", 2)
    assert result["winner"]["index"] == 0


@pytest.mark.parametrize(
    ("tests", "param"),
    [
        ([{"args": [[1], 1], "expected": [1]}, {"stdin": "[1]\n1"}], "tests[1]"),  # functional format without stdout
        ([{"stdin": "[1]\nnot json", "stdout": "[1]"}], "tests[0]"),
        ([{"args": [[1], 1], "expected": [1]}, {"args": [[1], 1]}], "tests[1]"),  # `expected` missing
    ],
)
def test_a_method_test_in_a_wrong_form_is_named(memory_service: Any, tests: list[Any], param: str) -> None:
    response = select(memory_service, candidates=[RIGHT, WRONG], tests=tests, execution="required")
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == param
