"""Readers for the deployment files (Dockerfiles, compose files, .env.example), shared by tests/deploy.

Small and strict on purpose: they understand exactly the subset of each format the repository uses, and fail
loudly on anything else, so a test never passes because a reader silently skipped a line.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
DOCKERFILES = {"cpu": DOCKER / "Dockerfile.cpu", "gpu": DOCKER / "Dockerfile.gpu"}
COMPOSE = DOCKER / "compose.yaml"
COMPOSE_AUTH = DOCKER / "compose.auth.yaml"
ENV_EXAMPLE = REPO / ".env.example"
DAJ_SERVICES = {"cpu": "daj-cpu", "gpu": "daj-gpu"}  # the API, one per profile
EXECUTOR_SERVICE = "executor"  # `daj executor`: runs the candidates, with either profile
K8S = REPO / "deploy" / "k8s"


# ---------------------------------------------------------------------------------------------------------------
# Dockerfiles
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, ...
    arguments: str  # everything after the keyword, continuation lines joined with a space
    line: int  # first line, 1-based

    def flags_and_rest(self) -> tuple[dict[str, str], str]:
        """`--name=value` flags at the start (COPY --chmod, HEALTHCHECK --interval), then the rest."""
        flags: dict[str, str] = {}
        rest = self.arguments
        while match := re.match(r"--([a-z-]+)=(\S+)\s+", rest):
            flags[match.group(1)] = match.group(2)
            rest = rest[match.end() :]
        return flags, rest

    def mounts(self) -> list[str]:
        """The `--mount=...` flags of a RUN, in order (a RUN may have several)."""
        return re.findall(r"--mount=(\S+)\s+", self.arguments[: len(self.arguments) - len(self.command)])

    @property
    def command(self) -> str:
        """What a RUN runs: its arguments without the leading `--name=value` flags (RUN --mount=...)."""
        return re.sub(r"^(?:--[a-z-]+=\S+\s+)+", "", self.arguments)


def parse_dockerfile(path: Path) -> list[Instruction]:
    """Instructions in order; comment lines (also inside continuations) dropped, `\\` continuations joined."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not pending:
            start = number
        continued = stripped.endswith("\\")
        pending.append(stripped[:-1].strip() if continued else stripped)
        if not continued:
            text = " ".join(pending)
            keyword, _, arguments = text.partition(" ")
            if not keyword.isalpha():
                raise ValueError(f"{path}:{start}: cannot parse {text!r}")
            instructions.append(Instruction(keyword.upper(), arguments.strip(), start))
            pending = []
    if pending:
        raise ValueError(f"{path}: ends inside a continuation")
    return instructions


def build_args(path: Path) -> dict[str, str]:
    """`ARG name=default` defaults, in order (an ARG without a default maps to "")."""
    found: dict[str, str] = {}
    for instruction in parse_dockerfile(path):
        if instruction.keyword == "ARG":
            name, _, default = instruction.arguments.partition("=")
            found[name.strip()] = default.strip()
    return found


def base_image(path: Path) -> tuple[str, str]:
    """(FROM as written, FROM with its build arguments at their defaults): the single base image."""
    (written,) = [item.arguments for item in parse_dockerfile(path) if item.keyword == "FROM"]
    defaults = build_args(path)
    resolved = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: defaults[m.group(1) or m.group(2)], written)
    return written, resolved


def exec_form(instruction: Instruction, text: str | None = None) -> list[str]:
    """The JSON array of an exec-form instruction; shell form is an error."""
    body = instruction.arguments if text is None else text
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"line {instruction.line}: {instruction.keyword} is not in exec form: {body}") from exc
    assert isinstance(value, list) and value and all(isinstance(item, str) for item in value), body
    return value


def last(instructions: list[Instruction], keyword: str) -> Instruction:
    found = [item for item in instructions if item.keyword == keyword]
    assert found, f"no {keyword} instruction"
    return found[-1]


def container_command(path: Path) -> list[str]:
    """What the container runs by default: ENTRYPOINT + CMD, both required in exec form (no inherited parts)."""
    instructions = parse_dockerfile(path)
    return exec_form(last(instructions, "ENTRYPOINT")) + exec_form(last(instructions, "CMD"))


def image_env(path: Path) -> dict[str, str]:
    """Every `ENV key=value ...` pair, in order (later wins)."""
    env: dict[str, str] = {}
    for instruction in parse_dockerfile(path):
        if instruction.keyword == "ENV":
            for pair in shlex.split(instruction.arguments):
                key, sep, value = pair.partition("=")
                assert sep, f"line {instruction.line}: use ENV key=value, not the legacy `ENV key value`"
                env[key] = value
    return env


def healthcheck(path: Path) -> tuple[dict[str, str], list[str]]:
    """HEALTHCHECK options and its CMD in exec form."""
    flags, rest = last(parse_dockerfile(path), "HEALTHCHECK").flags_and_rest()
    keyword, _, command = rest.partition(" ")
    assert keyword == "CMD", f"HEALTHCHECK must use CMD, got {rest!r}"
    return flags, exec_form(last(parse_dockerfile(path), "HEALTHCHECK"), command)


