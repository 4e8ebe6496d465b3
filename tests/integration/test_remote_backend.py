"""DAJ_BACKEND=remote: the service in front of a separately run vLLM OpenAI-compatible server (real, CPU)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from daj.testing.inprocess_service import InProcessService, start_service
from daj.testing.processes import wait_until_ok
from daj.testing.redis_server import free_port
from service.engine.remote import RemoteEngine

pytestmark = pytest.mark.engine

PROBLEM = 'def double(x):\n    """Return 2 * x."""\n'


@pytest.fixture(scope="module")
def vllm_server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("vllm") / "server.log"
    env = {**os.environ, "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True", "VLLM_CPU_KVCACHE_SPACE": "1"}
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(tiny_model_dir),
               "--port", str(port), "--host", "127.0.0.1", "--enable-lora", "--max-lora-rank", "16",
               "--max-model-len", "4096"]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ok(f"{url}/health", 180, process, log_path)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def remote_service(vllm_server: str, loop_thread, base_settings, tiny_model_dir: Path) -> Iterator[InProcessService]:  # type: ignore[no-untyped-def]
    engine = RemoteEngine(vllm_server, tokenizer_path=str(tiny_model_dir))
    settings = base_settings.model_copy(update={"backend": "remote", "remote_url": vllm_server})
    service = start_service(loop_thread, settings, engine)
    yield service
    service.stop()
    loop_thread.run(engine.close())


def _programs(tag: str) -> list[str]:
    return [f"def double(x):\n    # {tag}\n    return {expr}\n" for expr in ("2 * x", "x + x", "x * x")]


def test_remote_verdicts_match_the_in_process_engine(remote_service, memory_service) -> None:  # type: ignore[no-untyped-def]
    body = {"problem": PROBLEM, "candidates": _programs(uuid.uuid4().hex), "strategy": "round_robin"}
    remote = httpx.post(f"{remote_service.url}/select", json=body, timeout=120).json()
    local = httpx.post(f"{memory_service.url}/select", json=body, timeout=120).json()
    assert remote["usage"]["judge_calls"] == 6 and remote["winner"] == local["winner"]
    for r, loc in zip(remote["matches"], local["matches"], strict=True):
        assert r["order"] == loc["order"]
        assert r["probability"] == pytest.approx(loc["probability"], abs=0.02)  # same weights, same prompt ids


def test_remote_adapter_is_loaded_on_first_use(remote_service) -> None:  # type: ignore[no-untyped-def]
    body = {"problem": PROBLEM, "candidates": _programs(uuid.uuid4().hex)[:2], "orders": "single"}
    base = httpx.post(f"{remote_service.url}/select", json=body, timeout=120).json()
    tuned = httpx.post(f"{remote_service.url}/select", json=body | {"adapter": "tiny"}, timeout=120).json()
    assert tuned["judge"]["adapter"] == "tiny"
    assert tuned["matches"][0]["probability"] != pytest.approx(base["matches"][0]["probability"], abs=1e-4)


def test_remote_reasoning_streams_deltas(remote_service) -> None:  # type: ignore[no-untyped-def]
    body = {"problem": PROBLEM, "candidates": _programs(uuid.uuid4().hex)[:2], "mode": "reasoning",
            "max_reasoning_tokens": 16, "votes": 2, "stream": True}
    names = []
    with httpx.stream("POST", f"{remote_service.url}/select", json=body, timeout=120) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("event: "):
                names.append(line[len("event: "):])
            elif line.startswith("data: ") and names[-1] == "result":
                result = json.loads(line[len("data: "):])
    assert names[0] == "start" and names[-1] == "result" and "reasoning" in names
    assert result["usage"]["completion_tokens"] > 0
