"""The Docker Compose deployment for real: build, compose up (Redis + three executor replicas + daj-cpu), /ready, a
/select whose candidates run in the executor containers' sandbox, selections spread over the three replicas, one
replica killed in the middle of a batch, the hostile programs through it, the API container unable to run a
candidate, compose down. And the sandbox's self-check in the image fails when any part of the privilege
compose.yaml gives the executor is taken away.

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
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from _deploy_parse import COMPOSE, DOCKER, REPO, load_compose

from daj.testing.processes import live_processes_of_uids_from
from daj.testing.redis_server import free_port
from sandbox.runner import SANDBOX_UID_MIN

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(3 * 3600)]

IMAGE = "daj:cpu"
REPLICAS = 3  # `--scale executor=3`
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


# Inside an executor container: its own count of finished runs (its /metrics, with the token).
REPLICA_RUNS = """
import os, urllib.request
request = urllib.request.Request("http://127.0.0.1:8100/metrics",
                                 headers={"Authorization": "Bearer " + os.environ["DAJ_EXECUTOR_TOKEN"]})
text = urllib.request.urlopen(request, timeout=10).read().decode()
print(sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith("daj_executor_runs_total")))
"""


@dataclass
class Deployment:
    url: str
    compose: list[str]
    env: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)

    def containers(self, service: str) -> list[str]:
        return _run(*self.compose, "ps", "-q", service, env=self.env).stdout.split()

    def container(self, service: str) -> str:
        (only,) = self.containers(service)
        return only

    def leftovers(self) -> list[str]:
        """Sandbox processes alive in any executor replica."""
        found: list[str] = []
        for container in self.containers("executor"):
            found += json.loads(_run("docker", "exec", container, "python", "-c", LEFTOVERS).stdout)
        return found

    def replica_runs(self) -> dict[str, float]:
        """Each executor replica's finished runs, by its address on the executors' network."""
        return {_address(c): float(_run("docker", "exec", c, "python", "-c", REPLICA_RUNS).stdout)
                for c in self.containers("executor")}

    def ready(self) -> dict[str, Any]:
        status, body = _http(f"{self.url}/ready")
        assert status == 200, body
        return body

    def wait_for_executors(self, count: int, timeout: float = 180) -> dict[str, Any]:
        """Until /ready lists `count` executors, all up (a replica answers the API once its self-check passed)."""
        deadline = time.monotonic() + timeout
        while True:
            ready = self.ready()
            if len(ready["executors"]) == count and all(e["up"] for e in ready["executors"]):
                return ready
            assert time.monotonic() < deadline, f"not {count} executors up: {ready}"
            time.sleep(1)


def _address(container: str) -> str:
    return _run("docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                container).stdout.strip()


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
    env = {**os.environ, "DAJ_PORT": str(port), "COMPOSE_PROFILES": "cpu", "DAJ_EXECUTOR_TOKEN": uuid.uuid4().hex}
    deployment = Deployment(f"http://127.0.0.1:{port}", compose, env, dict(built))
    started = time.monotonic()
    try:
        _run(*compose, "up", "-d", "--no-build", "--scale", f"executor={REPLICAS}", env=env, timeout=600)
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
            container: _run("docker", "inspect", "-f", "{{.Name}} {{.State.Health.Status}}", container).stdout.split()
            for name in ("redis", "executor", "daj-cpu")
            for container in deployment.containers(name)
        }
        if {status for _, status in health.values()} == {"healthy"}:
            break
        time.sleep(3)
    assert {status for _, status in health.values()} == {"healthy"}, health
    assert len(deployment.containers("executor")) == REPLICAS
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


def _distinct(code: str) -> str:
    return f"# {uuid.uuid4().hex}\n{code}"


def _select(deployment: Deployment, candidates: list[str], timeout: float = 300) -> tuple[int, dict[str, Any]]:
    body = {"problem": PROBLEM, "candidates": candidates, "execution": "required"}
    return _http(f"{deployment.url}/select", body, timeout=timeout)


def test_selections_spread_over_the_three_executor_replicas(deployment: Deployment) -> None:
    """`DAJ_EXECUTOR_URLS=dns+http://executor:8100`: each address Docker's DNS gives for `executor` is an executor
    of its own to the API, so each selection's runs go to the least busy replica, and every replica gets some."""
    ready = deployment.wait_for_executors(REPLICAS)
    assert ready["sandbox"] == "ok", ready
    addresses = sorted(e["url"].rsplit(" ", 1)[1] for e in ready["executors"])
    assert addresses == sorted(_address(c) for c in deployment.containers("executor")), (addresses, ready)
    before = deployment.replica_runs()
    fresh_runs = 0
    for _ in range(6):
        status, result = _select(deployment, [_distinct(GOOD if n % 2 else BAD) for n in range(8)])
        assert status == 200 and result["execution"]["status"] == "ran", result
        assert result["ranking"][0]["execution"]["status"] == "passed"
        fresh_runs += result["execution"]["runs"]
    after = deployment.replica_runs()
    spread = {address: after[address] - before[address] for address in after}
    print(f"\nruns per executor replica over 6 selections of 8 candidates: {spread} ({fresh_runs} runs in all)")
    assert sum(spread.values()) == fresh_runs, (spread, fresh_runs)
    assert len(spread) == REPLICAS and all(count >= 4 for count in spread.values()), spread


