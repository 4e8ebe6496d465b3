"""The Docker Compose deployment for real: build, compose up (Redis + executor + daj-cpu), /ready, a /select whose
candidates run in the executor container's sandbox, the hostile programs through it, compose down. And the
sandbox's self-check in the image fails when any part of the privilege compose.yaml gives the executor is taken
away.

Only behind `make test-docker` (it sets DAJ_TEST_DOCKER=1): a cold build takes ~15 minutes and the engine a minute
or two to start. Skips, with the reason, without a Docker daemon or Docker Compose v2. The build is
docker/build-local.sh (it uses python:3.11-slim-bookworm when it can be had, else makes a local base), and compose
adds docker/compose.local.yaml when the Redis image is the local one. Set DAJ_TEST_DOCKER_BUILD=0 to reuse the
images as they are.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from _deploy_parse import COMPOSE, DOCKER, load_compose

from daj.testing.processes import live_processes_of_uids_from
from daj.testing.redis_server import free_port
from sandbox.runner import SANDBOX_UID_MIN

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(3 * 3600)]

IMAGE = "daj:cpu"
COMPOSE_LOCAL = DOCKER / "compose.local.yaml"
LOCAL_REDIS = "daj-local/redis:7"
PROBLEM = 'def f(x: int) -> int:\n    """Twice x.\n    >>> f(2)\n    4\n    """\n'
GOOD = "def f(x):\n    return 2 * x\n"
BAD = "def f(x):\n    return x + 3\n"

# The executor's own start-up self-check (service.execution.Executor.self_check), run in a throwaway container.
SELF_CHECK = """
import asyncio, json
from service.cache import MemoryCache
from service.execution import Executor
from service.metrics import Metrics
from service.settings import Settings
settings = Settings()
executor = Executor(settings, MemoryCache(16, 60), Metrics())
asyncio.run(executor.self_check())
print(json.dumps({"available": executor.available, "error": executor.error}))
"""

# Inside the container, the processes left by sandbox runs (uid >= SANDBOX_UID_MIN), read from /proc.
LEFTOVERS = f"""
import json, os
found = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        fields = dict(l.split(":", 1) for l in open(f"/proc/{{pid}}/status") if ":" in l)
    except OSError:
        continue
    if int(fields["Uid"].split()[0]) >= {SANDBOX_UID_MIN} and not fields["State"].strip().startswith("Z"):
        found.append(pid)
print(json.dumps(found))
"""


def _hostile(body: str) -> str:
    """A candidate that does `body` when called; a unique comment so no cache hides the run."""
    indented = "\n".join("    " + line for line in body.splitlines())
    return (
        f"# {uuid.uuid4().hex}\nimport os, sys, socket, signal, subprocess\n\ndef f(x):\n{indented}\n    return 2 * x\n"
    )


# name -> what the candidate does when called. What each one did in the container is in docs/deploy.md.
HOSTILE = {
    "fork bomb": "while True:\n    os.fork()",
    "allocate 8 GB": "b = bytearray(8 << 30)",
    "memory hog": "blocks = []\nwhile True:\n    blocks.append(bytearray(50 << 20))",
    "infinite loop": "while True:\n    pass",
    "sleep 60 s": "import time\ntime.sleep(60)",
    "daemonised grandchild": "subprocess.Popen(['sleep', '300'], start_new_session=True)",  # then returns 2 * x
    "kill the parent and pid 1": (
        "os.kill(os.getppid(), signal.SIGKILL)\nos.kill(1, signal.SIGKILL)\nos.kill(-1, signal.SIGKILL)"
    ),
    "write the cache volume": "open('/var/lib/daj/cache/escaped', 'w').write('x')",
    "delete the service": "import shutil\nshutil.rmtree('/usr/local/lib/python3.11/site-packages/service')",
    "network to Redis": "socket.create_connection(('redis', 6379), timeout=2).sendall(b'FLUSHALL\\r\\n')",
    "network to the service": "socket.create_connection(('127.0.0.1', PORT), timeout=2)",
    "print 1 GB": "for _ in range(1 << 20):\n    print('x' * 1024)",
}


def _skip_reason() -> str | None:
    if os.environ.get("DAJ_TEST_DOCKER") != "1":
        return "the Docker cycle runs only behind `make test-docker` (DAJ_TEST_DOCKER=1): it builds images"
    if shutil.which("docker") is None:
        return "no docker client on PATH"
    if subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode != 0:
        return "no Docker daemon answers `docker info` (start dockerd; docs/deploy.md lists the prerequisites)"
    if subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=60).returncode != 0:
        return "no Docker Compose v2 (`docker compose` plugin)"
    return None


def _run(
    *args: str,
    timeout: float = 600,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} -> {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def _has_image(name: str) -> bool:
    return _run("docker", "image", "inspect", name, check=False).returncode == 0


def _http(url: str, body: dict[str, Any] | None = None, timeout: float = 10) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _security_options() -> list[str]:
    """compose.yaml's privilege for the executor service, as `docker run` options (seccomp path made absolute)."""
    service = load_compose(COMPOSE)["services"]["executor"]
    options = [f"--cap-drop={cap}" for cap in service.get("cap_drop", [])]
    options += [f"--cap-add={cap}" for cap in service.get("cap_add", [])]
    for option in service.get("security_opt", []):
        key, _, value = option.partition("=")
        options.append(f"--security-opt={key}={DOCKER / value}" if key == "seccomp" else f"--security-opt={option}")
    return options


