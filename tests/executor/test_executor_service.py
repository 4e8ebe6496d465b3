"""`daj executor` as its own service: its API, and the selection service using several of them over HTTP
(DAJ_EXECUTOR_URLS): jobs spread over executors, a dead executor's jobs retried on another, `/ready` degraded
with one down, and with all down no candidate runs in the API process. Real processes, real HTTP, the real
sandbox, the tiny vLLM model."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from daj.testing.executors import ExecutorProcess
from daj.testing.programs import RIGHT, SETS, TOP_TWO_PROBLEM, WRONG
from sandbox import Limits, probes
from sandbox.wire import Job

pytestmark = [pytest.mark.engine]

TOKEN = "executor-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def job_body(program: str = "def f(x):\n    return x * 2\n") -> dict[str, Any]:
    spec = probes([{"kind": "check", "call": "f(21)", "expected": "42"}], "f", case_seconds=1.0)
    return {"jobs": [Job(program, spec, Limits()).to_dict()]}


@pytest.fixture(scope="module")
def executors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ExecutorProcess]]:
    folder = tmp_path_factory.mktemp("executors")
    started = [ExecutorProcess(folder / f"executor-{n}.log", token=TOKEN) for n in range(2)]
    yield started
    for executor in started:
        executor.kill()


def test_the_executor_api(executors: list[ExecutorProcess]) -> None:
    url = executors[0].url
    assert httpx.get(f"{url}/health", timeout=10).json() == {"status": "ok"}  # liveness needs no token
    ready = httpx.get(f"{url}/ready", headers=AUTH, timeout=30).json()
    assert ready["status"] == "ready" and ready["python"].startswith("3.") and ready["workers"] == 2
    assert ready["site_packages"] is False and ready["packages"] == []  # the standard library only, by default
    ran = httpx.post(f"{url}/v1/run", json=job_body(), headers=AUTH, timeout=60)
    assert ran.status_code == 200, ran.text
    result = ran.json()["results"][0]
    assert result["ok"] and result["result"]["status"] == "passed" and result["result"]["outputs"] == ["42"]
    refused = httpx.post(f"{url}/v1/run", json=job_body(), headers={"Authorization": "Bearer nope"}, timeout=10)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_token"
    malformed = httpx.post(f"{url}/v1/run", json={"jobs": [{"program": "x"}]}, headers=AUTH, timeout=10)
    assert malformed.status_code == 422 and malformed.json()["error"]["param"] == "jobs[0]"
    assert executors[0].runs() >= 1


@pytest.fixture(scope="module")
def remote_service(loop_thread, tiny_engine, base_settings, executors):  # type: ignore[no-untyped-def]
    from service.testing import start_service

    settings = base_settings.model_copy(update={"executor_urls": [e.url for e in executors],
                                                "executor_token": TOKEN, "executor_probe_s": 0.5})
    service = start_service(loop_thread, settings, tiny_engine)
    yield service
    service.stop()


def select(service: Any, execution: str = "required") -> httpx.Response:
    tag = f"# {uuid.uuid4().hex}\n"
    body = {"problem": TOP_TWO_PROBLEM, "candidates": [WRONG + tag, RIGHT + tag, SETS + tag, RIGHT + tag + "#\n"],
            "execution": execution}
    return httpx.post(f"{service.url}/select", json=body, timeout=120)


def test_selections_run_on_the_executors_and_survive_one_dying(remote_service: Any,
                                                                executors: list[ExecutorProcess]) -> None:
    assert httpx.get(f"{remote_service.url}/ready", timeout=10).json()["sandbox"] == "ok"
    before = [e.runs() for e in executors]
    for _ in range(3):
        response = select(remote_service)
        assert response.status_code == 200, response.text
        assert response.json()["execution"]["status"] == "ran"
    spread = [e.runs() - b for e, b in zip(executors, before, strict=True)]
    assert all(count >= 1 for count in spread) and sum(spread) >= 12, spread  # 4 runs per selection, both used

    # One executor dies in the middle of a batch: every completion is still scored, none hangs.
    sleepy = "import time\ndef top_two(xs):\n    time.sleep(0.3)\n    return sorted(xs, reverse=True)[:2]\n"
    item = {"problem": TOP_TWO_PROBLEM, "completions": [f"```python\n# {uuid.uuid4().hex}\n{sleepy}```"
                                                        for _ in range(12)]}
    answer: dict[str, httpx.Response] = {}
    batch = threading.Thread(target=lambda: answer.setdefault(
        "r", httpx.post(f"{remote_service.url}/rewards", json={"items": [item]}, timeout=120)))
    started = time.monotonic()
    batch.start()
    time.sleep(1.0)
    executors[0].kill()
    batch.join(120)
    assert not batch.is_alive() and time.monotonic() - started < 60
    result = answer["r"].json()
    assert answer["r"].status_code == 200, result
    # a run cut by the kill is retried once on the other executor; a failure would name the executor
    assert all(status == "passed" or (status == "sandbox_error") for status in result["statuses"]), result
    failed = [c for c in result["items"][0]["completions"] if c["status"] == "sandbox_error"]
    assert all("executor" in c["detail"] for c in failed), failed
    assert result["statuses"].count("passed") >= 10, result["statuses"]

    deadline = time.monotonic() + 10
    while (sandbox := httpx.get(f"{remote_service.url}/ready", timeout=10).json()["sandbox"]) == "ok" \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sandbox.startswith("degraded: 1 of 2 executors down"), sandbox
    assert select(remote_service).status_code == 200  # still served, by the other one

    executors[1].kill()  # every executor down: nothing runs in the API process
    deadline = time.monotonic() + 10
    while httpx.get(f"{remote_service.url}/ready", timeout=10).json()["sandbox"].startswith("degraded") \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    required = select(remote_service)
    assert required.status_code == 503 and required.json()["error"]["code"] == "sandbox_unavailable", required.text
    assert "every executor is down" in required.json()["error"]["message"]
    fallback = select(remote_service, execution="auto")
    assert fallback.status_code == 200
    assert fallback.json()["execution"]["status"] == "skipped"
    assert "every executor is down" in fallback.json()["execution"]["reason"]


def test_executors_that_start_after_the_service_are_used_once_they_answer(loop_thread, tiny_engine, base_settings,  # type: ignore[no-untyped-def]
                                                                          tmp_path: Path) -> None:
    """No start order in a cluster: the service comes up first, says the sandbox is unavailable, and uses the
    executor as soon as it answers."""
    from daj.testing.redis_server import free_port
    from service.testing import start_service

    port = free_port()
    settings = base_settings.model_copy(update={"executor_urls": [f"http://127.0.0.1:{port}"],
                                                "executor_token": TOKEN, "executor_probe_s": 0.5})
    service = start_service(loop_thread, settings, tiny_engine)
    executor = None
    try:
        assert httpx.get(f"{service.url}/ready", timeout=10).json()["sandbox"].startswith("unavailable")
        assert select(service).status_code == 503
        executor = ExecutorProcess(tmp_path / "late.log", token=TOKEN, port=port)
        deadline = time.monotonic() + 30
        while httpx.get(f"{service.url}/ready", timeout=10).json()["sandbox"] != "ok" \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        assert httpx.get(f"{service.url}/ready", timeout=10).json()["sandbox"] == "ok"
        assert select(service).status_code == 200
    finally:
        if executor is not None:
            executor.kill()
        service.stop()