def test_the_api_container_cannot_run_a_candidate(deployment: Deployment) -> None:
    """The API container has no privilege: it cannot create a user namespace, and the sandbox's own self-check
    fails there. The same check passes in an executor replica."""
    api = deployment.container("daj-cpu")
    userns = _run("docker", "exec", api, "unshare", "--user", "--map-root-user", "true", check=False)
    print(f"\napi: unshare --user -> exit {userns.returncode}: {userns.stderr.strip()}")
    assert userns.returncode != 0 and "Operation not permitted" in userns.stderr, userns
    # The API's self-check with the in-process runner (no DAJ_EXECUTOR_URLS), as if it were asked to run one.
    result = _run("docker", "exec", "-e", "DAJ_EXECUTOR_URLS=", api, "python", "-c", SELF_CHECK, timeout=120)
    in_api = json.loads(result.stdout.strip().splitlines()[-1])
    result = _run("docker", "exec", deployment.containers("executor")[0], "python", "-c", SELF_CHECK, timeout=120)
    in_executor = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"api self-check: {in_api}\nexecutor self-check: {in_executor}")
    assert in_api["available"] is False and in_api["error"], in_api
    assert in_executor == {"available": True, "error": None}


def _restarts(deployment: Deployment) -> list[str]:
    return sorted(_run("docker", "inspect", "-f", "{{.Name}} {{.RestartCount}} {{.State.StartedAt}}", container).stdout
                  for container in deployment.containers("executor"))


def test_hostile_programs_through_select_are_contained(deployment: Deployment) -> None:
    before = _restarts(deployment)  # the executor replicas, where the candidates run
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
    assert _restarts(deployment) == before, "an executor container restarted"
    check = (
        "import os; print(os.path.exists('/var/lib/daj/cache/escaped'), os.path.isdir("
        "'/usr/local/lib/python3.11/site-packages/service'))"
    )
    for container in deployment.containers("executor"):
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


