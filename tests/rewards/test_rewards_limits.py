"""What keeps a /rewards batch whole: its time budget (partial results), 429 with Retry-After when the sandbox is
saturated, and a sandbox failure on one completion that costs that completion only."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import httpx
import pytest

from sandbox import SandboxError
from service.cache import MemoryCache
from service.execution import Executor
from service.metrics import Metrics
from service.rewards.batch import RewardService
from service.rewards.protocol import RewardsRequest
from service.settings import Settings

ADD = "Read two integers A and B from standard input and print A + B.\n"
ADD_TESTS = [{"stdin": "1 2\n", "stdout": "3\n"}]
ADD_RIGHT = "a, b = map(int, input().split())\nprint(a + b)\n"
SLEEPER = "import time\ntime.sleep(30)\n"


def fenced(code: str, tag: str) -> str:
    return f"```python\n# {tag}\n{code}```"


def item(*codes: str, tag: str) -> dict[str, Any]:
    return {"problem": ADD, "shape": "stdin", "tests": ADD_TESTS, "time_limit_s": 1.0,
            "completions": [fenced(code, tag) for code in codes]}


@pytest.mark.engine
def test_the_budget_returns_what_ran_and_marks_the_rest(memory_service: Any) -> None:
    tag = uuid.uuid4().hex
    url = f"{memory_service.url}/rewards"
    warm = httpx.post(url, json={"items": [item(ADD_RIGHT, tag=tag)]}, timeout=60)
    assert warm.status_code == 200 and warm.json()["rewards"] == [1.0], warm.text
    started = time.monotonic()
    sleepers = [SLEEPER + f"# {n}\n" for n in range(4)]
    response = httpx.post(url, json={"items": [item(ADD_RIGHT, *sleepers, tag=tag)], "budget_s": 1.5}, timeout=60)
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    result = response.json()
    assert elapsed < 1.5 + 3.0, elapsed
    assert result["usage"]["budget_exceeded"] is True
    assert result["rewards"] == [1.0, None, None, None, None]  # the cached run is scored; the rest are not made up
    assert result["statuses"] == ["passed"] + ["budget_exceeded"] * 4
    assert "budget of 1.5 s" in result["items"][0]["completions"][1]["detail"]


@pytest.fixture(scope="module")
def narrow_service(loop_thread, tiny_engine, base_settings):  # type: ignore[no-untyped-def]
    from service.testing import start_service

    service = start_service(loop_thread, base_settings.model_copy(update={"execution_max_queue": 1}), tiny_engine)
    yield service
    service.stop()


@pytest.mark.engine
def test_a_saturated_sandbox_answers_429_with_retry_after(narrow_service: Any) -> None:
    tag = uuid.uuid4().hex
    url = f"{narrow_service.url}/rewards"
    busy: dict[str, httpx.Response] = {}

    def occupy() -> None:
        body = {"items": [item(SLEEPER + "# a\n", SLEEPER + "# b\n", tag=tag)], "budget_s": 4}
        busy["response"] = httpx.post(url, json=body, timeout=60)

    thread = threading.Thread(target=occupy)
    thread.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "daj_execution_queue 0.0" in httpx.get(f"{narrow_service.url}/metrics",
                                                                                 timeout=5).text:
        time.sleep(0.05)
    refused = httpx.post(url, json={"items": [item(ADD_RIGHT, tag=tag)]}, timeout=30)
    thread.join()
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "too_many_requests"
    assert "execution_max_queue" in refused.json()["error"]["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert busy["response"].status_code == 200
    assert busy["response"].json()["statuses"] == ["budget_exceeded"] * 2 or \
        set(busy["response"].json()["statuses"]) <= {"timeout", "budget_exceeded"}


def test_a_sandbox_failure_costs_its_completion_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox itself failing on one program (a full process table, say) is simulated for that one program;
    the others run in the real sandbox."""
    import service.runners.local as local

    real = local.execute
    doomed = "print('doomed')\n"

    def flaky(code: str, *args: Any, **kwargs: Any) -> Any:
        if doomed in code:
            raise SandboxError("fork: Resource temporarily unavailable")
        return real(code, *args, **kwargs)

    monkeypatch.setattr(local, "execute", flaky)
    settings = Settings(adapters_dir=".", default_adapter="")

    async def score() -> Any:
        executor = Executor(settings, MemoryCache(100, 60), Metrics())
        await executor.self_check()
        assert executor.available, executor.error
        rewards = RewardService(settings, executor, Metrics())
        tag = uuid.uuid4().hex
        request = RewardsRequest.model_validate({"items": [item(ADD_RIGHT, doomed + ADD_RIGHT, tag=tag)]})
        try:
            return await rewards.run(rewards.prepare(request))
        finally:
            executor.close()

    result = asyncio.run(score())
    assert result.rewards == [1.0, None]
    assert [s.value for s in result.statuses] == ["passed", "sandbox_error"]
    assert "Resource temporarily unavailable" in result.items[0].completions[1].detail


@pytest.fixture(scope="module")
def small_group_service(loop_thread, tiny_engine, base_settings):  # type: ignore[no-untyped-def]
    from service.testing import start_service

    service = start_service(loop_thread, base_settings.model_copy(update={"rewards_max_group": 2}), tiny_engine)
    yield service
    service.stop()


@pytest.mark.engine
def test_an_openrlhf_window_over_a_limit_is_scored_request_by_request(small_group_service: Any) -> None:
    """Three one-sample requests for one problem in one window: together 3 completions, over the item limit of 2
    that each request keeps alone. Each is answered, none fails for the others."""
    import json

    tag = uuid.uuid4().hex
    label = json.dumps({"problem": ADD, "shape": "stdin", "tests": ADD_TESTS})

    async def all_at_once() -> list[httpx.Response]:
        async with httpx.AsyncClient() as client:
            return await asyncio.gather(*(
                client.post(f"{small_group_service.url}/rewards/openrlhf", timeout=60,
                            json={"query": [fenced(code, tag)], "labels": [label]})
                for code in (ADD_RIGHT, ADD_RIGHT + "# 2\n", "print(0)\n")))

    responses = asyncio.run(all_at_once())
    assert [r.status_code for r in responses] == [200, 200, 200], [r.text for r in responses]
    assert [r.json()["rewards"] for r in responses] == [[1.0], [1.0], [0.0]]
