"""Security promises: candidate code runs only in the sandbox; INFO logs carry neither code nor keys."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import httpx
import pytest

from service.testing import start_service

pytestmark = pytest.mark.engine


def test_candidate_code_runs_only_inside_the_sandbox(memory_service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / f"executed-{uuid.uuid4().hex}"
    payload = f"open({str(marker)!r}, 'w').write('pwned')\nimport os\nos.system('touch {marker}')\n"
    body = {"problem": f"def f():\n    {payload}", "candidates": [payload, f"exec({payload!r})", "x = 1"],
            "strategy": "round_robin"}
    assert httpx.post(f"{memory_service.url}/select", json=body, timeout=120).status_code == 200
    executed = httpx.post(f"{memory_service.url}/select", timeout=120, json={
        "problem": "def f(x):\n    pass\n", "entry_point": "f", "inputs": ["1"], "execution": "required",
        "candidates": [f"{payload}\ndef f(x):\n    return 1\n", f"def f(x):\n    exec({payload!r})\n",
                       "def f(x):\n    return 2\n"]})  # one candidate that completes: execution is informative
    assert executed.status_code == 200, executed.text
    report = executed.json()["execution"]
    assert report["status"] == "ran" and report["runs"] + report["cached_runs"] == 3, report
    stream = httpx.post(f"{memory_service.url}/select", json=body | {"stream": True, "mode": "reasoning",
                                                                     "max_reasoning_tokens": 16}, timeout=120)
    assert stream.status_code == 200
    assert not marker.exists()


def test_info_logs_hold_no_candidate_code_and_no_keys(loop_thread, tiny_engine, base_settings,  # type: ignore[no-untyped-def]
                                                       caplog: pytest.LogCaptureFixture) -> None:
    key = f"sk-{uuid.uuid4().hex}"
    secret_code = f"SECRET_CANDIDATE_{uuid.uuid4().hex}"
    access = logging.getLogger("uvicorn.access")  # uvicorn's loggers do not propagate to the root logger
    with caplog.at_level(logging.INFO):
        service = start_service(loop_thread, base_settings.model_copy(update={"api_keys": [key]}), tiny_engine,
                                log_level="info")  # uvicorn's access log too
        access.addHandler(caplog.handler)
        try:
            headers = {"Authorization": f"Bearer {key}"}
            body = {"problem": "p", "candidates": [f"x = '{secret_code}'", "x = 2"], "stream": True, "adapter": "tiny"}
            assert httpx.post(f"{service.url}/select", json=body, headers=headers, timeout=60).status_code == 200
            httpx.post(f"{service.url}/select", json=body, headers={"Authorization": "Bearer nope"}, timeout=60)
            httpx.post(f"{service.url}/select", json=body | {"candidates": [secret_code]}, headers=headers,
                       timeout=60)
        finally:
            access.removeHandler(caplog.handler)
            service.stop()
    text = "\n".join(record.getMessage() for record in caplog.records if record.levelno >= logging.INFO)
    assert any("POST /select" in record.getMessage() for record in caplog.records), "no access log: vacuous check"
    assert secret_code not in text and key not in text
