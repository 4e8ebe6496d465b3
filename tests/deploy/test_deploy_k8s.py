"""deploy/k8s checked offline: every manifest against the Kubernetes schemas of one pinned version (strict: an
unknown field fails), and the privilege model the manifests promise (docs/deploy.md, "Kubernetes"): the api has no
privilege, the executor exactly the sandbox's, the HorizontalPodAutoscaler scales the executor, every container
has resource limits and probes. No cluster is needed (none was reachable where these were written): this proves
the manifests are well-formed and say what we mean, not that a cluster runs them.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from _deploy_parse import (
    COMPOSE,
    DOCKERFILES,
    K8S,
    REPO,
    copies,
    executor_settings,
    load_compose,
    settings_env_names,
)

# The Kubernetes version whose schemas (shipped by the pinned kubernetes-validate) the manifests must satisfy. 1.35:
# the first whose Pod Security "baseline" admits procMount Unmasked for a pod in its own user namespace.
KUBERNETES_VERSION = "1.35.0"
KUSTOMIZATION = K8S / "kustomization.yaml"
SECRET_TEMPLATE = K8S / "secret.example.yaml"  # kept out of the kustomization: no placeholder is ever applied
SECCOMP_PROFILE = "profiles/daj-sandbox.json"  # relative to the kubelet's seccomp folder; docker/seccomp-sandbox.json
API, EXECUTOR, REDIS, VLLM = "daj-api", "daj-executor", "daj-redis", "daj-vllm"
UID = 10001  # the images' USER

# Variables the api or the vLLM server may get that are no daj setting, each with its reason.
NOT_SETTINGS_ALLOWED = {
    "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "the vLLM server: daj loads adapters at run time (/v1/load_lora_adapter)",
}
# What the executor must never get: no Redis, no API key, no model.
NOT_FOR_THE_EXECUTOR = {"REDIS_URL", "DAJ_REDIS_URL", "DAJ_API_KEYS", "DAJ_MODEL", "DAJ_BACKEND", "DAJ_REMOTE_URL"}


def _documents(path: Path) -> list[dict[str, Any]]:
    documents = [document for document in yaml.safe_load_all(path.read_text()) if document is not None]
    assert documents and all(isinstance(document, dict) for document in documents), path
    return documents


def _manifest_files() -> list[Path]:
    return sorted(path for path in K8S.glob("*.yaml") if path != KUSTOMIZATION)


def _resources() -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, name) -> resource, over the kustomization's files (what `kubectl apply -k` applies)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for name in yaml.safe_load(KUSTOMIZATION.read_text())["resources"]:
        for document in _documents(K8S / name):
            key = (document["kind"], document["metadata"]["name"])
            assert key not in found, f"{key} defined twice"
            found[key] = document
    return found


def _deployments() -> dict[str, dict[str, Any]]:
    return {name: resource for (kind, name), resource in _resources().items() if kind == "Deployment"}


def _pod(name: str) -> dict[str, Any]:
    pod: dict[str, Any] = _deployments()[name]["spec"]["template"]["spec"]
    return pod


def _container(name: str) -> dict[str, Any]:
    (container,) = _pod(name)["containers"]
    return dict(container)


def _env(container: dict[str, Any]) -> dict[str, Any]:
    """Each variable's value: a string, or its valueFrom source."""
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container.get("env", [])}


def _config_map(name: str) -> dict[str, str]:
    data: dict[str, str] = _resources()[("ConfigMap", name)]["data"]
    return data


def _api_environment() -> dict[str, str]:
    """The api container's environment: its ConfigMaps, then its own env (the Secret's keys as placeholders)."""
    container = _container(API)
    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        environment.update(_config_map(source["configMapRef"]["name"]))
    for name, value in _env(container).items():
        environment[name] = value if isinstance(value, str) else f"placeholder-{name.lower()}"
    return environment


def test_kubernetes_validate_ships_the_pinned_schemas() -> None:
    assert KUBERNETES_VERSION in kubernetes_validate.utils.all_versions()
    pins = [line for line in (REPO / "pyproject.toml").read_text().splitlines() if "kubernetes-validate" in line]
    assert len(pins) == 1 and re.fullmatch(r'\s*"kubernetes-validate==[\d.]+",', pins[0]), f"pin it exactly: {pins}"


