"""The images' own start command (ENTRYPOINT + CMD, parsed from the Dockerfiles) run on this host brings the service
up: real vLLM on the tiny model, a private Redis as compose's `redis`, auth on, and the images' health check."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import pytest
from _deploy_parse import DOCKERFILES, REPO, container_command, copies, healthcheck, image_env

from daj.testing.redis_server import RedisServer, free_port

pytestmark = pytest.mark.engine

COMMANDS = {kind: container_command(path) for kind, path in DOCKERFILES.items()}
# One server per distinct command: today both images run the same one (asserted below), so one server.
DISTINCT = sorted({tuple(command) for command in COMMANDS.values()})
KEY = "deploy-test-key"


def test_both_images_share_one_command() -> None:
    assert len(DISTINCT) == 1, f"the images start differently: {COMMANDS}"


def _venv_bin() -> Path:
    repo_venv = REPO / ".venv" / "bin"
    return repo_venv if (repo_venv / "daj").is_file() else Path(sys.executable).parent


def _host_env(kind: str, tmp_path: Path, port: int, model: Path, redis_url: str) -> dict[str, str]:
    """The image's ENV with its container paths moved under tmp_path, then what the test must pin."""
    env = {**os.environ}
    for key, value in image_env(DOCKERFILES[kind]).items():
        env[key] = str(tmp_path / value.lstrip("/")) if value.startswith("/var/lib/daj/") else value
    env.update(
        {
            "PATH": f"{_venv_bin()}{os.pathsep}{os.environ.get('PATH', '')}",
            "DAJ_MODEL": str(model),
            "DAJ_PORT": str(port),
            "DAJ_HOST": "127.0.0.1",  # the image's 0.0.0.0 is for inside a container; a test binds localhost
            "DAJ_API_KEYS": KEY,  # as with docker/compose.auth.yaml
            "REDIS_URL": redis_url,  # as compose's redis service
            "DAJ_LOG_LEVEL": "warning",
        }
    )
    for key in ("DAJ_CACHE_DIR", "DAJ_ADAPTERS_DIR"):
        Path(env[key]).mkdir(parents=True, exist_ok=True)
    return env


def _healthcheck_command(kind: str) -> list[str]:
    """The image's HEALTHCHECK command, with the installed script mapped back to its source in the checkout."""
    _, command = healthcheck(DOCKERFILES[kind])
    installed = {destination: sources for _, sources, destination in copies(DOCKERFILES[kind])}
    (source,) = installed[f"/usr/local/bin/{command[0]}"]
    return [sys.executable, str(REPO / source), *command[1:]]


@pytest.mark.parametrize("command", DISTINCT, ids=lambda command: " ".join(command))
def test_image_command_serves_health_then_ready(command: tuple[str, ...], tiny_model_dir: Path, tmp_path: Path) -> None:
    kinds = [kind for kind, cmd in COMMANDS.items() if tuple(cmd) == command]
    port = free_port()
    redis = RedisServer().start()
    env = _host_env(kinds[0], tmp_path, port, tiny_model_dir, redis.url)
    log_path = tmp_path / "serve.log"
    log = log_path.open("w")
    process = subprocess.Popen(list(command), env=env, stdout=log, stderr=log, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {KEY}"}
    engine = _Descendants(process.pid)  # recorded while it runs: orphans are reparented and lose their tie
    alive: list[psutil.Process] = []
    try:
        health = _wait_for(lambda: _ok(httpx.get(f"{base}/health", timeout=2)), 60, process, log_path, engine)
        assert health.json() == {"status": "ok"}
        assert httpx.get(f"{base}/ready", timeout=5).status_code == 401, "auth on: /ready needs the key"
        ready = _wait_for(
            lambda: _ok(httpx.get(f"{base}/ready", headers=auth, timeout=5)), 180, process, log_path, engine
        )
        body = ready.json()
        assert {key: body[key] for key in ("status", "engine", "cache", "sandbox")} == {
            "status": "ready", "engine": "ok", "cache": "redis", "sandbox": "ok"}
        assert body["dtype"] in ("float32", "bfloat16") and body["dtype_reason"].startswith("auto: ")
        engine.record()
        assert engine.processes, "the engine runs in child processes"
        for kind in kinds:  # the images' HEALTHCHECK, as Docker would run it inside the container
            check = _healthcheck_command(kind)
            assert subprocess.run(check, env=env, capture_output=True, timeout=30).returncode == 0, kind
            wrong = {**env, "DAJ_API_KEYS": "not-the-key"}
            assert subprocess.run(check, env=wrong, capture_output=True, timeout=30).returncode == 1, kind
    finally:
        engine.record()
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
            # Never leave an engine behind, whatever happened above (only processes this test started).
            _, alive = psutil.wait_procs(list(engine.processes.values()), timeout=15)
            for leftover in alive:
                leftover.kill()
            log.close()
            redis.close()
    # uvicorn shuts down gracefully, then re-raises SIGTERM, so -SIGTERM is a clean exit too.
    assert code in (0, -signal.SIGTERM), log_path.read_text()[-3000:]
    assert not alive, f"engine processes left running after SIGTERM: {alive}"


class _Descendants:
    """Every process started under `pid`, recorded on each call (psutil handles guard against reused pids)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.processes: dict[int, psutil.Process] = {}

    def record(self) -> None:
        try:
            for child in psutil.Process(self.pid).children(recursive=True):
                self.processes.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            pass


def _ok(response: httpx.Response) -> httpx.Response:
    response.raise_for_status()
    return response


def _wait_for(
    probe: Callable[[], httpx.Response],
    timeout_s: float,
    process: subprocess.Popen[bytes],
    log_path: Path,
    engine: _Descendants,
) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        engine.record()
        if process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            return probe()
        except (httpx.HTTPError, OSError) as exc:
            last = exc
            time.sleep(0.5)
    raise AssertionError(f"not up after {timeout_s} s: {last}\n{log_path.read_text()[-3000:]}")
