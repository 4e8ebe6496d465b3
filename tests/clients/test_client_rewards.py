"""The SDK's side of `POST /rewards`: the client call (bodies, parsing, retries) and the trainer adapters of
`daj_client.rewards` (TRL's reward-function signature, verl's `compute_score`), against a scripted stand-in for the
service behind `httpx.MockTransport`. Pure logic: the end-to-end tests against a running service are elsewhere.

The stand-in answers from the *service's* own models (`service.rewards.protocol`), so it cannot drift from what
the real server sends, and checks that every body the SDK sends is one the server accepts. A completion's text
says what it gets: `r=0.5` a reward of 0.5 (`r=1`: passed), `r=none` no reward (sandbox_error), `nocode` no code.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import daj_client
import httpx
import pytest
from _daj_fakes import Script, error_body, json_reply
from daj_client import AsyncClient, Client, RateLimitError, RewardItem, RewardKind, ServerError
from daj_client import rewards as r
from daj_client.errors import APIResponseValidationError

from service.rewards import protocol as rp

# ---- the stand-in service ----


def _text(completion: Any) -> str:
    return completion if isinstance(completion, str) else completion[-1]["content"]


def _score(text: str) -> tuple[float | None, rp.CompletionStatus, int]:
    """(reward, status, passed of 4) that a completion's text asks for."""
    if "nocode" in text:
        return 0.0, rp.CompletionStatus.NO_CODE, 0
    value = text.split("r=", 1)[1].split()[0]
    if value == "none":
        return None, rp.CompletionStatus.SANDBOX_ERROR, 0
    reward = float(value)
    return reward, rp.CompletionStatus.PASSED if reward == 1 else rp.CompletionStatus.FAILED, round(4 * reward)


def rewards_body(body: dict) -> dict:
    """What the service answers to a /rewards body (validated by the service's own request model first)."""
    request = rp.RewardsRequest.model_validate(body)
    items, rewards, statuses = [], [], []
    for number, item in enumerate(request.items):
        completions = []
        for index, completion in enumerate(item.completions):
            text = completion if isinstance(completion, str) else completion[-1].content
            reward, status, passed = _score(text)
            completions.append(
                rp.CompletionReward(index=index, reward=reward, status=status, passed=passed, total=4, cluster=0)
            )
            rewards.append(reward)
            statuses.append(status)
        members = list(range(len(completions)))
        clusters = [rp.RewardCluster(id=0, members=members, checks_passed=4)]
        items.append(rp.ItemReport(index=number, status="ran", checks=4, clusters=clusters, completions=completions))
    usage = rp.RewardsUsage(completions=len(rewards), runs=len(rewards), cached_runs=0, elapsed_ms=12.5)
    response = rp.RewardsResponse(rewards=rewards, statuses=statuses, items=items, usage=usage, reward=request.reward)
    return response.model_dump(mode="json")


def rewards_reply(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=rewards_body(json.loads(request.content)), headers={"x-request-id": "req-r"})


BUSY = json_reply(
    429,
    error_body("40 sandbox runs queued, the limit is 32", "rate_limit_error", "too_many_requests"),
    {"Retry-After": "3"},
)
DOWN = json_reply(503, error_body("the sandbox is unavailable", "service_unavailable_error", "sandbox_unavailable"))


def make_client(script: Script, **kwargs: Any) -> tuple[Client, list[float]]:
    client = Client("http://daj.test", http_client=httpx.Client(transport=httpx.MockTransport(script)), **kwargs)
    sleeps: list[float] = []
    client._sleep = sleeps.append
    return client, sleeps


def make_async_client(script: Script, **kwargs: Any) -> tuple[AsyncClient, list[float]]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(script))
    client = AsyncClient("http://daj.test", http_client=http, **kwargs)
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    client._sleep = sleep
    return client, sleeps


# ---- Client.rewards and AsyncClient.rewards ----

