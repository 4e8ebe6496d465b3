"""`daj serve` as a user runs it: a subprocess on a free port, real vLLM on the tiny model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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

