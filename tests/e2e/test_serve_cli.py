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
from daj.testing.redis_server import free_port

pytestmark = pytest.mark.engine


def test_daj_serve_answers_health_at_once_and_ready_once_loaded(tiny_model_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "DAJ_MODEL": str(tiny_model_dir), "DAJ_PORT": str(port), "DAJ_LOG_LEVEL": "warning",
           "DAJ_DEFAULT_ADAPTER": ""}
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "daj_cli", "serve"], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        health = wait_until_ok(f"{base}/health", 60, process, tmp_path / "serve.log")
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        first_ready = httpx.get(f"{base}/ready", timeout=5)
        if first_ready.status_code == 503:  # still loading: the one error shape, with a retry hint
            assert first_ready.json()["error"]["code"] == "engine_loading"
        ready = wait_until_ok(f"{base}/ready", 120, process, tmp_path / "serve.log")
        assert ready.json()["status"] == "ready"
        children = psutil.Process(process.pid).children(recursive=True)
        assert children, "the engine runs in child processes"
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
        log.close()
    # uvicorn shuts down gracefully, then re-raises SIGTERM, so -SIGTERM is a clean exit too.
    assert code in (0, -signal.SIGTERM), (tmp_path / "serve.log").read_text()[-3000:]
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
    port = free_port()
    env = {**os.environ, "DAJ_MODEL": str(broken), "DAJ_PORT": str(port), "DAJ_LOG_LEVEL": "warning",
           "DAJ_DEFAULT_ADAPTER": ""}
    log_path = tmp_path / "serve.log"
    log = log_path.open("w")
    process = subprocess.Popen([sys.executable, "-m", "daj_cli", "serve"], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ok(f"{base}/health", 60, process, log_path)
        deadline = time.monotonic() + 120
        codes = []
        while time.monotonic() < deadline:
            ready = httpx.get(f"{base}/ready", timeout=5)
            assert ready.status_code == 503, ready.text
            codes.append(ready.json()["error"]["code"])
            if codes[-1] != "engine_loading":
                break
            time.sleep(0.5)
        assert codes[-1] == "engine_failed", f"{codes[-1]} after 120 s{log_path.read_text()[-2000:]}"
        assert set(codes) <= {"engine_loading", "engine_failed"}
        assert "engine failed to start" in ready.json()["error"]["message"]
        assert "Engine core initialization failed" in ready.json()["error"]["message"]  # the core, not the config
        select = httpx.post(f"{base}/select", json={"problem": "Add one.", "candidates": ["a", "b"]}, timeout=5)
        assert select.status_code == 503 and select.json()["error"]["code"] == "engine_failed"
        assert httpx.get(f"{base}/health", timeout=5).status_code == 200
        children = psutil.Process(process.pid).children(recursive=True)
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
        log.close()
    assert code in (0, -signal.SIGTERM), log_path.read_text()[-3000:]
    _, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, f"processes left running: {alive}"