ITEMS: list[Any] = [
    RewardItem(problem="def f(x):\n    return ...\n", completions=["r=1", "r=0.5"], tests=["assert f(1) == 2"]),
    {
        "problem": "Read a and b, print a + b.",
        "completions": [[{"role": "assistant", "content": "r=0.25", "reasoning": "thought"}]],
        "tests": [{"stdin": "1 2\n", "stdout": "3\n"}],
        "shape": "stdin",
    },
]
SENT_ITEMS = [
    {"problem": "def f(x):\n    return ...\n", "completions": ["r=1", "r=0.5"], "tests": ["assert f(1) == 2"]},
    {
        "problem": "Read a and b, print a + b.",
        "completions": [[{"role": "assistant", "content": "r=0.25", "reasoning": "thought"}]],
        "tests": [{"stdin": "1 2\n", "stdout": "3\n"}],
        "shape": "stdin",
    },
]


def test_client_rewards_sends_the_items_and_only_the_options_set() -> None:
    script = Script([rewards_reply])
    client, _ = make_client(script)
    response = client.rewards(ITEMS)
    assert script.requests[0].url.path == "/rewards" and script.requests[0].method == "POST"
    assert script.bodies[0] == {"items": SENT_ITEMS}
    assert response.rewards == [1.0, 0.5, 0.25]
    assert response.statuses == [daj_client.CompletionStatus.PASSED, "failed", "failed"]
    assert response.reward is RewardKind.PASS_RATE and response.usage.completions == 3
    assert response.items[1].completions[0].passed == 1 and response.items[0].clusters[0].members == [0, 1]

    client.rewards(ITEMS[:1], reward="agreement", no_code_reward=-1.0, agreement_weight=0.5, budget_s=30.0)
    assert script.bodies[1] == {
        "items": SENT_ITEMS[:1],
        "reward": "agreement",
        "no_code_reward": -1.0,
        "agreement_weight": 0.5,
        "budget_s": 30.0,
    }


def test_async_client_rewards_is_the_same_call() -> None:
    script = Script([rewards_reply])

    async def run() -> daj_client.RewardsResponse:
        client, _ = make_async_client(script)
        async with client:
            return await client.rewards(ITEMS, reward=RewardKind.BINARY)

    response = asyncio.run(run())
    assert script.bodies[0] == {"items": SENT_ITEMS, "reward": "binary"}
    assert response.rewards == [1.0, 0.5, 0.25] and response.reward is RewardKind.BINARY


def test_a_full_sandbox_queue_is_retried_after_the_servers_retry_after() -> None:
    script = Script([BUSY, DOWN, rewards_reply])
    client, sleeps = make_client(script, max_retries=2)
    assert client.rewards(ITEMS).rewards == [1.0, 0.5, 0.25]
    assert len(script.requests) == 3 and sleeps[0] == 3.0 and len(sleeps) == 2

    script = Script([BUSY])
    client, sleeps = make_client(script, max_retries=1)
    with pytest.raises(RateLimitError) as caught:
        client.rewards(ITEMS)
    assert caught.value.code == "too_many_requests" and caught.value.retry_after == 3.0 and sleeps == [3.0]


def test_the_async_client_retries_a_full_queue_too() -> None:
    script = Script([BUSY, rewards_reply])

    async def run() -> list[float]:
        client, sleeps = make_async_client(script)
        await client.rewards(ITEMS)
        await client.aclose()
        return sleeps

    assert asyncio.run(run()) == [3.0] and len(script.requests) == 2


def test_items_are_checked_before_a_round_trip() -> None:
    client, _ = make_client(Script([rewards_reply]))
    with pytest.raises(TypeError, match="not a single item"):
        client.rewards(ITEMS[0])
    with pytest.raises(ValueError, match="tets"):
        client.rewards([{"problem": "p", "completions": ["x"], "tets": []}])
    with pytest.raises(ValueError, match="either `stdin`"):
        client.rewards([{"problem": "p", "completions": ["x"], "tests": [{"stdin": "1", "args": [1]}]}])


def test_a_response_without_one_reward_per_completion_is_an_error() -> None:
    def short(request: httpx.Request) -> httpx.Response:
        body = rewards_body(json.loads(request.content))
        body["rewards"] = body["rewards"][:-1]
        return httpx.Response(200, json=body)

    client, _ = make_client(Script([short]))
    with pytest.raises(APIResponseValidationError, match="2 rewards and 3 statuses for 3 completions"):
        client.rewards(ITEMS)


