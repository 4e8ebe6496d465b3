"""Client.select / best_of against a scripted server: request bodies, typed responses, configuration."""

from __future__ import annotations

import json

import daj_client
import httpx
import pytest
from _daj_fakes import FAILURE, SEVERAL_ANSWERS_NOTE, STDIN_FAILURE, Script, knockout_response, select_reply
from daj_client import CallerInput, CallerTest, Candidate, Client, ExecutionMode, ProgramShape, SelectResponse
from daj_client._base import DEFAULT_BASE_URL
from pydantic import ValidationError

CODES = ["def f(x):\n    return x\n", "def f(x):\n    return x + 1\n", "def f(x):\n    return abs(x)\n"]


def make_client(script: Script, **kwargs: object) -> Client:
    http = httpx.Client(transport=httpx.MockTransport(script))
    return Client(http_client=http, **kwargs)  # type: ignore[arg-type]


def test_select_returns_a_typed_response_and_sends_only_the_options_set() -> None:
    script = Script([select_reply(winner=2)])
    response = make_client(script, base_url="http://judge:9000/").select("add one", CODES, strategy="round_robin")
    assert isinstance(response, SelectResponse)
    assert response.winner.index == 2 and response.ranking[0].rank == 1
    request = script.requests[0]
    assert request.method == "POST" and str(request.url) == "http://judge:9000/v1/select"
    assert json.loads(request.content) == {"problem": "add one", "candidates": CODES, "strategy": "round_robin"}


def test_execution_options_go_into_the_json_body() -> None:
    script = Script([select_reply(winner=1)])
    tests = ["assert f(2) == 3", "assert f(-1) == 0"]
    make_client(script).select(
        "add one",
        CODES,
        execution="required",
        tests=tests,
        inputs=["0", "10**6"],
        entry_point="f",
        execution_budget_s=2.5,
    )
    assert script.bodies[0] == {
        "problem": "add one",
        "candidates": CODES,
        "execution": "required",
        "entry_point": "f",
        "tests": tests,
        "inputs": ["0", "10**6"],
        "execution_budget_s": 2.5,
    }


def test_execution_options_left_unset_or_none_are_not_sent() -> None:
    script = Script([select_reply(winner=0), select_reply(winner=0)])
    client = make_client(script)
    client.select("p", CODES, entry_point=None, execution_budget_s=None)
    client.select("p", CODES, execution=ExecutionMode.OFF)
    assert script.bodies == [
        {"problem": "p", "candidates": CODES},
        {"problem": "p", "candidates": CODES, "execution": "off"},
    ]


STDIN_PROGRAMS = ["a, b = map(int, input().split())\nprint(a + b)\n", "print(sum(map(int, input().split())))\n"]


def test_shape_time_limit_and_tests_and_inputs_as_data_go_into_the_json_body() -> None:
    script = Script([select_reply(winner=0)])
    make_client(script).select(
        "Sample Input 1\n\n1 2\n\nSample Output 1\n\n3\n",
        STDIN_PROGRAMS,
        shape="stdin",
        time_limit_s=1.5,
        tests=[{"stdin": "2 2\n", "stdout": "4\n"}, CallerTest(stdin="0 0\n", stdout="0\n")],
        inputs=["10 20\n", {"stdin": "-1 1\n"}, CallerInput(stdin="5 5\n")],
    )
    assert script.bodies[0] == {
        "problem": "Sample Input 1\n\n1 2\n\nSample Output 1\n\n3\n",
        "candidates": STDIN_PROGRAMS,
        "shape": "stdin",
        "tests": [{"stdin": "2 2\n", "stdout": "4\n"}, {"stdin": "0 0\n", "stdout": "0\n"}],
        "inputs": ["10 20\n", {"stdin": "-1 1\n"}, {"stdin": "5 5\n"}],
        "time_limit_s": 1.5,
    }