def _self_check(options: list[str]) -> dict[str, Any]:
    result = _run("docker", "run", "--rm", *options, "--entrypoint", "python", IMAGE, "-c", SELF_CHECK, timeout=300)
    return json.loads(result.stdout.strip().splitlines()[-1])


@dataclass
class Deployment:
    url: str
    compose: list[str]
    env: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)

    def container(self, service: str) -> str:
        return _run(*self.compose, "ps", "-q", service, env=self.env).stdout.strip()

    def leftovers(self) -> list[str]:
        found: list[str] = json.loads(
            _run("docker", "exec", self.container("executor"), "python", "-c", LEFTOVERS).stdout
        )
        return found


@pytest.fixture(scope="module")
def built() -> dict[str, float]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    timings = {}
    if os.environ.get("DAJ_TEST_DOCKER_BUILD", "1") != "0":
        started = time.monotonic()
        _run(str(DOCKER / "build-local.sh"), timeout=3 * 3600)
        timings["build_s"] = time.monotonic() - started
    assert _has_image(IMAGE), f"{IMAGE} was not built"
    return timings


@pytest.fixture(scope="module")
def deployment(built: dict[str, float]) -> Iterator[Deployment]:
    port = free_port()
    project = f"daj-test-{uuid.uuid4().hex[:8]}"
    files = ["-f", str(COMPOSE)]
    if not _has_image("redis:7-alpine") and _has_image(LOCAL_REDIS):
        files += ["-f", str(COMPOSE_LOCAL)]
    compose = ["docker", "compose", "-p", project, *files, "--profile", "cpu"]
    env = {**os.environ, "DAJ_PORT": str(port), "COMPOSE_PROFILES": "cpu"}
    deployment = Deployment(f"http://127.0.0.1:{port}", compose, env, dict(built))
    started = time.monotonic()
    try:
        _run(*compose, "up", "-d", "--no-build", env=env, timeout=600)
        deadline = started + 900
        while time.monotonic() < deadline:
            try:
                status, _ = _http(f"{deployment.url}/ready", timeout=5)
            except OSError:
                status = 0
            if status == 200:
                break
            time.sleep(2)
        else:
            logs = _run(*compose, "logs", "--tail", "80", env=env, check=False).stdout
            raise AssertionError(f"/ready did not answer 200 within 900 s\n{logs}")
        deployment.timings["up_to_ready_s"] = time.monotonic() - started
        yield deployment
    finally:
        _run(*compose, "down", "-v", "--remove-orphans", "--timeout", "60", env=env, check=False, timeout=300)
        left = _run("docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}").stdout
        assert left.strip() == "", f"containers left after compose down: {left}"


