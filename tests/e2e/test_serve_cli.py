"""`daj serve` as a user runs it: a subprocess on a free port, real vLLM on the tiny model."""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from daj.testing.processes import wait_until_ok
from daj.testing.programs import RIGHT, RIGHT_TOO, SETS, TOP_TWO_PROBLEM, WRONG
from daj.testing.redis_server import free_port

pytestmark = pytest.mark.engine
# /ready while the judge loads: nothing answered yet, or the selections that execution decides.
LOADING_CODES = {"engine_loading", "execution_only"}


def test_daj_serve_answers_health_at_once_and_ready_once_loaded(tiny_model_dir: Path, tmp_path: Path) -> None:
    process, base, log_path = _serve(tiny_model_dir, tmp_path, DAJ_LOG_LEVEL="warning")
    try:
        health = wait_until_ok(f"{base}/health", 60, process, log_path)
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        first_ready = httpx.get(f"{base}/ready", timeout=5)
        if first_ready.status_code == 503:  # still loading: the one error shape, with a retry hint
            assert first_ready.json()["error"]["code"] in LOADING_CODES
        ready = wait_until_ok(f"{base}/ready", 120, process, log_path)
        assert ready.json()["status"] == "ready"
        children = psutil.Process(process.pid).children(recursive=True)
        assert children, "the engine runs in child processes"
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
    # uvicorn shuts down gracefully, then re-raises SIGTERM, so -SIGTERM is a clean exit too.
    assert code in (0, -signal.SIGTERM), log_path.read_text()[-3000:]
    _, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, f"engine processes left running: {alive}"