def test_args_tests_send_json_values_and_an_expected_null_only_when_given() -> None:
    script = Script([select_reply(winner=1)])
    solutions = ["class Solution:\n    def f(self, a): return None\n", "class Solution:\n    def f(self, a): pass\n"]
    tests = [
        {"args": [[2, 7, 11, 15], 9], "expected": [0, 1]},
        {"args": [{"k": True}], "expected": None},  # must return None: `expected` is sent
        CallerTest(args=[[]]),  # no `expected`: sent without it (the server then names tests[2])
        "assert Solution().f(1) is None",
        {"stdin": "[1, 2]\n3\n", "stdout": "[0]"},  # LiveCodeBench's functional format
    ]
    make_client(script).select("p", solutions, shape=ProgramShape.METHOD, tests=tests, inputs=[{"args": [1.5, None]}])
    body = script.bodies[0]
    assert body["shape"] == "method"
    assert body["tests"] == [
        {"args": [[2, 7, 11, 15], 9], "expected": [0, 1]},
        {"args": [{"k": True}], "expected": None},
        {"args": [[]]},
        "assert Solution().f(1) is None",
        {"stdin": "[1, 2]\n3\n", "stdout": "[0]"},
    ]
    assert body["inputs"] == [{"args": [1.5, None]}]


@pytest.mark.parametrize(
    ("field", "item"),
    [
        ("tests", {"stdin": "1\n", "expected": 1}),  # `expected` goes with `args`
        ("tests", {"args": [1], "stdout": "1\n"}),  # `stdout` goes with `stdin`
        ("tests", {"stdin": "1\n", "args": [1]}),  # both forms
        ("tests", {}),  # neither
        ("tests", {"stdin": "1\n", "stdout": "1\n", "checker": "x"}),  # unknown key
        ("tests", 3),
        ("inputs", {"stdin": "1\n", "args": [1]}),
        ("inputs", {"stdout": "1\n"}),
        ("inputs", {"args": "1, 2"}),  # args is a list of JSON values
    ],
)
def test_malformed_tests_and_inputs_fail_before_any_request(field: str, item: object) -> None:
    script = Script([select_reply(winner=0)])
    with pytest.raises(ValidationError):
        make_client(script).select("p", CODES, **{field: ["assert f(1) == 2" if field == "tests" else "1", item]})
    assert script.requests == []


def test_an_unknown_shape_fails_before_any_request() -> None:
    script = Script([select_reply(winner=0)])
    with pytest.raises(ValidationError):
        make_client(script).select("p", CODES, shape="class")
    assert script.requests == []


def test_limits_are_left_to_the_server() -> None:
    """`time_limit_s` over 30 or not positive is the server's 422 to give, like every other limit."""
    script = Script([select_reply(winner=0)])
    make_client(script).select("p", CODES, time_limit_s=60.0)
    assert script.bodies[0]["time_limit_s"] == 60.0


def test_a_stdin_selection_parses_shape_time_limit_notes_and_cpu_times() -> None:
    body = knockout_response(STDIN_PROGRAMS, winner=1, executed=True, passes=False, shape="stdin")
    response = make_client(Script([lambda _: httpx.Response(200, json=body)])).select("p", STDIN_PROGRAMS)
    execution = response.execution
    assert execution.shape == "stdin" and execution.entry_point is None and execution.time_limit_s == 2.0
    assert execution.notes == [SEVERAL_ANSWERS_NOTE]
    by_index = {r.index: r.execution for r in response.ranking}
    assert by_index[0] is not None and by_index[1] is not None
    assert (by_index[0].cpu_s, by_index[0].timeouts, by_index[0].status) == (2.0, 1, "timeout")
    assert by_index[1].first_failure is not None
    assert by_index[1].first_failure.model_dump() == STDIN_FAILURE.model_dump()