# ---- TRL ----


def trl(script: Script, **kwargs: Any) -> tuple[r.TRLReward, list[float]]:
    client, sleeps = make_client(script)
    return r.trl_reward(client=client, **kwargs), sleeps


class TRLLog:
    """Stands in for GRPOTrainer's `log_extra` and `log_metric` (`_log_completion_extra`, `_log_metric`)."""

    def __init__(self) -> None:
        self.extra: dict[str, list[Any]] = {}
        self.metrics: dict[str, list[float]] = {}

    def log_extra(self, column: str, values: list) -> None:
        self.extra.setdefault(column, []).extend(values)

    def log_metric(self, name: str, value: float) -> None:
        self.metrics.setdefault(name, []).append(value)

    def kwargs(self) -> dict[str, Any]:
        return {"log_extra": self.log_extra, "log_metric": self.log_metric}


def trl_kwargs(columns: dict[str, Any], count: int) -> dict[str, Any]:
    """What GRPOTrainer passes besides prompts and completions: the dataset's columns and its own keys."""
    return {**columns, "completion_ids": [[1, 2, 3]] * count, "trainer_state": object(), "environments": None}


def test_trl_groups_the_completions_of_a_problem_into_one_item_and_keeps_their_order() -> None:
    script = Script([rewards_reply])
    reward, _ = trl(script)
    # Two problems, their completions interleaved (and not only consecutive), as a batch split over processes.
    problems = ["def a():", "def a():", "def b():", "def b():", "def a():"]
    tests = [["assert a() == 1"]] * 2 + [["assert b() == 2"]] * 2 + [["assert a() == 1"]]
    completions = ["r=1", "r=0", "r=0.5", "r=none", "r=0.25"]
    columns = {"problem": problems, "tests": tests}
    rewards = reward(prompts=["prompt"] * 5, completions=completions, **trl_kwargs(columns, 5))
    assert rewards == [1.0, 0.0, 0.5, None, 0.25]
    assert script.bodies[0] == {
        "items": [
            {"problem": "def a():", "completions": ["r=1", "r=0", "r=0.25"], "tests": ["assert a() == 1"]},
            {"problem": "def b():", "completions": ["r=0.5", "r=none"], "tests": ["assert b() == 2"]},
        ],
        "reward": "pass_rate",
    }


def test_trl_items_differ_when_their_tests_or_fields_differ() -> None:
    script = Script([rewards_reply])
    reward, _ = trl(script, time_limit_s=2.0)
    columns = {
        "problem": ["p"] * 4,
        "tests": [["assert f() == 1"], ["assert f() == 1"], ["assert f() == 2"], ["assert f() == 1"]],
        "entry_point": ["f", "f", "f", "g"],
    }
    assert reward(["q"] * 4, ["r=1", "r=0.5", "r=0", "r=0.25"], **trl_kwargs(columns, 4)) == [1.0, 0.5, 0.0, 0.25]
    items = script.bodies[0]["items"]
    assert [item["completions"] for item in items] == [["r=1", "r=0.5"], ["r=0"], ["r=0.25"]]
    assert [(item["entry_point"], item["time_limit_s"]) for item in items] == [("f", 2.0), ("f", 2.0), ("g", 2.0)]


def test_trl_conversational_prompts_and_completions() -> None:
    """No problem column: the problem is the prompt's last user message. Chat completions go as messages (the
    server takes the code from the last assistant message); a content of parts goes as its text."""
    script = Script([rewards_reply])
    reward, _ = trl(script)
    prompt = [
        {"role": "system", "content": "You write Python."},
        {"role": "user", "content": "Write f(x) returning x + 1."},
    ]
    multimodal = [{"role": "user", "content": [{"type": "text", "text": "Write g."}, {"type": "image"}]}]
    completions = [
        [{"role": "assistant", "content": "```python\n# r=1\n```"}],
        [{"role": "assistant", "content": "r=0.5", "tool_calls": []}],
        [{"role": "assistant", "content": [{"type": "text", "text": "r=0"}]}],
    ]
    rewards = reward(prompts=[prompt, prompt, multimodal], completions=completions, **trl_kwargs({}, 3))
    assert rewards == [1.0, 0.5, 0.0]
    assert script.bodies[0]["items"] == [
        {"problem": "Write f(x) returning x + 1.", "completions": completions[:2]},
        {"problem": "Write g.", "completions": [[{"role": "assistant", "content": "r=0"}]]},
    ]