@pytest.mark.parametrize("path", _manifest_files(), ids=lambda path: path.name)
def test_every_manifest_is_valid_for_the_pinned_kubernetes_strictly(path: Path) -> None:
    for document in _documents(path):
        try:
            schema_version = kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = "/".join(str(part) for part in exc.path)
            raise AssertionError(f"{path.name} {document['kind']} {where}: {exc.message}") from None
        assert schema_version == KUBERNETES_VERSION.rsplit(".", 1)[0], "validated against another version's schemas"
        assert document["metadata"]["labels"]["app.kubernetes.io/name"] == "daj", path.name
        assert "namespace" not in document["metadata"], "the kustomization sets the namespace"


def test_strict_validation_rejects_an_unknown_field() -> None:
    """The check above would catch a misspelt field (a securityContext key Kubernetes would silently drop)."""
    deployment = copy.deepcopy(_deployments()[API])
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFileSystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError, match="readOnlyRootFileSystem"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    kustomization = yaml.safe_load(KUSTOMIZATION.read_text())
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1" and kustomization["kind"] == "Kustomization"
    assert set(kustomization) <= {"apiVersion", "kind", "namespace", "resources", "images"}
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed))
    assert {K8S / name for name in listed} == set(_manifest_files()) - {SECRET_TEMPLATE}
    namespace = _resources()[("Namespace", kustomization["namespace"])]
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["pod-security.kubernetes.io/enforce-version"] == "v" + KUBERNETES_VERSION.rsplit(".", 1)[0]
    # The Secret every pod reads: only placeholders in the template, and every key a pod reads is in it.
    (secret,) = _documents(SECRET_TEMPLATE)
    assert all(value.startswith("REPLACE-ME") for value in secret["stringData"].values())
    for deployment in _deployments().values():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for source in _env(container).values():
                if isinstance(source, dict) and "secretKeyRef" in source:
                    reference = source["secretKeyRef"]
                    assert reference["name"] == secret["metadata"]["name"]
                    assert reference["key"] in secret["stringData"]


def test_the_api_has_no_privilege_at_all() -> None:
    """The runtime's default seccomp profile and masked /proc, no capability, no escalation, a read-only root, not
    root, no service-account token; it reaches candidates only through the executors."""
    pod, container = _pod(API), _container(API)
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "fsGroup": UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "privileged": False,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert "hostUsers" not in pod, "no procMount, so no need for a user namespace"
    executor_service = _resources()[("Service", EXECUTOR)]
    (port,) = executor_service["spec"]["ports"]
    # headless, and named with dns+: the API sees every executor pod
    assert executor_service["spec"]["clusterIP"] == "None"
    assert _api_environment()["DAJ_EXECUTOR_URLS"] == f"dns+http://{EXECUTOR}:{port['port']}", "no candidate here"
    # It writes only to its emptyDirs; the model cache and the adapters are read-only.
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    for mount in container["volumeMounts"]:
        volume = volumes[mount["name"]]
        assert "emptyDir" in volume or (mount.get("readOnly") and volume["persistentVolumeClaim"]["readOnly"]), mount