def test_compose_up_is_healthy_and_a_selection_runs_its_candidates_in_the_container(deployment: Deployment) -> None:
    status, ready = _http(f"{deployment.url}/ready")
    assert status == 200 and ready["sandbox"] == "ok" and ready["cache"] == "redis", ready
    deadline = time.monotonic() + 120  # /ready answered; the health checks report on their next interval
    while time.monotonic() < deadline:
        health = {
            name: _run(
                "docker",
                "inspect",
                "-f",
                "{{.State.Health.Status}}",
                deployment.container(name),
            ).stdout.strip()
            for name in ("redis", "executor", "daj-cpu")
        }
        if set(health.values()) == {"healthy"}:
            break
        time.sleep(3)
    assert set(health.values()) == {"healthy"}, health
    status, result = _http(
        f"{deployment.url}/select",
        {"problem": PROBLEM, "candidates": [BAD, GOOD], "execution": "required"},
        timeout=300,
    )
    assert status == 200, result
    assert result["execution"]["status"] == "ran", result["execution"]
    assert result["winner"]["index"] == 1
    print(
        f"\n/ready: {json.dumps(ready)}\n/select execution: {json.dumps(result['execution'])}\n"
        f"timings: {json.dumps({k: round(v, 1) for k, v in deployment.timings.items()})}"
    )


def test_hostile_programs_through_select_are_contained(deployment: Deployment) -> None:
    container = deployment.container("executor")  # where the candidates run
    before = _run("docker", "inspect", "-f", "{{.RestartCount}} {{.State.StartedAt}}", container).stdout
    report = []
    port = deployment.url.rsplit(":", 1)[1]
    for name, body in HOSTILE.items():
        started = time.monotonic()
        candidates = [GOOD, _hostile(body.replace("PORT", port))]
        status, result = _http(
            f"{deployment.url}/select",
            {"problem": PROBLEM, "candidates": candidates, "execution": "required"},
            timeout=300,
        )
        took = time.monotonic() - started
        assert status == 200, (name, result)
        by_index = {entry["index"]: entry for entry in result["ranking"]}
        report.append((name, round(took, 1), result["execution"]["status"], by_index[1].get("execution")))
        assert result["execution"]["status"] == "ran", (name, result["execution"])
        if name != "daemonised grandchild":  # that one does return 2 * x: only its grandchild must not survive
            assert by_index[1]["execution"]["status"] != "passed" and result["winner"]["index"] == 0, name
        assert took < 90, name
        assert deployment.leftovers() == [], f"{name}: sandbox processes outlived the request"
        assert _http(f"{deployment.url}/health")[0] == 200, f"{name}: the service is down"
    print("\nhostile programs through the container's /select:")
    for line in report:
        print(f"  {line[0]:28s} {line[1]:6.1f} s  execution {line[2]}  candidate {json.dumps(line[3])}")
    after = _run("docker", "inspect", "-f", "{{.RestartCount}} {{.State.StartedAt}}", container).stdout
    assert before == after, "the container restarted"
    check = (
        "import os; print(os.path.exists('/var/lib/daj/cache/escaped'), os.path.isdir("
        "'/usr/local/lib/python3.11/site-packages/service'))"
    )
    assert _run("docker", "exec", container, "python", "-c", check).stdout.split() == ["False", "True"]
    assert live_processes_of_uids_from(SANDBOX_UID_MIN) == [], "sandbox processes on the host"
    status, ready = _http(f"{deployment.url}/ready")
    assert status == 200 and ready["sandbox"] == "ok"


@pytest.mark.parametrize(
    "taken_away",
    ["nothing", "the seccomp profile (Docker's default instead)", "systempaths=unconfined", "CAP_SETUID/CAP_SETGID"],
)
def test_the_self_check_fails_without_the_named_privilege(built: dict[str, float], taken_away: str) -> None:
    options = _security_options()
    assert any(option.startswith("--security-opt=seccomp=") for option in options), options
    if taken_away.startswith("the seccomp"):
        options = [option for option in options if not option.startswith("--security-opt=seccomp=")]
    elif taken_away == "systempaths=unconfined":
        options.remove("--security-opt=systempaths=unconfined")
    elif taken_away.startswith("CAP_"):
        options = [option for option in options if not option.startswith("--cap-add=")]
    outcome = _self_check(options)
    print(f"\nwithout {taken_away}: {outcome}")
    if taken_away == "nothing":
        assert outcome == {"available": True, "error": None}
    else:
        assert outcome["available"] is False and outcome["error"], outcome