def copies(path: Path) -> list[tuple[dict[str, str], list[str], str]]:
    """COPY instructions as (flags, sources, destination)."""
    found = []
    for instruction in parse_dockerfile(path):
        if instruction.keyword == "COPY":
            flags, rest = instruction.flags_and_rest()
            *sources, destination = shlex.split(rest)
            found.append((flags, sources, destination))
    return found


def volumes(path: Path) -> list[str]:
    found: list[str] = []
    for instruction in parse_dockerfile(path):
        if instruction.keyword == "VOLUME":
            found += exec_form(instruction)
    return found


# ---------------------------------------------------------------------------------------------------------------
# Compose: variable interpolation as Compose does it, and override files merged as Compose merges them
# ---------------------------------------------------------------------------------------------------------------

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# $$ | ${NAME} | ${NAME:-default} ${NAME-default} ${NAME:?error} ${NAME?error} (one level of nesting) | $NAME
_VARIABLE = re.compile(rf"\$(?:(\$)|\{{({_NAME})(?:(:?[-?])((?:[^{{}}]|\{{[^{{}}]*\}})*))?\}}|({_NAME}))")


class MissingVariableError(ValueError):
    """A `${VAR:?message}` (or `${VAR?message}`) whose variable is not set."""


def interpolate(text: str, env: dict[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        escaped, name, operator, argument, bare = match.groups()
        if escaped:
            return "$"
        if bare:
            return env.get(bare, "")
        value = env.get(name)
        unset = value is None or (operator is not None and operator.startswith(":") and value == "")
        if operator in (":-", "-"):
            return interpolate(argument, env) if unset else value  # type: ignore[return-value]
        if operator in (":?", "?"):
            if unset:
                raise MissingVariableError(f"{name}: {argument}")
            return value  # type: ignore[return-value]
        return value or ""

    return _VARIABLE.sub(substitute, text)


def variables_used(text: str) -> set[str]:
    """Every variable name a compose file reads (also inside defaults)."""
    names = set()
    for match in _VARIABLE.finditer(text):
        escaped, name, _, argument, bare = match.groups()
        if not escaped:
            names.add(name or bare)
        if argument:
            names |= variables_used(argument)
    return names


def _interpolate_tree(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [_interpolate_tree(value, env) for value in node]
    if isinstance(node, str):
        return interpolate(node, env)
    return node


def _merge(base: Any, override: Any) -> Any:
    """Compose's merge for what these files use: mappings merge key by key; anything else is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _merge(base[key], value) if key in base else value
        return merged
    return override


def load_compose(*files: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """The merged, interpolated model of compose files (YAML merge keys `<<` resolved by the YAML loader)."""
    model: dict[str, Any] = {}
    for file in files or (COMPOSE,):
        model = _merge(model, _interpolate_tree(yaml.safe_load(file.read_text()), env or {}))
    return model


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    assert isinstance(environment, dict), "use the mapping form of `environment:`"
    return {key: "" if value is None else str(value) for key, value in environment.items()}


@dataclass(frozen=True)
class PortMapping:
    host_ip: str
    published: str
    target: str


def port_mappings(service: dict[str, Any]) -> list[PortMapping]:
    found = []
    for entry in service.get("ports", []):
        parts = str(entry).split(":")
        assert len(parts) == 3, f"publish as ADDRESS:HOST_PORT:CONTAINER_PORT (explicit address), got {entry!r}"
        found.append(PortMapping(*parts))
    return found


def volume_mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Short-syntax volumes as (source, target, mode)."""
    found = []
    for entry in service.get("volumes", []):
        source, target, *mode = str(entry).split(":")
        found.append((source, target, mode[0] if mode else "rw"))
    return found


# ---------------------------------------------------------------------------------------------------------------
# .env.example and the settings
# ---------------------------------------------------------------------------------------------------------------

_ENV_LINE = re.compile(r"^(#)?\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


@dataclass(frozen=True)
class EnvEntry:
    name: str
    value: str
    active: bool  # False: listed commented out (the default applies)
    comment: str  # the comment block right above it


def parse_env_example(path: Path = ENV_EXAMPLE) -> list[EnvEntry]:
    entries: list[EnvEntry] = []
    comment: list[str] = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        match = _ENV_LINE.match(line)
        if match and " " not in match.group(3).strip().strip('"'):
            commented, name, value = match.groups()
            entries.append(EnvEntry(name, value.strip().strip('"'), not commented, "\n".join(comment)))
            comment = []
        elif line.startswith("#"):
            comment.append(line.lstrip("#").strip())
        else:
            comment = []
    return entries


def settings_env_names(settings: type[Any] | None = None) -> dict[str, list[str]]:
    """Settings field -> the environment variable names it reads (first: the documented one). Of the API's
    `service.settings.Settings` unless another settings class is given (`executor_settings()`)."""
    from pydantic import AliasChoices

    if settings is None:
        from service.settings import Settings as settings

    prefix = settings.model_config.get("env_prefix", "")
    names: dict[str, list[str]] = {}
    for field_name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names[field_name] = [str(choice) for choice in alias.choices]
        elif isinstance(alias, str):
            names[field_name] = [alias]
        else:
            names[field_name] = [f"{prefix}{field_name}".upper()]
    return names


def executor_settings() -> type[Any]:
    """The executor's settings class (`daj executor`, executor/settings.py)."""
    from executor.settings import ExecutorSettings

    return ExecutorSettings