def test_trl_standard_prompts_are_the_problem_without_a_problem_column() -> None:
    script = Script([rewards_reply])
    reward, _ = trl(script, problem_column="statement", tests_column="checks")
    columns = {"statement": ["def h():", None], "checks": [["assert h() is None"], None], "problem": ["unused"] * 2}
    assert reward(["the prompt of h", "another prompt"], ["r=1", "r=0.5"], **trl_kwargs(columns, 2)) == [1.0, 0.5]
    assert script.bodies[0]["items"] == [
        {"problem": "def h():", "completions": ["r=1"], "tests": ["assert h() is None"]},
        {"problem": "another prompt", "completions": ["r=0.5"]},
    ]


def test_trl_tests_may_be_a_ground_truth_or_its_json() -> None:
    script = Script([rewards_reply])
    reward, _ = trl(script, shape="function")
    truth = {"inputs": ["1 2\n"], "outputs": ["3\n"]}
    columns = {"problem": ["p", "q", "s"], "tests": [json.dumps(truth), {"tests": [{"args": [1], "expected": 2}]},
                                                     "assert s() == 3"]}  # fmt: skip
    assert reward(["x"] * 3, ["r=1", "r=0.5", "r=0"], **trl_kwargs(columns, 3)) == [1.0, 0.5, 0.0]
    assert script.bodies[0]["items"] == [
        # the ground truth's shape wins over the constant
        {"problem": "p", "completions": ["r=1"], "tests": [{"stdin": "1 2\n", "stdout": "3\n"}], "shape": "stdin"},
        {"problem": "q", "completions": ["r=0.5"], "tests": [{"args": [1], "expected": 2}], "shape": "function"},
        {"problem": "s", "completions": ["r=0"], "tests": ["assert s() == 3"], "shape": "function"},
    ]


def test_trl_logs_each_status_and_the_same_metrics_every_call() -> None:
    script = Script([rewards_reply])
    reward, _ = trl(script)
    log = TRLLog()
    completions = ["r=1", "r=0", "nocode", "r=none"]
    reward(["p"] * 4, completions, **trl_kwargs({}, 4), **log.kwargs())
    assert log.extra == {
        "daj_pass_rate_status": ["passed", "failed", "no_code", "sandbox_error"],
        "daj_pass_rate_passed": ["4/4", "0/4", "0/4", "0/4"],
    }
    assert log.metrics == {
        "daj_pass_rate/passed_frac": [0.25],
        "daj_pass_rate/failed_frac": [0.25],
        "daj_pass_rate/timeout_frac": [0.0],
        "daj_pass_rate/syntax_error_frac": [0.0],
        "daj_pass_rate/no_code_frac": [0.25],
        "daj_pass_rate/unscored_frac": [0.25],
    }
    reward(["p"], ["r=1"], **trl_kwargs({}, 1), **log.kwargs())  # every process logs every name, every call
    assert {name: len(values) for name, values in log.metrics.items()} == dict.fromkeys(log.metrics, 2)
    assert reward(["p"], ["r=0.5"], **trl_kwargs({}, 1)) == [0.5]  # an older TRL passes no logging callables


