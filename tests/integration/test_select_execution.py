"""Execution-grounded /select end to end: real HTTP, real vLLM (tiny model), the real sandbox."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from daj.testing.programs import RIGHT, RIGHT_TOO, SETS, TOP_TWO_PROBLEM, WRONG

pytestmark = [pytest.mark.engine]

PROBLEM = TOP_TWO_PROBLEM


def select(service, **body) -> httpx.Response:  # type: ignore[no-untyped-def]
    body.setdefault("problem", PROBLEM)
    return httpx.post(f"{service.url}/select", json=body, timeout=120)


def ok(response: httpx.Response) -> dict:  # type: ignore[type-arg]
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_candidates_are_grouped_clustered_and_only_disagreements_are_judged(memory_service) -> None:  # type: ignore[no-untyped-def]
    tag = f"# {uuid.uuid4().hex}\n"
    candidates = [WRONG + tag, RIGHT + tag, SETS + tag, RIGHT_TOO + tag]
    result = ok(select(memory_service, candidates=candidates, inputs=["[4, 4, 4, 1]"]))
    execution = result["execution"]
    assert execution["status"] == "ran" and execution["entry_point"] == "top_two"
    assert execution["probes"]["examples"] == 2 and execution["probes"]["inputs"] >= 1
    assert execution["runs"] + execution["cached_runs"] == 4
    by_index = {r["index"]: r for r in result["ranking"]}
    assert by_index[0]["execution"]["examples_passed"] == 0 and by_index[0]["execution"]["examples_total"] == 2
    failure = by_index[0]["execution"]["first_failure"]
    assert failure == {"input": "top_two([1, 5, 3])", "expected": "[5, 3]", "actual": "[1, 3]"}
    assert by_index[1]["cluster"] == by_index[3]["cluster"] != by_index[2]["cluster"]  # SETS differs on [4, 4, 4, 1]
    assert by_index[1]["execution"]["first_failure"] is None
    top = [c for c in execution["clusters"] if c["top_group"]]
    assert sorted(len(c["members"]) for c in top) == [1, 2]
    assert result["usage"]["judge_calls"] == 2  # one match between the two top clusters, both orders
    assert len(result["results"]) == 1
    assert result["judge"]["prompt_version"] == "daj-pairwise-v1" and result["results"][0]["evidence"] == 0
    assert result["winner"]["index"] in (1, 2) and not result["no_candidate_passes"]
    assert result["winner"]["reason"].startswith("passes 2/2 examples and tests; beat cluster")
    assert by_index[0]["rank"] > max(by_index[1]["rank"], by_index[2]["rank"])


@pytest.fixture(scope="module")
def v2_service(loop_thread, tiny_engine, base_settings):  # type: ignore[no-untyped-def]
    from service.testing import start_service

    service = start_service(loop_thread, base_settings.model_copy(update={"prompt_version": "daj-pairwise-v2"}),
                            tiny_engine)
    yield service
    service.stop()


def test_prompt_v2_shows_the_judge_where_the_clusters_disagree(memory_service, v2_service) -> None:  # type: ignore[no-untyped-def]
    candidates = [RIGHT + f"# {uuid.uuid4().hex}\n", SETS]
    with_evidence = ok(select(v2_service, candidates=candidates, inputs=["[4, 4, 4, 1]"]))
    without = ok(select(memory_service, candidates=candidates, inputs=["[4, 4, 4, 1]"]))
    assert with_evidence["judge"]["prompt_version"] == "daj-pairwise-v2"
    assert with_evidence["results"][0]["evidence"] >= 1 and without["results"][0]["evidence"] == 0
    assert with_evidence["usage"]["prompt_tokens"] > without["usage"]["prompt_tokens"]
    assert with_evidence["usage"]["judge_calls"] == 2  # a v2 verdict is not the cached v1 verdict


@pytest.fixture(scope="module")
def versioned_service(loop_thread, tiny_engine, base_settings, tiny_lora_dir, tmp_path_factory):  # type: ignore[no-untyped-def]
    """A service (setting: v1) whose adapters name their own prompt versions in daj_adapter.json."""
    import shutil

    from service.testing import start_service

    folder = tmp_path_factory.mktemp("versioned-adapters")
    for name, version in {"judge-v1": "daj-pairwise-v1", "judge-v2": "daj-pairwise-v2",
                          "judge-v9": "daj-pairwise-v9", "plain": None}.items():
        shutil.copytree(tiny_lora_dir, folder / name)
        (folder / name / "daj_adapter.json").unlink(missing_ok=True)
        if version is not None:
            (folder / name / "daj_adapter.json").write_text(json.dumps({"prompt_version": version}))
    service = start_service(loop_thread, base_settings.model_copy(update={"adapters_dir": folder}), tiny_engine)
    yield service
    service.stop()


def test_each_adapter_is_judged_with_the_prompt_it_was_trained_on(versioned_service) -> None:  # type: ignore[no-untyped-def]
    candidates = [RIGHT + f"# {uuid.uuid4().hex}\n", SETS]
    results = {name: ok(select(versioned_service, candidates=candidates, inputs=["[4, 4, 4, 1]"], adapter=name))
               for name in ("judge-v1", "judge-v2", "plain")}
    assert {name: r["judge"]["prompt_version"] for name, r in results.items()} == {
        "judge-v1": "daj-pairwise-v1", "judge-v2": "daj-pairwise-v2", "plain": "daj-pairwise-v1"}  # plain: setting
    assert results["judge-v2"]["results"][0]["evidence"] >= 1 and results["judge-v1"]["results"][0]["evidence"] == 0
    refused = select(versioned_service, candidates=candidates, adapter="judge-v9")
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "adapter_invalid" and error["param"] == "adapter"
    assert "'daj-pairwise-v9'" in error["message"] and "daj-pairwise-v2" in error["message"]


def test_nothing_passing_is_flagged(memory_service) -> None:  # type: ignore[no-untyped-def]
    result = ok(select(memory_service, candidates=[WRONG, "def top_two(xs):\n    return xs\n"]))
    assert result["no_candidate_passes"] is True
    assert all(r["execution"]["first_failure"] is not None for r in result["ranking"])


def test_one_behaviour_needs_no_judge(memory_service) -> None:  # type: ignore[no-untyped-def]
    result = ok(select(memory_service, candidates=[RIGHT, RIGHT_TOO], execution="required"))
    assert result["usage"]["judge_calls"] == 0 and result["results"] == []
    assert result["winner"]["index"] == 0 and "only behaviour cluster passing 2/2" in result["winner"]["reason"]


def test_caller_tests_count_like_examples(memory_service) -> None:  # type: ignore[no-untyped-def]
    tests = ["assert top_two([7, 7, 7, 7]) == [7, 7]", "assert len(top_two([1, 2, 3])) == 2"]
    result = ok(select(memory_service, candidates=[RIGHT, RIGHT_TOO, SETS], tests=tests))
    by_index = {r["index"]: r["execution"] for r in result["ranking"]}
    assert by_index[0]["tests_total"] == 2 and by_index[0]["tests_passed"] == 2
    assert by_index[2]["tests_passed"] == 1
    assert by_index[2]["first_failure"] == {"input": "top_two([7, 7, 7, 7])", "expected": "[7, 7]", "actual": "[7]"}
    assert result["winner"]["index"] == 0 and result["usage"]["judge_calls"] == 0


def test_execution_off_is_the_judge_alone(memory_service) -> None:  # type: ignore[no-untyped-def]
    result = ok(select(memory_service, candidates=[WRONG, RIGHT, SETS], execution="off"))
    assert result["execution"] == {**result["execution"], "status": "off", "clusters": []}
    assert result["usage"]["judge_calls"] + result["usage"]["cache_hits"] == 4
    assert all(r["execution"] is None and r["cluster"] is None for r in result["ranking"])


def test_auto_without_anything_to_run_falls_back_and_says_why(memory_service) -> None:  # type: ignore[no-untyped-def]
    result = ok(select(memory_service, problem="def f(a, b):\n    pass\n", candidates=["def f(a, b): return a",
                                                                                    "def f(a, b): return b"]))
    assert result["execution"]["status"] == "skipped" and "nothing to run" in result["execution"]["reason"]



def test_candidates_that_all_crash_leave_the_choice_to_the_judge(memory_service) -> None:  # type: ignore[no-untyped-def]
    tag = uuid.uuid4().hex
    crashing = [f"def top_two(xs):\n    raise ValueError({tag!r})\n", f"def top_two(xs):\n    return xs[{tag!r}]\n"]
    result = ok(select(memory_service, candidates=crashing, execution="required"))
    report = result["execution"]
    assert report["status"] == "skipped" and "nothing to tell apart" in report["reason"]
    assert report["runs"] + report["cached_runs"] == 2 and report["probes"]["examples"] == 2  # they did run
    assert result["usage"]["judge_calls"] == 2 and result["results"][0]["decided_by"] != "consensus"
    assert all(r["execution"] is None and r["cluster"] is None for r in result["ranking"])


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"problem": "Sum two numbers.", "candidates": ["x = 1", "y = 2"], "execution": "required"}, "entry_point"),
        ({"inputs": ["[1, 2], import os"]}, "inputs[0]"),
        ({"tests": ["assert top_two([1]) ==", "assert True"]}, "tests[0]"),
        ({"execution_budget_s": 10_000}, "execution_budget_s"),
        ({"tests": ["assert True"] * 1000}, "tests"),
        ({"entry_point": "not a name"}, "entry_point"),
        ({"execution": "sometimes"}, "execution"),
    ],
)
def test_bad_execution_fields_are_named(memory_service, body, param) -> None:  # type: ignore[no-untyped-def]
    response = select(memory_service, **({"candidates": [RIGHT, WRONG]} | body))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == param


def test_stream_sends_execution_and_clusters_before_the_rounds(memory_service) -> None:  # type: ignore[no-untyped-def]
    body = {"problem": PROBLEM, "candidates": [RIGHT, SETS, WRONG, f"{RIGHT}# {uuid.uuid4().hex}\n"],
            "stream": True}
    with httpx.stream("POST", f"{memory_service.url}/select", json=body, timeout=120) as response:
        events = []
        for line in response.iter_lines():
            if line.startswith("event: "):
                events.append(line[len("event: "):])
            elif line.startswith("data: ") and events[-1] == "clusters":
                clusters = json.loads(line[len("data: "):])
    assert events[:3] == ["start", "execution", "clusters"] and events[-1] == "result"
    assert events.index("clusters") < events.index("match_start")
    assert sorted(clusters["players"]) == [0, 1]


def test_ready_and_metrics_report_the_sandbox(memory_service) -> None:  # type: ignore[no-untyped-def]
    ok(select(memory_service, candidates=[RIGHT, f"{WRONG}# {uuid.uuid4().hex}\n"]))
    assert httpx.get(f"{memory_service.url}/ready", timeout=10).json()["sandbox"] == "ok"
    text = httpx.get(f"{memory_service.url}/metrics", timeout=10).text
    assert "daj_sandbox_ready 1.0" in text
    assert 'daj_sandbox_runs_total{status="failed"}' in text
    assert 'daj_selection_path_total{path="execution"}' in text
