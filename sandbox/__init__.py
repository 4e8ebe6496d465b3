"""Sandboxed execution of untrusted programs against hidden tests, and the labels built from it."""

from sandbox.behaviour import probe_spec, run_key, run_limits, run_on_probes
from sandbox.formats import (
    TestSpec,
    bigcodebench_unittest,
    cases,
    evalplus_io,
    generator_spec,
    humaneval_check,
    mbpp_asserts,
    probes,
    script,
    stdio,
)
from sandbox.limits import Limits
from sandbox.runner import STATUSES, RunResult, Sandbox, SandboxError, execute

__all__ = [
    "STATUSES",
    "Limits",
    "RunResult",
    "Sandbox",
    "SandboxError",
    "TestSpec",
    "bigcodebench_unittest",
    "cases",
    "evalplus_io",
    "execute",
    "generator_spec",
    "humaneval_check",
    "mbpp_asserts",
    "probe_spec",
    "probes",
    "run_key",
    "run_limits",
    "run_on_probes",
    "script",
    "stdio",
]