def test_an_engine_that_dies_while_loading_turns_ready_into_engine_failed(tiny_model_dir: Path,
                                                                          tmp_path: Path) -> None:
    """The weights are cut in half behind an intact header: the configuration checks pass in the service
    process, then vLLM's worker dies loading them and its engine core with it. /health stays up, /ready moves
    from engine_loading to engine_failed with the cause, /select says the same in the one error shape, and
    SIGTERM still stops everything."""
    broken = tmp_path / "broken-model"
    shutil.copytree(tiny_model_dir, broken)
    weights = (broken / "model.safetensors").read_bytes()
    header_end = 8 + struct.unpack("<Q", weights[:8])[0]
    (broken / "model.safetensors").write_bytes(weights[:header_end + (len(weights) - header_end) // 2])
    process, base, log_path = _serve(broken, tmp_path, DAJ_LOG_LEVEL="warning")
    try:
        wait_until_ok(f"{base}/health", 60, process, log_path)
        deadline = time.monotonic() + 120
        codes = []
        while time.monotonic() < deadline:
            ready = httpx.get(f"{base}/ready", timeout=5)
            assert ready.status_code == 503, ready.text
            codes.append(ready.json()["error"]["code"])
            if codes[-1] not in LOADING_CODES:
                break
            time.sleep(0.5)
        assert codes[-1] == "engine_failed", f"{codes[-1]} after 120 s{log_path.read_text()[-2000:]}"
        assert set(codes) <= {*LOADING_CODES, "engine_failed"}
        assert "engine failed to start" in ready.json()["error"]["message"]
        assert "Engine core initialization failed" in ready.json()["error"]["message"]  # the core, not the config
        select = httpx.post(f"{base}/select", json={"problem": "Add one.", "candidates": ["a", "b"]}, timeout=5)
        assert select.status_code == 503 and select.json()["error"]["code"] == "engine_failed"
        assert httpx.get(f"{base}/health", timeout=5).status_code == 200
        children = psutil.Process(process.pid).children(recursive=True)
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
    assert code in (0, -signal.SIGTERM), log_path.read_text()[-3000:]
    _, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, f"processes left running: {alive}"


def _serve(model: Path, tmp_path: Path, **env: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    """`daj serve` on a free port, its output in tmp_path/serve.log."""
    port = free_port()
    full_env = {**os.environ, "DAJ_MODEL": str(model), "DAJ_PORT": str(port), "DAJ_LOG_LEVEL": "info",
                "DAJ_DEFAULT_ADAPTER": "", **env}
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen([sys.executable, "-m", "daj_cli", "serve"], env=full_env, stdout=log,
                                   stderr=subprocess.STDOUT)
    return process, f"http://127.0.0.1:{port}", log_path


def _engine_processes(process: subprocess.Popen[bytes]) -> list[psutil.Process]:
    return [child for child in psutil.Process(process.pid).children(recursive=True)
            if "VLLM" in child.name() or "VLLM" in " ".join(child.cmdline())]


def test_execution_decided_selections_are_answered_while_the_judge_loads(tiny_model_dir: Path,
                                                                         tmp_path: Path) -> None:
    """Before the engine is up, a selection that execution decides (one behaviour cluster passes the examples)
    is answered through HTTP, plain and streamed, and its reason says so; one that needs the judge gets 503
    engine_loading; /ready says `execution_only`. A SIGTERM while the engine still loads ends the process in
    seconds (its start is abandoned, not waited for) and leaves no engine process."""
    process, base, log_path = _serve(tiny_model_dir, tmp_path)
    decided = {"problem": TOP_TWO_PROBLEM, "candidates": [WRONG, RIGHT, RIGHT_TOO]}
    needs_judge = {"problem": TOP_TWO_PROBLEM, "candidates": [RIGHT, SETS]}  # both pass the examples, differ after
    try:
        wait_until_ok(f"{base}/health", 60, process, log_path)
        # The sandbox self-check takes well under a second; until it passes, nothing can be answered early.
        deadline = time.monotonic() + 10
        while (ready := httpx.get(f"{base}/ready", timeout=5)).json()["error"]["code"] != "execution_only":
            assert ready.json()["error"]["code"] == "engine_loading", ready.text
            assert time.monotonic() < deadline, ready.text
            time.sleep(0.1)
        assert ready.status_code == 503 and "execution alone decides" in ready.json()["error"]["message"]

        answer = httpx.post(f"{base}/select", json=decided, timeout=30)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["winner"]["index"] in (1, 2) and body["usage"]["judge_calls"] == 0
        assert body["winner"]["reason"].endswith("answered by execution alone, the judge is not loaded")
        assert body["execution"]["status"] == "ran"

        refused = httpx.post(f"{base}/select", json=needs_judge, timeout=30)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "engine_loading" and refused.headers["retry-after"] == "5"
        judge_only = httpx.post(f"{base}/select", json={**decided, "execution": "off"}, timeout=30)
        assert judge_only.status_code == 503 and judge_only.json()["error"]["code"] == "engine_loading"
        streamed_refusal = httpx.post(f"{base}/select", json={**needs_judge, "stream": True}, timeout=30)
        assert streamed_refusal.status_code == 503  # before any event, like a plain request

        with httpx.stream("POST", f"{base}/select", json={**decided, "stream": True}, timeout=30) as stream:
            assert stream.status_code == 200
            events = [line.removeprefix("event: ") for line in stream.iter_lines() if line.startswith("event: ")]
        assert events[0] == "start" and events[-1] == "result" and "execution" in events
        assert "match_start" not in events

        metrics = httpx.get(f"{base}/metrics", timeout=5).text
        assert "daj_answered_while_judge_loads_total 2.0" in metrics  # the plain and the streamed one
        still_loading = httpx.get(f"{base}/ready", timeout=5)
        assert still_loading.json()["error"]["code"] == "execution_only", "the engine loaded before the checks ran"
        # Shut down mid-load: the engine core ignores SIGTERM while it initialises, so the service kills it.
        time.sleep(3)  # let the engine spawn its processes
        engine = _engine_processes(process)
        stop_sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
        stopped_in = time.monotonic() - stop_sent
    finally:
        if process.poll() is None:
            process.kill()
    assert code in (0, -signal.SIGTERM), log_path.read_text()[-3000:]
    assert stopped_in < 10, f"SIGTERM while loading took {stopped_in:.1f} s\n{log_path.read_text()[-3000:]}"
    _, alive = psutil.wait_procs(engine, timeout=10)
    assert not alive, f"engine processes left running: {alive}"


def test_sigkill_of_the_service_leaves_no_engine_process(tiny_model_dir: Path, tmp_path: Path) -> None:
    """A supervisor's SIGKILL (or the OOM killer) gives the service no chance to stop its engine: the engine's
    processes watch their parent (service/engine/lifeline.py) and go with it."""
    process, base, log_path = _serve(tiny_model_dir, tmp_path, DAJ_DTYPE="float32")
    try:
        ready = wait_until_ok(f"{base}/ready", 180, process, log_path).json()
        assert ready["dtype"] == "float32" and ready["dtype_reason"] == "DAJ_DTYPE=float32"
        metrics = httpx.get(f"{base}/metrics", timeout=5).text
        assert 'daj_judge_dtype{dtype="float32",reason="DAJ_DTYPE=float32"} 1.0' in metrics
        engine = _engine_processes(process)
        assert len(engine) >= 2, f"expected the EngineCore and its Worker: {engine}"
        process.kill()
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    _, alive = psutil.wait_procs(engine, timeout=10)
    assert not alive, f"engine processes outlived a SIGKILLed service: {alive}"