def test_two_daj_reward_functions_log_into_their_own_columns() -> None:
    """TRL's completions table has one row per completion: a column both functions wrote would get two values
    per completion (trl/trainer/grpo_trainer.py, `_log_completion_extra` extends the column)."""
    script = Script([rewards_reply])
    log = TRLLog()
    for reward in (trl(script)[0], trl(script, reward="agreement")[0]):
        reward(["p", "p"], ["r=1", "r=0"], **trl_kwargs({}, 2), **log.kwargs())
    assert {column: len(values) for column, values in log.extra.items()} == {
        "daj_pass_rate_status": 2,
        "daj_pass_rate_passed": 2,
        "daj_agreement_status": 2,
        "daj_agreement_passed": 2,
    }
    assert {name for name in log.metrics if name.endswith("/passed_frac")} == {
        "daj_pass_rate/passed_frac",
        "daj_agreement/passed_frac",
    }


def test_trl_reward_names_and_options() -> None:
    script = Script([rewards_reply])
    assert trl(script)[0].__name__ == "daj_pass_rate"
    reward, _ = trl(script, reward="agreement", agreement_weight=0.5, no_code_reward=-0.5, budget_s=60.0)
    assert reward.__name__ == "daj_agreement"
    reward(["p"], ["r=1"], **trl_kwargs({}, 1))
    options = {key: value for key, value in script.bodies[0].items() if key != "items"}
    assert options == {"reward": "agreement", "no_code_reward": -0.5, "agreement_weight": 0.5, "budget_s": 60.0}
    assert trl(script, name="code")[0].__name__ == "code"
    with pytest.raises(TypeError, match="unknown item field"):
        r.trl_reward(entrypoint="f")
    with pytest.raises(ValueError):
        r.trl_reward(reward="pass@1")


def test_trl_reward_retries_a_full_queue_then_raises_or_gives_none() -> None:
    script = Script([BUSY, rewards_reply])
    reward, sleeps = trl(script)
    assert reward(["p"], ["r=1"], **trl_kwargs({}, 1)) == [1.0] and sleeps == [3.0]

    client, _ = make_client(Script([DOWN]), max_retries=1)
    with pytest.raises(ServerError):
        r.trl_reward(client=client)(["p"], ["r=1"], **trl_kwargs({}, 1))
    log = TRLLog()
    quiet = r.trl_reward(client=client, on_error="none")
    assert quiet(["p", "p"], ["r=1", "r=0"], **trl_kwargs({}, 2), **log.kwargs()) == [None, None]
    assert log.extra["daj_pass_rate_status"] == ["request_error"] * 2
    assert log.metrics["daj_pass_rate/unscored_frac"] == [1.0]


def test_trl_rows_whose_tests_cannot_be_read_get_none_and_the_rest_are_scored(caplog: pytest.LogCaptureFixture) -> None:
    script = Script([rewards_reply])
    reward, _ = trl(script)
    columns = {"problem": ["p", "q", "s"], "tests": [["assert p()"], {"inputs": [1], "outputs": []}, [{"stdin": 1}]]}
    assert reward(["x"] * 3, ["r=1", "r=0.5", "r=0"], **trl_kwargs(columns, 3)) == [1.0, None, None]
    assert [item["problem"] for item in script.bodies[0]["items"]] == ["p"]
    assert "not scored" in caplog.text
    empty = Script([rewards_reply])
    assert trl(empty)[0](["x"], ["r=1"], **trl_kwargs({"tests": [{"nothing": 1}]}, 1)) == [None]
    assert empty.requests == []  # nothing to score: no request


def test_the_sync_trl_reward_pickles_and_is_not_a_coroutine_function() -> None:
    reward = r.trl_reward("http://daj.test:9000", api_key="k", reward="binary", shape="stdin")
    reward.client  # noqa: B018  (made, then left out of the pickle)
    copy = pickle.loads(pickle.dumps(reward))
    assert copy.__name__ == "daj_binary" and copy.config == reward.config and copy.client.base_url.endswith(":9000")
    assert not inspect.iscoroutinefunction(reward)