def test_the_executor_holds_exactly_the_named_privilege() -> None:
    """What docker/compose.yaml gives its executor service, in Kubernetes' words, and nothing else."""
    compose = load_compose(COMPOSE)["services"]["executor"]
    assert compose["cap_add"] == ["SETUID", "SETGID"] and "seccomp=seccomp-sandbox.json" in compose["security_opt"]
    pod, container = _pod(EXECUTOR), _container(EXECUTOR)
    seccomp = {"type": "Localhost", "localhostProfile": SECCOMP_PROFILE}
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "seccompProfile": seccomp,
    }
    assert container["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "privileged": False,
        "allowPrivilegeEscalation": True,  # no_new_privs would disable newuidmap's file capabilities
        "readOnlyRootFilesystem": False,
        "procMount": "Unmasked",  # compose's systempaths=unconfined
        "capabilities": {"drop": ["ALL"], "add": ["SETUID", "SETGID"]},
        "seccompProfile": seccomp,
    }
    assert pod["hostUsers"] is False, "Kubernetes allows procMount Unmasked only in the pod's own user namespace"
    # No state, no host path, no secret files: only the sandbox's id grant, which must fit the pod's 65536 ids.
    (volume,) = pod["volumes"]
    grant = _resources()[("ConfigMap", volume["configMap"]["name"])]["data"]
    assert [(m["mountPath"], m["subPath"], m["readOnly"]) for m in container["volumeMounts"]] == [
        ("/etc/subuid", "subuid", True), ("/etc/subgid", "subgid", True)]
    assert grant["subuid"] == grant["subgid"], "each run's gid is its uid (docker/userns-unshare checks it)"
    user, first, count = grant["subuid"].strip().split(":")
    assert user == "daj" and int(count) >= 1000, grant
    assert int(first) > 0 and int(first) + int(count) <= 65536, "inside the pod's user namespace (hostUsers: false)"
    assert not int(first) <= UID < int(first) + int(count), "the executor's own uid is not a sandbox uid"
    assert "daj-sandbox.json" in (K8S / "executor.yaml").read_text() and "docker/seccomp-sandbox.json" in (
        K8S / "executor.yaml"
    ).read_text(), "the manifest says where the node must hold the profile"
    # No Redis, API key or model: the executor only runs candidates.
    environment = _env(container)
    assert not NOT_FOR_THE_EXECUTOR & set(environment) and "envFrom" not in container
    assert container["args"] == ["executor"] and container["image"] == "daj:cpu"
    (port,) = container["ports"]
    (service_port,) = _resources()[("Service", EXECUTOR)]["spec"]["ports"]
    assert environment["DAJ_EXECUTOR_PORT"] == str(port["containerPort"]) == str(service_port["port"])
    assert environment["DAJ_EXECUTOR_HOST"] == "0.0.0.0"


def test_only_the_executor_holds_any_privilege() -> None:
    for name, deployment in _deployments().items():
        pod = deployment["spec"]["template"]["spec"]
        assert not {"hostNetwork", "hostPID", "hostIPC"} & set(pod), name
        assert pod["automountServiceAccountToken"] is False, f"{name}: no Kubernetes API credentials"
        # Service links would put DAJ_EXECUTOR_PORT=tcp://..., VLLM_PORT=tcp://... into the environment.
        assert pod["enableServiceLinks"] is False, name
        assert not any("hostPath" in volume for volume in pod.get("volumes", [])), name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True and context.get("privileged", False) is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            if name == EXECUTOR:
                continue
            assert context["allowPrivilegeEscalation"] is False and context["readOnlyRootFilesystem"] is True, name
            assert "add" not in context["capabilities"] and "procMount" not in context, name
            assert context["seccompProfile"] == pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}