def test_a_response_without_the_new_fields_takes_their_defaults() -> None:
    """An older server sends no shape, time limit, notes, CPU times or timeouts."""
    body = knockout_response(CODES, winner=0, executed=True)
    for key in ("shape", "time_limit_s", "notes", "generator"):
        body["execution"].pop(key, None)
    for ranked in body["ranking"]:
        del ranked["execution"]["cpu_s"], ranked["execution"]["timeouts"]
    response = make_client(Script([lambda _: httpx.Response(200, json=body)])).select("p", CODES)
    assert response.execution.shape is None and response.execution.time_limit_s is None
    assert response.execution.notes == []
    assert all(
        r.execution is not None and (r.execution.cpu_s, r.execution.timeouts) == (None, 0) for r in response.ranking
    )


def test_an_executed_selection_parses_into_typed_fields() -> None:
    body = knockout_response(CODES, winner=2, executed=True, passes=False)
    response = make_client(Script([lambda _: httpx.Response(200, json=body)])).select("p", CODES, tests=["assert 0"])
    assert response.no_candidate_passes is True and response.winner.reason.startswith("passes 0/2 checks")
    assert response.execution.status == "ran" and response.execution.entry_point == "f"
    assert response.execution.probes is not None and response.execution.probes.dropped_inputs == 1
    assert [c.members for c in response.execution.clusters] == [[0], [1], [2]]
    top = response.ranking[0]
    assert top.index == 2 and top.cluster == 2
    assert top.execution is not None and top.execution.first_failure is not None
    assert top.execution.first_failure.model_dump() == FAILURE.model_dump()
    assert response.results[0].decided_by == "judge" and response.results[0].evidence == 2


def test_a_judge_only_selection_says_why_execution_did_not_run() -> None:
    response = make_client(Script([select_reply(winner=0)])).select("p", CODES, execution="off")
    assert response.execution.status == "off" and response.execution.reason
    assert response.no_candidate_passes is False and response.winner.reason
    assert all(r.execution is None and r.cluster is None for r in response.ranking)


def test_candidates_may_be_strings_dicts_or_models() -> None:
    script = Script([select_reply(winner=1)])
    mixed = [CODES[0], {"id": "b", "code": CODES[1]}, Candidate(id="c", code=CODES[2])]
    make_client(script).select("p", mixed)
    assert script.bodies[0]["candidates"] == [CODES[0], {"id": "b", "code": CODES[1]}, {"id": "c", "code": CODES[2]}]


