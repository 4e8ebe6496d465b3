"""A sandbox job and its result as JSON: what the API service sends to an executor (`daj executor`) and gets back.

Both ends import this module, so the wire format has one definition. A job is a program, its spec (the test mode
and its payload) and its limits; the result is `RunResult.to_dict()`, or the sandbox's own error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.formats import TestSpec, probes
from sandbox.limits import Limits
from sandbox.runner import RunResult

WIRE_VERSION = "daj-executor-v1"


@dataclass(frozen=True)
class Job:
    program: str
    spec: TestSpec
    limits: Limits

    def to_dict(self) -> dict[str, Any]:
        return {"program": self.program,
                "spec": {"mode": self.spec.mode, "payload": self.spec.payload, "needs_site": self.spec.needs_site,
                         "required_modules": list(self.spec.required_modules)},
                "limits": self.limits.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        """Raises ValueError (or TypeError) on a malformed job."""
        spec = data["spec"]
        return cls(str(data["program"]),
                   TestSpec(str(spec["mode"]), dict(spec.get("payload") or {}), bool(spec.get("needs_site")),
                            tuple(str(m) for m in spec.get("required_modules") or ())),
                   Limits(**data["limits"]))


def result_to_dict(result: RunResult) -> dict[str, Any]:
    return {"ok": True, "result": result.to_dict()}


def error_to_dict(error: BaseException) -> dict[str, Any]:
    return {"ok": False, "error": f"{type(error).__name__}: {error}"}


def result_from_dict(data: dict[str, Any]) -> RunResult | str:
    """The run's result, or the sandbox's error message."""
    if data.get("ok"):
        return RunResult.from_dict(data["result"])
    return str(data.get("error") or "unknown executor error")


_SELF_CHECK_PROGRAM = "def daj_self_check(x):\n    return sorted({x, 2 * x, x})\n"
_SELF_CHECK_SPEC = probes([{"kind": "check", "call": "daj_self_check(21)", "expected": "[21, 42]"}], "daj_self_check",
                          case_seconds=5.0)


def self_check_job(limits: Limits) -> Job:
    """A known program with a known answer: the sandbox works where it gives that answer (the service's start-up
    check and an executor's /ready run the same one)."""
    return Job(_SELF_CHECK_PROGRAM, _SELF_CHECK_SPEC, limits)


def self_check_failure(result: RunResult) -> str | None:
    """None when the self-check job gave its known answer; else what it gave."""
    if result.cases == "P" and result.outputs == ["[21, 42]"]:
        return None
    return f"self-check gave {result.status} {result.cases!r} {result.outputs!r}"