def test_the_autoscaler_scales_the_executor_deployment_on_cpu() -> None:
    (hpa,) = [resource for (kind, _), resource in _resources().items() if kind == "HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    deployment = _deployments()[EXECUTOR]
    target = hpa["spec"]["scaleTargetRef"]
    assert target == {"apiVersion": deployment["apiVersion"], "kind": "Deployment", "name": EXECUTOR}
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"
    assert 0 < metric["resource"]["target"]["averageUtilization"] <= 100
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert "replicas" not in deployment["spec"], "the autoscaler owns the count; a fixed one would reset it on apply"
    assert _container(EXECUTOR)["resources"]["requests"]["cpu"], "CPU utilization is relative to the request"


def test_every_container_has_resource_limits_and_probes() -> None:
    installed = {destination for _, _, destination in copies(DOCKERFILES["cpu"])}
    for name, deployment in _deployments().items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            resources = container["resources"]
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[kind]), f"{name}: {kind}"
            assert "readinessProbe" in container and "livenessProbe" in container, name
            if name in (API, EXECUTOR):
                # Liveness: /health (no key). Readiness: /ready, through the image's health check (it sends the key
                # or the executor's token, which an httpGet probe cannot read from the Secret).
                assert container["livenessProbe"]["httpGet"]["path"] == "/health", name
                assert container["startupProbe"]["httpGet"]["path"] == "/health", name
                command = container["readinessProbe"]["exec"]["command"]
                assert command == (["daj-healthcheck", "executor"] if name == EXECUTOR else ["daj-healthcheck"])
                assert f"/usr/local/bin/{command[0]}" in installed
    executor = _container(EXECUTOR)["resources"]
    assert executor["requests"] == executor["limits"], "Guaranteed QoS: sandbox runs have CPU-time limits"
    workers = int(_env(_container(EXECUTOR))["DAJ_EXECUTION_WORKERS"])
    assert workers <= float(executor["requests"]["cpu"]), "at most one sandbox run per requested core"
    assert _container(VLLM)["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_services_and_network_policies_line_up_with_the_pods() -> None:
    resources = _resources()
    deployments = _deployments()
    for (kind, name), service in resources.items():
        if kind != "Service":
            continue
        pod = deployments[name]["spec"]["template"]
        assert service["spec"]["selector"] == deployments[name]["spec"]["selector"]["matchLabels"]
        assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
        (port,) = service["spec"]["ports"]
        (container,) = pod["spec"]["containers"]
        assert port["targetPort"] in {item.get("name") for item in container["ports"]}, name
    api_labels = deployments[API]["spec"]["template"]["metadata"]["labels"]
    for name in (EXECUTOR, REDIS, VLLM):  # reached by the api only; they reach nothing
        policy = resources[("NetworkPolicy", name)]["spec"]
        assert policy["podSelector"]["matchLabels"] == deployments[name]["spec"]["selector"]["matchLabels"]
        assert policy["policyTypes"] == ["Ingress", "Egress"] and policy["egress"] == []
        (rule,) = policy["ingress"]
        (peer,) = rule["from"]
        assert peer == {"podSelector": {"matchLabels": api_labels}}
        (port,) = rule["ports"]
        (service_port,) = resources[("Service", name)]["spec"]["ports"]
        assert port["port"] == service_port["port"]


def test_the_vllm_server_serves_the_apis_model_for_the_remote_backend() -> None:
    container = _container(VLLM)
    assert container["command"] == ["python3", "-m", "vllm.entrypoints.openai.api_server"]
    args = dict(arg.removeprefix("--").partition("=")[::2] for arg in container["args"])
    assert args["model"] == "$(DAJ_MODEL)" and "enable-lora" in args and args["host"] == "0.0.0.0"
    assert _env(container)["DAJ_MODEL"] == {"configMapKeyRef": {"name": "daj-config", "key": "DAJ_MODEL"}}
    environment = _api_environment()
    (service_port,) = _resources()[("Service", VLLM)]["spec"]["ports"]
    assert environment["DAJ_BACKEND"] == "remote"
    assert environment["DAJ_REMOTE_URL"] == f"http://{VLLM}:{service_port['port']}" and args["port"] == "8001"
    # The adapters at the same path in both: daj asks the server to load an adapter by its path.
    mounts = {
        name: {mount["mountPath"] for mount in _container(name)["volumeMounts"] if mount["name"] == "adapters"}
        for name in (API, VLLM)
    }
    assert mounts[API] == mounts[VLLM] == {"/var/lib/daj/adapters"}


def test_the_settings_in_the_manifests_are_real_settings_and_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    from service.settings import Settings

    for name in list(os.environ):
        if name.startswith("DAJ_") or name in ("REDIS_URL", "XDG_CACHE_HOME"):
            monkeypatch.delenv(name)
    api_names = {name for names in settings_env_names().values() for name in names}
    environment = _api_environment()
    assert not set(environment) - api_names, f"no such api setting: {set(environment) - api_names}"
    vllm = set(_env(_container(VLLM))) - api_names - set(NOT_SETTINGS_ALLOWED)
    assert not vllm, f"the vLLM server gets unexplained variables: {vllm}"
    executor_names = {name for names in settings_env_names(executor_settings()).values() for name in names}
    executor = _env(_container(EXECUTOR))
    assert not set(executor) - executor_names, f"no such executor setting: {set(executor) - executor_names}"
    with monkeypatch.context() as patch:
        for key, value in environment.items():
            patch.setenv(key, value)
        settings = Settings()
    assert settings.executor_urls == [f"dns+http://{EXECUTOR}:8100"] and settings.api_keys
    with monkeypatch.context() as patch:
        for key, value in executor.items():
            patch.setenv(key, value if isinstance(value, str) else "placeholder-token")
        configured = executor_settings()()
    assert configured.executor_port == 8100 and configured.executor_token
