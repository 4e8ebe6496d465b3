"""Fair shares of the sandbox: a small request sent while a huge one holds the pool finishes in about its normal
time (within 2x), not after the huge one. Real HTTP, the real sandbox, the in-process runner with 2 workers.

With 2 slots and two requests at work, each request's share is one slot: the small request here is one run (a
request of k runs gets its share, so it takes up to k runs' time), and its normal time is its time alone."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.engine]

ADD = "Read two integers A and B from standard input and print A + B.\n"
TESTS = [{"stdin": f"{a} {b}\n", "stdout": f"{a + b}\n"} for a, b in ((1, 2), (3, 4), (5, 6))]
SLOW_RIGHT = "import time\na, b = map(int, input().split())\ntime.sleep(0.2)\nprint(a + b)\n"  # ~0.2 s a probe


def small_request(service: Any) -> float:
    """One completion on three tests: one sandbox run of about 0.7 s."""
    body = {"items": [{"problem": ADD, "shape": "stdin", "tests": TESTS,
                       "completions": [f"```python\n# {uuid.uuid4().hex}\n{SLOW_RIGHT}```"]}]}
    started = time.monotonic()
    response = httpx.post(f"{service.url}/rewards", json=body, timeout=120)
    elapsed = time.monotonic() - started
    assert response.status_code == 200 and response.json()["rewards"] == [1.0], response.text
    return elapsed


def test_a_small_request_is_not_queued_behind_a_huge_one(memory_service: Any) -> None:
    solo = min(small_request(memory_service) for _ in range(2))
    tag = uuid.uuid4().hex
    huge = {"items": [{"problem": ADD, "shape": "stdin", "tests": TESTS[:1],
                       "completions": [f"```python\n# {tag} {n}\n{SLOW_RIGHT}```" for n in range(40)]}]}
    answer: dict[str, httpx.Response] = {}
    batch = threading.Thread(target=lambda: answer.setdefault(
        "r", httpx.post(f"{memory_service.url}/rewards", json=huge, timeout=300)))
    started = time.monotonic()
    batch.start()
    time.sleep(1.0)  # the huge batch now holds every worker, with dozens of runs waiting
    during = small_request(memory_service)
    small_done = time.monotonic() - started
    batch.join(300)
    huge_s = time.monotonic() - started
    print(f"\nsmall request alone {solo:.2f} s, during the 40-run batch {during:.2f} s "
          f"({during / solo:.2f}x); the batch took {huge_s:.1f} s")
    assert answer["r"].status_code == 200 and set(answer["r"].json()["statuses"]) == {"passed"}
    assert small_done < huge_s - 2.0, (small_done, huge_s)  # it did not wait for the huge batch
    assert during <= 2 * solo, (during, solo)