def test_bad_candidates_and_unknown_options_fail_before_any_request() -> None:
    script = Script([select_reply(winner=0)])
    client = make_client(script)
    with pytest.raises(ValidationError):
        client.select("p", [{"id": "a", "code": "x", "lang": "py"}, "y"])
    with pytest.raises(TypeError, match="candidate"):
        client.select("p", [b"bytes", "y"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="unknown select option"):
        client.select("p", CODES, strategyy="knockout")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        client.select("p", CODES, strategy="swiss")
    with pytest.raises(ValidationError):
        client.select("p", CODES, execution="sometimes")
    with pytest.raises(ValidationError):
        client.select("p", CODES, tests="assert f(1) == 2")  # type: ignore[typeddict-item]
    assert script.requests == []


def test_best_of_returns_the_winning_code_for_every_candidate_form() -> None:
    for winner in range(3):
        client = make_client(Script([select_reply(winner=winner)]))
        assert client.best_of("p", CODES) == CODES[winner]
        dicts = [{"id": f"c{i}", "code": code} for i, code in enumerate(CODES)]
        client = make_client(Script([select_reply(winner=winner)]))
        assert client.best_of("p", dicts, mode="verdict") == CODES[winner]


def test_module_level_best_of_uses_one_default_client(monkeypatch: pytest.MonkeyPatch) -> None:
    script = Script([select_reply(winner=1)])
    client = make_client(script)
    monkeypatch.setattr(daj_client, "_default_client", client)
    assert daj_client.best_of("p", CODES) == CODES[1]
    assert daj_client.default_client() is client
    assert len(script.requests) == 1


def test_responses_tolerate_fields_a_newer_server_adds() -> None:
    body = knockout_response(CODES, winner=0)
    body["new_top_level"] = {"x": 1}
    body["usage"]["gpu_ms"] = 3.0
    body["ranking"][0]["elo"] = 1500
    client = make_client(Script([lambda _: httpx.Response(200, json=body)]))
    response = client.select("p", CODES)
    assert response.usage.gpu_ms == 3.0  # type: ignore[attr-defined]
    assert response.model_extra == {"new_top_level": {"x": 1}}


def test_a_2xx_that_is_not_a_selection_is_a_response_validation_error() -> None:
    client = make_client(Script([lambda _: httpx.Response(200, json={"winner": "nobody"})]))
    with pytest.raises(daj_client.APIResponseValidationError):
        client.select("p", CODES)


@pytest.mark.parametrize("use_env", [True, False])
def test_base_url_and_api_key_from_arguments_or_environment(monkeypatch: pytest.MonkeyPatch, use_env: bool) -> None:
    monkeypatch.setenv("DAJ_BASE_URL", "http://env-host:1234")
    monkeypatch.setenv("DAJ_API_KEY", "env-key")
    script = Script([select_reply(winner=0)])
    client = make_client(script) if use_env else make_client(script, base_url="http://arg:1", api_key="arg-key")
    client.select("p", CODES)
    request = script.requests[0]
    assert str(request.url) == ("http://env-host:1234/v1/select" if use_env else "http://arg:1/v1/select")
    assert request.headers["authorization"] == ("Bearer env-key" if use_env else "Bearer arg-key")
    assert request.headers["user-agent"] == f"daj-client/{daj_client.__version__}"


def test_defaults_without_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAJ_BASE_URL", raising=False)
    monkeypatch.delenv("DAJ_API_KEY", raising=False)
    script = Script([select_reply(winner=0)])
    client = make_client(script)
    client.select("p", CODES)
    assert client.base_url == DEFAULT_BASE_URL == "http://127.0.0.1:8000"
    assert "authorization" not in script.requests[0].headers
    assert client.timeout.read == 300.0 and client.max_retries == 2


def test_timeouts_are_configurable_per_client_and_per_call() -> None:
    seen: list[dict] = []

    def reply(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return select_reply(winner=0)(request)

    client = make_client(Script([reply]), timeout=42.0)
    client.select("p", CODES)
    client.select("p", CODES, timeout=httpx.Timeout(7.0))
    assert seen[0]["read"] == 42.0 and seen[0]["connect"] == 10.0
    assert seen[1]["read"] == 7.0


async def _async_select(script: Script) -> tuple[SelectResponse, str]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(script))
    async with daj_client.AsyncClient(http_client=http, api_key="k") as client:
        response = await client.select("p", CODES, votes=3)
        code = await client.best_of("p", CODES, tests=["assert f(1) == 2", {"args": [1], "expected": 2}])
        await client.select("p", CODES, shape="function", time_limit_s=0.25, inputs=[{"args": [0]}, "-1"])
        return response, code


def test_async_client_has_the_same_surface() -> None:
    import asyncio

    script = Script([select_reply(winner=2)])
    response, code = asyncio.run(_async_select(script))
    assert response.winner.index == 2 and code == CODES[2]
    assert script.bodies[0] == {"problem": "p", "candidates": CODES, "votes": 3}
    tests = ["assert f(1) == 2", {"args": [1], "expected": 2}]
    assert script.bodies[1] == {"problem": "p", "candidates": CODES, "tests": tests}
    assert script.bodies[2] == {
        "problem": "p",
        "candidates": CODES,
        "shape": "function",
        "inputs": [{"args": [0]}, "-1"],
        "time_limit_s": 0.25,
    }
    assert script.requests[0].headers["authorization"] == "Bearer k"
