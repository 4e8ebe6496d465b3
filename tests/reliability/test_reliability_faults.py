"""Faults: an engine request that errors, SIGTERM during load. (Redis outage: see the load test.)"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import psutil
import pytest

from daj.testing.processes import wait_until_ok
from daj.testing.redis_server import free_port
from service.testing import start_service

pytestmark = pytest.mark.engine

PROBLEM = 'def sign(x):\n    """Return -1, 0 or 1."""\n'


def _candidates(tag: str, n: int = 2) -> list[str]:
    return [f"def sign(x):\n    # {tag}\n    return {k}\n" for k in range(n)]


def _concurrently(calls: dict[str, tuple[str, dict]]) -> dict[str, httpx.Response]:  # type: ignore[type-arg]
    results: dict[str, httpx.Response] = {}

    def call(name: str, url: str, body: dict) -> None:  # type: ignore[type-arg]
        results[name] = httpx.post(f"{url}/select", json=body, timeout=120)

    threads = [threading.Thread(target=call, args=(name, url, body)) for name, (url, body) in calls.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_a_corrupt_adapter_fails_its_own_requests_and_never_reaches_the_engine(
    loop_thread, tiny_engine, base_settings, tiny_lora_dir: Path, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    adapters = tmp_path / "adapters"
    shutil.copytree(tiny_lora_dir, adapters / "broken")
    # Found by this test: vLLM's worker raises on a corrupt file inside the engine core, killing the engine.
    (adapters / "broken" / "adapter_model.safetensors").write_bytes(b"not a safetensors file")
    (adapters / "tiny").symlink_to(tiny_lora_dir, target_is_directory=True)
    service = start_service(loop_thread, base_settings.model_copy(update={"adapters_dir": adapters}), tiny_engine)
    try:
        calls = {f"ok{k}": (service.url, {"problem": PROBLEM, "candidates": _candidates(uuid.uuid4().hex),
                                          "adapter": "tiny" if k % 2 else None}) for k in range(4)}
        calls["bad"] = (service.url, {"problem": PROBLEM, "candidates": _candidates("x"), "adapter": "broken"})
        results = _concurrently(calls)
        bad = results.pop("bad")
        assert bad.status_code == 422, bad.text
        error = bad.json()["error"]
        assert error["code"] == "adapter_invalid" and error["param"] == "adapter"
        assert "not a valid safetensors file" in error["message"]
        assert all(r.status_code == 200 for r in results.values()), {k: r.text for k, r in results.items()}
        assert httpx.get(f"{service.url}/ready", timeout=10).status_code == 200
        assert httpx.get(f"{service.url}/health", timeout=10).status_code == 200
    finally:
        service.stop()


def test_an_engine_request_that_errors_fails_alone(loop_thread, tiny_engine, base_settings) -> None:  # type: ignore[no-untyped-def]
    # A front-end that believes in a longer context than the engine has (e.g. a remote vLLM started with a
    # smaller --max-model-len): the service's own check passes, vLLM rejects the request.
    service = start_service(loop_thread, base_settings.model_copy(update={"max_model_len": 16384,
                                                                          "max_field_chars": 40000}), tiny_engine)
    try:
        words = " ".join(f"v{k}" for k in range(600))  # ~2.7k tiny-tokenizer tokens per candidate
        long_candidates = [f"def sign(x):\n    return {k}  # {words}" for k in range(2)]
        calls = {f"ok{k}": (service.url, {"problem": PROBLEM, "candidates": _candidates(uuid.uuid4().hex)})
                 for k in range(4)}
        calls["bad"] = (service.url, {"problem": PROBLEM, "candidates": long_candidates})
        results = _concurrently(calls)
        bad = results.pop("bad")
        assert bad.status_code == 500, bad.text
        error = bad.json()["error"]
        assert error["code"] == "engine_error" and error["type"] == "server_error"
        assert "judge engine failed" in error["message"]
        assert all(r.status_code == 200 for r in results.values()), {k: r.text for k, r in results.items()}
        assert httpx.get(f"{service.url}/ready", timeout=10).status_code == 200
    finally:
        service.stop()


def test_sigterm_during_load_finishes_or_fails_cleanly(tiny_model_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "DAJ_MODEL": str(tiny_model_dir), "DAJ_PORT": str(port), "DAJ_DEFAULT_ADAPTER": "",
           "DAJ_SHUTDOWN_GRACE_S": "5", "DAJ_LOG_LEVEL": "warning"}
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "daj_cli", "serve"], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ok(f"{url}/ready", 180, process, tmp_path / "serve.log")
        children = psutil.Process(process.pid).children(recursive=True)
        outcomes: list[str] = []

        def client(k: int) -> None:
            body = {"problem": PROBLEM, "candidates": _candidates(f"{k}-{uuid.uuid4().hex}", 4), "mode": "reasoning",
                    "max_reasoning_tokens": 64 if k % 2 else 2000, "stream": k % 3 == 0}
            try:
                response = httpx.post(f"{url}/select", json=body, timeout=60)
                if response.status_code == 200 and body["stream"]:
                    last_event = [line for line in response.text.splitlines() if line.startswith("event: ")][-1]
                    outcomes.append(f"stream:{last_event}")
                elif response.status_code == 200:
                    outcomes.append("http:200")
                else:
                    try:
                        outcomes.append(f"http:{response.status_code}:{response.json()['error']['code']}")
                    except ValueError:
                        outcomes.append(f"http:{response.status_code}:not-json:{response.text[:40]}")
            except httpx.TimeoutException:
                outcomes.append("hang")
            except httpx.HTTPError as exc:  # the server closed the connection while shutting down
                outcomes.append(f"closed:{type(exc).__name__}")

        threads = [threading.Thread(target=client, args=(k,)) for k in range(12)]
        for thread in threads:
            thread.start()
        time.sleep(2.0)
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
        exit_s = time.monotonic() - sent
        for thread in threads:
            thread.join(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    print(f"\nSIGTERM: exit {code} after {exit_s:.1f} s; outcomes {json.dumps(sorted(outcomes))}")
    assert code in (0, -signal.SIGTERM)
    assert exit_s < 5 + 20, "shutdown took longer than the grace period plus engine teardown"
    assert len(outcomes) == 12 and "hang" not in outcomes
    clean = ("http:200", "http:503:shutting_down", "stream:event: result", "stream:event: error")
    assert all(o in clean or o.startswith("closed:") for o in outcomes), outcomes
    _, alive = psutil.wait_procs(children, timeout=15)
    assert not alive
