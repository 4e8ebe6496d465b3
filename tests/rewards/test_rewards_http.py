"""POST /rewards end to end: real HTTP, the real sandbox (and the tiny vLLM model where the judge is asked)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from daj.testing.programs import RIGHT, SETS, TOP_TWO_PROBLEM, WRONG

pytestmark = [pytest.mark.engine]

ADD_PROBLEM = "Read two integers A and B from standard input and print A + B.\n"
ADD_TESTS = [{"stdin": "1 2\n", "stdout": "3\n"}, {"stdin": "10 -4\n", "stdout": "6\n"},
             {"stdin": "0 0\n", "stdout": "0\n"}]
ADD_RIGHT = "a, b = map(int, input().split())\nprint(a + b)\n"
ADD_HALF = "a, b = map(int, input().split())\nprint(abs(a) + abs(b))\n"  # passes 2 of 3


def fenced(code: str, tag: str = "") -> str:
    return f"Here is my solution.\n```python\n{code}{tag}```\nIt reads the input and prints the answer."


def post(service, body: dict, path: str = "/rewards", **params) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.post(f"{service.url}{path}", json=body, params=params, timeout=180)


def ok(response: httpx.Response) -> dict:  # type: ignore[type-arg]
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def batch(tag: str) -> dict:  # type: ignore[type-arg]
    """Two problems, two shapes, both completion formats, and each way a completion can fail to be a program."""
    marker = f"# {tag}\n"
    return {"items": [
        {"problem": TOP_TWO_PROBLEM,
         "tests": ["assert top_two([3, 1, 2]) == [3, 2]", "assert top_two([7, 7]) == [7, 7]"],
         "completions": [
             fenced(RIGHT, marker),
             [{"role": "assistant", "content": fenced(WRONG, marker)}],
             "I do not know how to solve this.",
             fenced("def top_two(xs):\n    return sorted(xs, reverse=True)[:2\n", marker),
             fenced(RIGHT, marker),
         ]},
        {"problem": ADD_PROBLEM, "shape": "stdin", "tests": ADD_TESTS,
         "completions": [fenced(ADD_RIGHT, marker), fenced(ADD_HALF, marker)]},
    ]}


def test_a_batch_is_scored_per_completion_and_again_from_the_cache(memory_service) -> None:  # type: ignore[no-untyped-def]
    body = batch(uuid.uuid4().hex)
    first = ok(post(memory_service, body))
    assert first["reward"] == "pass_rate"
    # 2 examples from the docstring + 2 caller tests for top_two (WRONG passes only [7, 7]); 3 caller tests for the
    # stdin program
    assert first["rewards"] == [1.0, 0.25, 0.0, 0.0, 1.0, 1.0, pytest.approx(2 / 3, abs=1e-6)]
    assert first["statuses"] == ["passed", "failed", "no_code", "syntax_error", "passed", "passed", "failed"]
    top_two, add = first["items"]
    assert top_two["status"] == "ran" and top_two["shape"] == "function" and top_two["entry_point"] == "top_two"
    assert top_two["checks"] == 4
    completions = top_two["completions"]
    assert completions[0]["passed"] == completions[0]["total"] == 4
    assert completions[1]["first_failure"] == {"input": "top_two([1, 5, 3])", "expected": "[5, 3]",
                                               "actual": "[1, 3]"}
    assert completions[2]["cluster"] is None and completions[2]["reward"] == 0.0
    assert completions[0]["cluster"] == completions[4]["cluster"] != completions[1]["cluster"]
    assert completions[0]["cluster_share"] == pytest.approx(2 / 4)  # 4 of the 5 completions have code
    assert add["shape"] == "stdin" and add["checks"] == 3
    assert add["completions"][1]["first_failure"]["input"] == "10 -4\n"
    assert add["completions"][0]["cpu_s"] is not None
    assert first["usage"] == {**first["usage"], "completions": 7, "runs": 5, "cached_runs": 0,
                              "budget_exceeded": False}

    again = ok(post(memory_service, body))
    assert again["rewards"] == first["rewards"] and again["statuses"] == first["statuses"]
    assert again["usage"]["runs"] == 0 and again["usage"]["cached_runs"] == 5
    assert all(c["cached"] for item in again["items"] for c in item["completions"] if c["cluster"] is not None)


def test_binary_and_agreement_rewards(memory_service) -> None:  # type: ignore[no-untyped-def]
    tag = f"# {uuid.uuid4().hex}\n"
    problem = "def top_two(xs):\n    \"\"\"The two largest numbers of xs, largest first.\"\"\"\n"
    item = {"problem": problem, "entry_point": "top_two", "inputs": ["[4, 4, 4, 1]", "[9, 2, 5]"],
            "completions": [fenced(RIGHT, tag), fenced(RIGHT, tag), fenced(SETS, tag), fenced(WRONG, tag),
                            "no code here"]}
    binary = ok(post(memory_service, {"items": [item], "reward": "binary"}))
    assert binary["rewards"] == [None, None, None, None, 0.0]  # no checks: nothing to pass, so no binary reward
    assert binary["items"][0]["reason"].startswith("no examples or tests to score against")
    assert binary["statuses"][:4] == ["ran"] * 4
    agreement = ok(post(memory_service, {"items": [item], "reward": "agreement", "agreement_weight": 1.0}))
    # RIGHT x2 agree; SETS differs on [4, 4, 4, 1]; WRONG differs everywhere: shares over the 4 with code
    assert agreement["rewards"] == [0.5, 0.5, 0.25, 0.25, 0.0]

    with_tests = {**item, "tests": ["assert top_two([3, 1, 2]) == [3, 2]"]}
    scored = ok(post(memory_service, {"items": [with_tests], "reward": "binary"}))
    assert scored["rewards"] == [1.0, 1.0, 1.0, 0.0, 0.0]


def test_the_judge_reward_adds_the_tournament(memory_service) -> None:  # type: ignore[no-untyped-def]
    tag = f"# {uuid.uuid4().hex}\n"
    item = {"problem": TOP_TWO_PROBLEM, "inputs": ["[4, 4, 4, 1]"],
            "completions": [fenced(RIGHT, tag), fenced(SETS, tag), fenced(WRONG, tag)]}
    result = ok(post(memory_service, {"items": [item], "reward": "judge"}))
    completions = result["items"][0]["completions"]
    assert result["usage"]["judge_calls"] == 2  # RIGHT and SETS both pass the examples: one match, two orders
    right, sets, wrong = (c["judge_score"] for c in completions)
    assert right + sets == pytest.approx(1.0, abs=1e-5) and wrong == 0.0
    assert result["rewards"] == [pytest.approx(1 + right, abs=1e-5), pytest.approx(1 + sets, abs=1e-5), 0.0]


def test_bad_batches_get_a_422_naming_the_field(memory_service) -> None:  # type: ignore[no-untyped-def]
    good = {"problem": ADD_PROBLEM, "shape": "stdin", "tests": ADD_TESTS, "completions": [fenced(ADD_RIGHT)]}
    cases = [
        ({"items": [good, {**good, "completions": ["x", "y" * 60_000]}]}, "items[1].completions[1]"),
        ({"items": [{**good, "tests": ["assert (("]}]}, "items[0].tests[0]"),
        ({"items": [good], "budget_s": 10_000}, "budget_s"),
        ({"items": [{**good, "completions": []}]}, "items[0].completions"),
        ({"items": [{**good, "tests": [{"stdin": "1", "expected": 2}]}]}, "items[0].tests[0]"),
        ({"items": []}, "items"),
    ]
    for body, param in cases:
        response = post(memory_service, body)
        assert response.status_code == 422, (param, response.text)
        error = response.json()["error"]
        assert error["param"] == param and param in error["message"], error


def test_openrlhf_requests_of_one_window_are_one_batch(memory_service) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    tag = f"# {uuid.uuid4().hex}\n"
    prompt = "<|user|>Solve: " + ADD_PROBLEM + "<|assistant|>"
    label = {"problem": ADD_PROBLEM, "shape": "stdin", "tests": ADD_TESTS}
    responses = [fenced(ADD_RIGHT, tag), fenced(ADD_HALF, tag), "no idea", fenced(ADD_RIGHT, tag)]

    def batches() -> float:
        text = httpx.get(f"{memory_service.url}/metrics", timeout=10).text
        prefix = 'daj_reward_batches_total{reward="agreement"}'
        line = next((row for row in text.splitlines() if row.startswith(prefix)), None)
        return float(line.split()[-1]) if line else 0.0

    async def one(client: httpx.AsyncClient, text: str) -> dict:  # type: ignore[type-arg]
        import json

        body = {"query": [prompt + text], "prompts": [prompt], "labels": [json.dumps(label)]}
        response = await client.post(f"{memory_service.url}/rewards/openrlhf", json=body,
                                     params={"reward": "agreement"}, timeout=120)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def all_at_once() -> list[dict]:  # type: ignore[type-arg]
        async with httpx.AsyncClient() as client:
            return await asyncio.gather(*(one(client, text) for text in responses))

    before = batches()
    answers = asyncio.run(all_at_once())
    assert batches() == before + 1  # four requests, one batch
    rewards = [answer["rewards"][0] for answer in answers]
    # right x2 agree (share 2/3 of the 3 with code), the half-right one alone (1/3), no code 0
    assert rewards == [pytest.approx(1 + 2 / 3, abs=1e-5), pytest.approx(2 / 3 + 1 / 3, abs=1e-5), 0.0,
                       pytest.approx(1 + 2 / 3, abs=1e-5)]
    assert answers[0]["scores"] == answers[0]["rewards"]
    assert [answer["extra_logs"]["daj_passed"][0] for answer in answers] == [1.0, 0.0, 0.0, 1.0]

    bad = httpx.post(f"{memory_service.url}/rewards/openrlhf", json={"query": ["x"], "labels": ["{not json"]},
                     timeout=30)
    assert bad.status_code == 422 and bad.json()["error"]["param"] == "labels[0]"


def test_rollouts_that_break_the_plan_cost_their_item_only(memory_service) -> None:  # type: ignore[no-untyped-def]
    tag = f"# {uuid.uuid4().hex}\n"
    add = "def add(a, b):\n    return a + b\n"
    misnamed = {"problem": "Add two numbers.", "tests": ["assert add(1, 2) == 3", "assert add(0, 5) == 5"],
                "completions": [fenced(add, tag), fenced(add.replace("a + b", "b + a"), tag),
                                fenced("def plus(a, b):\n    return a + b\n", tag)]}
    scripted = {"problem": "Add two numbers.", "tests": [{"args": [1, 2], "expected": 3}],
                "completions": [fenced(ADD_RIGHT, tag)]}  # a script, for tests that call a function
    result = ok(post(memory_service, {"items": [misnamed, scripted]}))
    named, unfit = result["items"]
    # the rollouts disagree on the function's name; the tests name it, and the odd one out simply fails
    assert named["entry_point"] == "add" and result["rewards"][:3] == [1.0, 1.0, 0.0]
    assert unfit["status"] == "skipped" and "do not fit" in unfit["reason"]
    assert result["rewards"][3] is None and result["statuses"][3] == "not_scored"
    refused = post(memory_service, {"items": [{**scripted, "shape": "stdin"}]})  # said by the caller: a 422
    assert refused.status_code == 422 and refused.json()["error"]["param"] == "items[0].tests[0]"