def test_an_executor_killed_in_the_middle_of_a_batch(deployment: Deployment) -> None:
    """`docker kill` one replica while three selections (24 runs on 6 slots) are running: every selection still
    answers (its runs there retried on another replica) or fails with an error naming the executor, none hangs;
    the API then works on two replicas, and on three again after `up --scale executor=3`."""
    deployment.wait_for_executors(REPLICAS)
    slow = "import time\n\ndef f(x):\n    time.sleep(0.2)\n    return 2 * x\n"
    answers: dict[int, tuple[int, dict[str, Any], float]] = {}

    def one(n: int) -> None:
        started = time.monotonic()
        status, body = _select(deployment, [_distinct(slow) for _ in range(8)], timeout=120)
        answers[n] = (status, body, time.monotonic() - started)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(3)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    busy: list[dict[str, Any]] = []
    while not busy and time.monotonic() - started < 20:
        busy = [e for e in deployment.ready()["executors"] if e["outstanding"] > 0]
        time.sleep(0.2)
    assert busy, "no executor was busy"
    address = busy[0]["url"].rsplit(" ", 1)[1]
    (victim,) = [c for c in deployment.containers("executor") if _address(c) == address]
    _run("docker", "kill", victim)
    killed_at = time.monotonic() - started
    for thread in threads:
        thread.join(150)
    assert not any(thread.is_alive() for thread in threads), "a selection hung"
    print(f"\nkilled {address} ({busy[0]['outstanding']} jobs in flight there) at {killed_at:.1f} s")
    for n, (status, body, took) in sorted(answers.items()):
        summary = body.get("execution", {}).get("status") if status == 200 else body.get("error")
        print(f"  selection {n}: HTTP {status} in {took:.1f} s: {summary}")
        if status == 200:
            assert body["execution"]["status"] == "ran", body["execution"]
            assert body["ranking"][0]["execution"]["status"] == "passed"
        else:
            assert "executor" in body["error"]["message"], body
        assert took < 90
    assert len(answers) == 3

    running = _run("docker", "inspect", "-f", "{{.State.Running}} {{.RestartCount}}", victim).stdout.split()
    assert running == ["false", "0"], f"docker kill stops a replica for good (restart: unless-stopped): {running}"
    ready = deployment.wait_for_executors(REPLICAS - 1, timeout=60)  # the killed one left the DNS answer
    assert address not in {e["url"].rsplit(" ", 1)[1] for e in ready["executors"]}
    print(f"  then /ready: sandbox {ready['sandbox']!r}, {len(ready['executors'])} executors")
    status, result = _select(deployment, [_distinct(BAD), _distinct(GOOD)])
    assert status == 200 and result["winner"]["index"] == 1, result

    _run(*deployment.compose, "up", "-d", "--no-build", "--scale", f"executor={REPLICAS}", env=deployment.env,
         timeout=600)
    ready = deployment.wait_for_executors(REPLICAS)
    assert ready["sandbox"] == "ok", ready
    print(f"  after up --scale executor={REPLICAS}: {len(ready['executors'])} executors up")


# In the image, as its user: the self-check, then a run that reports its own uid and gid.
IDS_CHECK = SELF_CHECK + """
from sandbox import Limits, execute, probes
spec = probes([{"kind": "check", "call": "f(0)", "expected": None}], "f", case_seconds=5.0)
result = execute("import os\\ndef f(x):\\n    return [os.getuid(), os.getgid()]\\n", spec, Limits())
print(json.dumps({"status": result.status, "ids": result.outputs}))
"""


def test_the_sandbox_runs_on_the_kubernetes_pods_id_grant(built: dict[str, float], tmp_path: Path) -> None:
    """deploy/k8s/executor.yaml's grant (ConfigMap daj-executor-ids), mounted over the image's /etc/subuid and
    /etc/subgid as the pod mounts it: the self-check passes with compose's privilege, and a run's uid and gid lie in
    the grant, inside the 65536 ids a pod with hostUsers: false has. (No cluster: the pod's own user namespace is
    not made here.)"""
    configmap = next(d for d in yaml.safe_load_all((REPO / "deploy/k8s/executor.yaml").read_text())
                     if d and d["kind"] == "ConfigMap" and d["metadata"]["name"] == "daj-executor-ids")
    mounts = []
    for name in ("subuid", "subgid"):
        (tmp_path / name).write_text(configmap["data"][name])
        (tmp_path / name).chmod(0o644)
        mounts.append(f"--volume={tmp_path / name}:/etc/{name}:ro")
    _, first, count = configmap["data"]["subuid"].strip().split(":")
    result = _run("docker", "run", "--rm", *_security_options(), *mounts, "--entrypoint", "python", IMAGE, "-c",
                  IDS_CHECK, timeout=300)
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()[-2:]]
    print(f"\nwith the pod's grant {configmap['data']['subuid'].strip()}: {lines}")
    assert lines[0] == {"available": True, "error": None}
    assert lines[1]["status"] == "passed", lines
    uid, gid = json.loads(lines[1]["ids"][0])
    assert uid == gid and int(first) <= uid < int(first) + int(count) <= 65536, (uid, first, count)
