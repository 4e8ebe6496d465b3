"""The SDK against the real service: `python -m daj_cli serve` as a subprocess, real vLLM on the tiny model."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import daj_client
import pytest
from daj_client import (
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    Client,
    MatchStartEvent,
    ReasoningEvent,
    ResultEvent,
    RoundEndEvent,
    StartEvent,
    VerdictEvent,
)

from daj.testing.redis_server import free_port

pytestmark = pytest.mark.engine

API_KEY = "sdk-e2e-key"
PROBLEM = 'def add(a: int, b: int) -> int:\n    """Return the sum of a and b."""\n'
CODES = [
    "def add(a, b):\n    return a + b\n",
    "def add(a, b):\n    return a - b\n",
    "def add(a, b):\n    return sum([a, b])\n",
]


@pytest.fixture(scope="module")
def service_url(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("sdk-e2e") / "serve.log"
    env = {
        **os.environ,
        "DAJ_MODEL": str(tiny_model_dir),
        "DAJ_DEFAULT_ADAPTER": "",  # the committed default judge is a SmolLM2 adapter, not for the tiny model
        "DAJ_PORT": str(port),
        "DAJ_API_KEYS": API_KEY,
        "DAJ_LOG_LEVEL": "warning",
    }
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "daj_cli", "serve"], env=env, stdout=log, stderr=log)
        url = f"http://127.0.0.1:{port}"
        try:
            with Client(url, API_KEY) as client:
                try:
                    client.wait_until_ready(timeout_s=300)
                except daj_client.APIError:
                    pytest.fail(f"service not ready:\n{log_path.read_text()[-3000:]}")
            yield url
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)


@pytest.fixture
def client(service_url: str) -> Iterator[Client]:
    with Client(service_url, API_KEY, timeout=120) as sdk:
        yield sdk


def test_select_returns_a_full_typed_ranking(client: Client) -> None:
    response = client.select(PROBLEM, CODES, strategy="round_robin", execution="off")  # the judge plays every pair
    assert client.health() == {"status": "ok"} and client.ready()
    assert 0 <= response.winner.index < len(CODES) and response.winner.id == str(response.winner.index)
    assert sorted(r.index for r in response.ranking) == [0, 1, 2]
    assert response.ranking[0].index == response.winner.index and response.ranking[0].rank == 1
    assert len(response.results) == 3  # round robin over 3: every pair once
    assert len(response.matches) == 6  # both orders
    assert response.strategy == "round_robin" and response.mode == "verdict"
    assert response.usage.judge_calls + response.usage.cache_hits == len(response.matches)

    assert response.execution.status == "off" and all(r.cluster is None for r in response.ranking)


def test_select_reports_execution_typed(client: Client) -> None:
    tests = ["assert add(2, 3) == 5"]
    response = client.select(PROBLEM, CODES, tests=tests, inputs=["(1, -1)"], execution="required")
    report = response.execution
    assert report.status == "ran" and report.entry_point == "add" and report.probes is not None
    assert report.probes.tests == 1 and report.runs + report.cached_runs == 3
    by_index = {r.index: r for r in response.ranking}
    assert by_index[0].cluster == by_index[2].cluster != by_index[1].cluster  # a + b and sum([a, b]) agree
    assert by_index[1].execution is not None and by_index[1].execution.tests_passed == 0
    assert by_index[1].execution.first_failure is not None and by_index[1].execution.first_failure.actual == "-1"
    assert response.winner.index in (0, 2) and response.usage.judge_calls == 0  # one cluster passes: no judge


def test_best_of_returns_the_code_select_picks(client: Client) -> None:
    response = client.select(PROBLEM, CODES)
    assert client.best_of(PROBLEM, CODES) == CODES[response.winner.index]
    with_ids = [{"id": f"sample-{i}", "code": code} for i, code in enumerate(CODES)]
    assert client.best_of(PROBLEM, with_ids) == CODES[response.winner.index]


def test_module_level_best_of_reads_the_environment(service_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAJ_BASE_URL", service_url)
    monkeypatch.setenv("DAJ_API_KEY", API_KEY)
    monkeypatch.setattr(daj_client, "_default_client", None)
    try:
        assert daj_client.best_of(PROBLEM, CODES) in CODES
    finally:
        daj_client.default_client().close()


def test_async_client_selects(service_url: str) -> None:
    async def run() -> tuple[daj_client.SelectResponse, str]:
        async with AsyncClient(service_url, API_KEY, timeout=120) as sdk:
            return await sdk.select(PROBLEM, CODES, orders="single"), await sdk.best_of(PROBLEM, CODES[:2])

    response, code = asyncio.run(run())
    assert len(response.matches) == len({tuple(m.pair) for m in response.matches})  # single order: one per pair
    assert code in CODES[:2]


def test_streaming_events_arrive_in_protocol_order(client: Client) -> None:
    with client.select(PROBLEM, CODES, stream=True, mode="reasoning", max_reasoning_tokens=16) as stream:
        events = list(stream)
    assert isinstance(events[0], StartEvent) and events[0].candidates == 3
    assert isinstance(events[-1], ResultEvent) and stream.request_id
    assert any(isinstance(e, ReasoningEvent) and e.delta for e in events)
    verdicts = [e for e in events if isinstance(e, VerdictEvent)]
    assert len(verdicts) == len(events[-1].matches) and {v.verdict for v in verdicts} <= {"A", "B", "unparseable"}
    rounds = [e.round for e in events if isinstance(e, RoundEndEvent)]
    assert rounds == sorted(rounds) and rounds
    for event in events[1:-1]:  # a round's events all come before its round_end
        if isinstance(event, MatchStartEvent | VerdictEvent | ReasoningEvent):
            assert event.round in rounds


def test_async_stream_and_breaking_out_leave_the_service_healthy(service_url: str) -> None:
    async def run() -> list[daj_client.Event]:
        async with AsyncClient(service_url, API_KEY, timeout=120) as sdk:
            async with await sdk.select(PROBLEM, CODES, stream=True, mode="reasoning") as stream:
                async for event in stream:
                    if isinstance(event, MatchStartEvent):
                        break
            async with await sdk.select(PROBLEM, CODES, stream=True) as stream:
                return [event async for event in stream]

    events = asyncio.run(run())
    assert isinstance(events[0], StartEvent) and isinstance(events[-1], ResultEvent)


def test_one_candidate_is_a_bad_request_naming_the_field(client: Client) -> None:
    with pytest.raises(BadRequestError) as caught:
        client.select(PROBLEM, CODES[:1])
    error = caught.value
    assert error.status_code == 422 and error.param == "candidates" and error.type == "invalid_request_error"
    assert error.request_id


def test_a_wrong_key_is_an_authentication_error(service_url: str) -> None:
    with Client(service_url, "not-the-key") as sdk, pytest.raises(AuthenticationError) as caught:
        sdk.select(PROBLEM, CODES)
    assert caught.value.status_code == 401


def test_the_cli_against_the_service(service_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from daj_client import cli

    problem = tmp_path / "problem.txt"
    problem.write_text(PROBLEM)
    files = []
    for i, code in enumerate(CODES):
        files.append(tmp_path / f"cand{i}.py")
        files[-1].write_text(code)
    argv = ["select", "--problem", str(problem), *map(str, files), "--url", service_url, "--api-key", API_KEY]
    assert cli.main([*argv, "--stream"]) == 0
    out = capsys.readouterr()
    name, code = out.out.split("\n", 1)
    assert name.startswith("winner: ") and code == Path(name.removeprefix("winner: ")).read_text()
    assert " verdict " in out.err


def test_rewards_and_the_trainer_adapters_against_the_service(client: Client, service_url: str) -> None:
    """The SDK's rewards() and the TRL and verl adapters, each against the live service: the same completions get
    the same rewards however they are sent."""
    import asyncio
    import uuid

    from daj_client.rewards import async_trl_reward, compute_score_batch, trl_reward

    tag = f"# {uuid.uuid4().hex}\n"
    right, wrong = f"```python\n{tag}{CODES[0]}```", f"```python\n{tag}{CODES[1]}```"
    tests = ["assert add(2, 3) == 5", "assert add(0, 0) == 0"]
    scored = client.rewards([{"problem": PROBLEM, "tests": tests, "completions": [right, wrong, "no idea"]}])
    assert scored.rewards == [1.0, 0.5, 0.0] and [s.value for s in scored.statuses] == ["passed", "failed", "no_code"]

    columns = {"problem": [PROBLEM] * 3, "tests": [tests] * 3}
    prompts = [[{"role": "user", "content": PROBLEM}]] * 3
    completions = [[{"role": "assistant", "content": text}] for text in (right, wrong, "no idea")]
    logged: dict[str, list[object]] = {}
    reward = trl_reward(service_url, api_key=API_KEY)
    assert reward(prompts, completions, log_extra=lambda column, values: logged.setdefault(column, values),
                  **columns) == [1.0, 0.5, 0.0]
    assert logged["daj_pass_rate_status"] == ["passed", "failed", "no_code"]
    async_reward = async_trl_reward(service_url, api_key=API_KEY, reward="binary")
    assert asyncio.run(async_reward(prompts, completions, **columns)) == [1.0, 0.0, 0.0]

    truth = {"tests": tests}
    results = compute_score_batch(["mbpp"] * 2, [right, wrong], [truth, truth],
                                  [{"problem": PROBLEM, "daj_url": service_url}] * 2, api_key=API_KEY)
    assert [(r["score"], r["status"]) for r in results] == [(1.0, "passed"), (0.5, "failed")]
