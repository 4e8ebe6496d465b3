"""A /rewards batch with hostile rollouts: a completion that forks, loops, allocates 8 GB or prints 1 GB costs its
own reward only. Every other completion of the batch is scored, the batch returns within its budget, nothing of
it outlives the request, and the service keeps answering. Real HTTP, the real sandbox."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from daj.testing.processes import sandbox_leftovers
from daj.testing.programs import RIGHT, TOP_TWO_PROBLEM
from sandbox.runner import SANDBOX_UID_MIN

pytestmark = [pytest.mark.engine]

ADD = "Read two integers A and B from standard input and print A + B.\n"
ADD_TESTS = [{"stdin": "1 2\n", "stdout": "3\n"}, {"stdin": "40 60\n", "stdout": "100\n"}]
ADD_RIGHT = "a, b = map(int, input().split())\nprint(a + b)\n"
BUDGET_S = 60.0

# name -> (function program, stdin program, the status it must get)
HOSTILE = {
    "fork bomb": ("import os\nwhile True:\n    os.fork()\n" + RIGHT,
                  "import os\nwhile True:\n    os.fork()\n" + ADD_RIGHT, {"killed", "failed"}),
    "busy loop": ("def top_two(xs):\n    while True:\n        pass\n",
                  ADD_RIGHT + "while True:\n    pass\n", {"timeout"}),
    "8 GB": ("def top_two(xs):\n    b = bytearray(8 << 30)\n    return sorted(xs, reverse=True)[:2]\n",
             "b = bytearray(8 << 30)\n" + ADD_RIGHT, {"memory"}),
    "prints 1 GB": ("import sys\ndef top_two(xs):\n    for _ in range(1 << 20):\n"
                    "        sys.stdout.write('x' * 1023 + '\\n')\n    return sorted(xs, reverse=True)[:2]\n",
                    ADD_RIGHT + "import sys\nfor _ in range(1 << 20):\n    sys.stdout.write('x' * 1023 + '\\n')\n",
                    {"killed", "failed"}),
}


def fenced(code: str) -> str:
    return f"```python\n# {uuid.uuid4().hex}\n{code}```"


def test_hostile_rollouts_cost_their_own_reward_only(memory_service: Any) -> None:
    names = list(HOSTILE)
    function_item = {"problem": TOP_TWO_PROBLEM, "tests": ["assert top_two([3, 1, 2]) == [3, 2]"],
                     "completions": [fenced(RIGHT), *(fenced(HOSTILE[n][0]) for n in names), fenced(RIGHT)]}
    stdin_item = {"problem": ADD, "shape": "stdin", "tests": ADD_TESTS, "time_limit_s": 0.5,
                  "completions": [fenced(ADD_RIGHT), *(fenced(HOSTILE[n][1]) for n in names), fenced(ADD_RIGHT)]}
    started = time.monotonic()
    response = httpx.post(f"{memory_service.url}/rewards", timeout=BUDGET_S + 60,
                          json={"items": [function_item, stdin_item], "budget_s": BUDGET_S})
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    result = response.json()
    assert elapsed < BUDGET_S and not result["usage"]["budget_exceeded"], elapsed
    for item in result["items"]:
        completions = item["completions"]
        good = [completions[0], completions[-1]]
        assert [(c["status"], c["reward"]) for c in good] == [("passed", 1.0)] * 2, (item["shape"], good)
        for name, completion in zip(names, completions[1:-1], strict=True):
            where = (item["shape"], name, completion)
            assert completion["status"] in HOSTILE[name][2], where
            assert completion["reward"] == 0.0, where  # ran, and failed: a real 0, not a missing reward
        printer = completions[1 + names.index("prints 1 GB")]
        assert printer["truncated"], printer  # the output was cut, and the response says so
    assert sandbox_leftovers(SANDBOX_UID_MIN) == [], "processes outlived the batch"
    assert httpx.get(f"{memory_service.url}/ready", timeout=10).json()["sandbox"] == "ok"