def test_async_trl_reward_is_a_coroutine_function_as_trl_detects_them() -> None:
    """GRPOTrainer awaits a reward function concurrently when `inspect.iscoroutinefunction(func)` is true
    (trl/trainer/grpo_trainer.py, `_calculate_rewards`); it names its metric after `__name__`."""
    script = Script([BUSY, rewards_reply])
    client, sleeps = make_async_client(script)
    reward = r.async_trl_reward(client=client, reward="judge")
    assert inspect.iscoroutinefunction(reward) and reward.__name__ == "daj_judge"
    log = TRLLog()
    completions = [[{"role": "assistant", "content": "r=1"}], [{"role": "assistant", "content": "r=0.5"}]]
    columns = {"problem": ["a", "b"], "tests": [["assert a()"], ["assert b()"]]}
    rewards = asyncio.run(reward(prompts=["x", "y"], completions=completions, **trl_kwargs(columns, 2), **log.kwargs()))
    assert rewards == [1.0, 0.5] and sleeps == [3.0]
    assert [item["problem"] for item in script.bodies[-1]["items"]] == ["a", "b"]
    assert log.extra["daj_judge_status"] == ["passed", "failed"]


def test_async_trl_reward_makes_one_client_per_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    script = Script([rewards_reply])
    made: list[AsyncClient] = []

    def factory(*args: Any, **kwargs: Any) -> AsyncClient:
        client, _ = make_async_client(script)
        made.append(client)
        return client

    monkeypatch.setattr(r, "AsyncClient", factory)
    reward = r.async_trl_reward("http://daj.test")

    async def twice() -> None:
        await reward(["p"], ["r=1"])
        await reward(["p"], ["r=0.5"])

    asyncio.run(twice())
    asyncio.run(twice())  # a new loop: a new client (the old one's connections belong to the closed loop)
    assert len(made) == 2 and len(script.requests) == 4


# ---- ground truth ----


class Array:
    """Quacks like a numpy array: what verl's parquet columns hold inside dicts."""

    def __init__(self, values: list) -> None:
        self.values = values

    def tolist(self) -> list:
        return self.values


@pytest.mark.parametrize(
    ("truth", "fields"),
    [
        (None, {}),
        ("", {}),
        (["assert f(1) == 2"], {"tests": ["assert f(1) == 2"]}),
        (
            {"tests": [{"args": [1], "expected": 2}], "entry_point": "f", "problem": "def f(x):", "language": "py"},
            {"tests": [{"args": [1], "expected": 2}], "entry_point": "f", "problem": "def f(x):"},
        ),
        (
            json.dumps({"tests": [{"stdin": "1\n", "stdout": "2\n"}], "time_limit_s": 1.0}),
            {"tests": [{"stdin": "1\n", "stdout": "2\n"}], "time_limit_s": 1.0},
        ),
        ({"inputs": ["1 2"]}, {"inputs": ["1 2"]}),  # daj's inputs without results: agreement only
        # PRIME / APPS standard input
        (
            json.dumps({"inputs": ["1 2\n", ["3", "4"]], "outputs": ["3\n", 7]}),
            {"tests": [{"stdin": "1 2\n", "stdout": "3\n"}, {"stdin": "3\n4\n", "stdout": "7"}], "shape": "stdin"},
        ),
        (
            {"inputs": ["5\n"], "outputs": ["5\n"], "fn_name": None, "time_limit_s": 2.0},
            {"tests": [{"stdin": "5\n", "stdout": "5\n"}], "shape": "stdin", "time_limit_s": 2.0},
        ),
        # LiveCodeBench's functional format: one JSON value per argument per line; the output's JSON
        (
            {"inputs": ["[2, 7, 11, 15]\n9", '"abc"'], "outputs": ["[0, 1]", "not json"], "fn_name": "twoSum"},
            {
                "tests": [{"args": [[2, 7, 11, 15], 9], "expected": [0, 1]}, {"args": ["abc"], "expected": "not json"}],
                "entry_point": "twoSum",
            },
        ),
        # APPS / TACO call-based: argument lists, results wrapped in one-element lists
        (
            {"inputs": [[1, 2], [[3], 4]], "outputs": [[3], [[3, 4]]], "fn_name": "f"},
            {"tests": [{"args": [1, 2], "expected": 3}, {"args": [[3], 4], "expected": [3, 4]}], "entry_point": "f"},
        ),
        (  # not every output wrapped: as they are
            {"inputs": [[1], [2]], "outputs": [[1], [2, 2]], "fn_name": "f"},
            {"tests": [{"args": [1], "expected": [1]}, {"args": [2], "expected": [2, 2]}], "entry_point": "f"},
        ),
        (  # numpy arrays inside a verl ground truth
            {"inputs": Array([Array([1, 2])]), "outputs": Array([Array([3])]), "fn_name": "add"},
            {"tests": [{"args": [1, 2], "expected": 3}], "entry_point": "add"},
        ),
    ],
)
def test_ground_truth_forms(truth: Any, fields: dict) -> None:
    assert r.item_fields_from_ground_truth(truth) == fields
    RewardItem.model_validate({"problem": "", "completions": ["x"], **fields})  # a valid item
    if fields:
        rp.RewardItem.model_validate({"problem": "", "completions": ["x"], **fields})  # and on the server


@pytest.mark.parametrize(
    ("truth", "message"),
    [
        ("assert f(1) == 2", "not JSON"),
        (3, "not a dict"),
        ({"inputs": ["1"], "outputs": ["1", "2"]}, "same length"),
        ({"inputs": ["[1,"], "outputs": ["1"], "fn_name": "f"}, "one JSON value per line"),
        ({"tests": [], "outputs": []}, "both"),
        ({"test_cases": [{"input": "1", "output": "1"}]}, "neither"),
        ({"inputs": [1], "outputs": [1], "fn_name": 3}, "fn_name"),
    ],
)
def test_ground_truths_that_are_no_form_say_why(truth: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        r.item_fields_from_ground_truth(truth)


# ---- verl ----


def use_client(monkeypatch: pytest.MonkeyPatch, script: Script) -> list[tuple]:
    """verl's functions get their client from `_shared_client`: a scripted one, recording the arguments."""
    calls: list[tuple] = []

    def shared(*args: Any) -> Client:
        calls.append(args)
        return make_client(script)[0]

    monkeypatch.setattr(r, "_shared_client", shared)
    return calls


def test_verl_compute_score_scores_one_completion(monkeypatch: pytest.MonkeyPatch) -> None:
    script = Script([rewards_reply])
    calls = use_client(monkeypatch, script)
    truth = json.dumps({"inputs": ["1 2\n"], "outputs": ["3\n"]})
    info = {"problem": "Print a + b.", "daj_url": "http://daj.example:8000", "index": 3}
    result = r.compute_score("codecontests", "```python\n# r=0.5\n```", truth, info, reward_router_address=None)
    assert result == {"score": 0.5, "scored": True, "status": "failed", "passed": 2, "total": 4, "daj_reward": 0.5}
    assert calls == [("http://daj.example:8000", None, 300.0, 5)]
    assert script.bodies[0] == {
        "items": [
            {
                "problem": "Print a + b.",
                "completions": ["```python\n# r=0.5\n```"],
                "tests": [{"stdin": "1 2\n", "stdout": "3\n"}],
                "shape": "stdin",
            }
        ],
        "reward": "pass_rate",
    }


def test_verl_a_completion_without_a_reward_scores_zero_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    use_client(monkeypatch, Script([rewards_reply]))
    result = r.compute_score("apps", "r=none", {"tests": ["assert f()"]}, {"question": "f"})
    assert result["score"] == 0.0 and result["scored"] is False and result["status"] == "sandbox_error"
    assert math.isnan(result["daj_reward"])
    # verl's validation adds its own `reward` column next to these keys: ours must not collide with it
    assert "reward" not in result


def test_verl_reward_kwargs_set_the_options_and_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    script = Script([rewards_reply])
    calls = use_client(monkeypatch, script)
    kwargs = {"reward": "binary", "daj_url": "http://from-config:1", "api_key": "k", "timeout": 60, "max_retries": 1}
    r.compute_score("x", "r=1", None, None, **kwargs)
    assert calls == [("http://from-config:1", "k", 60.0, 1)]
    assert script.bodies[0] == {"items": [{"problem": "", "completions": ["r=1"]}], "reward": "binary"}


def test_verl_batch_groups_a_prompts_completions_and_keeps_their_order(monkeypatch: pytest.MonkeyPatch) -> None:
    script = Script([rewards_reply])
    calls = use_client(monkeypatch, script)
    truth_a = json.dumps({"inputs": ["1\n"], "outputs": ["1\n"]})
    truth_b = {"tests": ["assert b() == 2"]}
    infos = [{"problem": "A"}, {"problem": "B"}, {"problem": "A"}, {"problem": "B"}, {"problem": "A"}]
    results = r.compute_score_batch(
        data_sources=["apps"] * 5,
        solution_strs=["r=1", "r=0", "r=0.5", "r=none", "nocode"],
        ground_truths=[truth_a, truth_b, truth_a, truth_b, "not json"],
        extra_infos=infos,
        reward="agreement",
    )
    assert [(x["score"], x["scored"], x["status"]) for x in results] == [
        (1.0, True, "passed"),
        (0.0, True, "failed"),
        (0.5, True, "failed"),
        (0.0, False, "sandbox_error"),
        (0.0, False, "not_scored"),  # its ground truth is no form: not sent
    ]
    assert [set(x) for x in results] == [{"score", "scored", "status", "passed", "total", "daj_reward"}] * 5
    items = script.bodies[0]["items"]
    assert [(item["problem"], item["completions"]) for item in items] == [
        ("A", ["r=1", "r=0.5"]),
        ("B", ["r=0", "r=none"]),
    ]
    assert len(script.requests) == 1 and calls == [(None, None, 300.0, 5)]


def test_verl_batch_sends_one_request_per_service(monkeypatch: pytest.MonkeyPatch) -> None:
    script = Script([rewards_reply])
    calls = use_client(monkeypatch, script)
    infos = [{"daj_url": "http://one"}, {"daj_url": "http://two"}, {"daj_url": "http://one"}]
    results = r.compute_score_batch(["s"] * 3, ["r=1", "r=0.5", "r=0"], [None] * 3, infos)
    assert [x["score"] for x in results] == [1.0, 0.5, 0.0]
    assert [c[0] for c in calls] == ["http://one", "http://two"]
    assert [[item["completions"] for item in body["items"]] for body in script.bodies] == [
        [["r=1", "r=0"]],
        [["r=0.5"]],
    ]
    with pytest.raises(ValueError, match="3 solutions for 2 data sources"):
        r.compute_score_batch(["s"] * 2, ["a"] * 3, [None] * 3)


def test_verl_can_load_this_file_by_its_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """What `custom_reward_function.path=/.../rewards.py` does (verl/utils/import_utils.py, `load_module`): the
    file becomes a module outside the package, so its imports must not be relative."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("custom_module_daj", r.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    script = Script([rewards_reply])
    monkeypatch.setattr(module, "_shared_client", lambda *args: make_client(script)[0])
    assert module.compute_score("apps", "r=1", None)["score"] == 1.0


def test_verl_shares_one_client_per_service_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAJ_BASE_URL", "http://from-env:8123")
    monkeypatch.setattr(r, "_clients", {})
    client = r._shared_client(None, None, 300.0, 5)
    assert client.base_url == "http://from-env:8123" and client.max_retries == 5
    assert r._shared_client(None, None, 300.0, 5) is client
    assert r._shared_client("http://other", None, 300.0, 5) is not client
    client.close()


# ---- the SDK stays light ----


def test_the_rewards_module_imports_nothing_heavy(tmp_path: Path) -> None:
    forbidden = ["torch", "trl", "verl", "numpy", "transformers", "datasets", "fastapi", "service", "daj"]
    code = (
        "import json, sys\n"
        "import daj_client.rewards\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({forbidden!r}))))\n"
    )
    # Run outside the repository so `service` and `daj` are not importable by accident from the cwd.
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_the_public_names_are_exported() -> None:
    for name in ("RewardItem", "RewardsRequest", "RewardsResponse", "CompletionReward", "RewardKind", "Message"):
        assert name in daj_client.__all__
    assert set(r.__all__) <= set(dir(r))
