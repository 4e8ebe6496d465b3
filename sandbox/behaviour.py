"""One program over a daj probe set, in the sandbox: the spec the service and training both run, and a
synchronous run for callers that have no worker pool of their own (training builds its evidence pairs with it;
the service's `Executor` runs the same spec in its pool, with its cache and budget)."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import replace

from daj.probes import CandidateRun, ProbeSet
from sandbox.formats import TestSpec, probes, stdio
from sandbox.limits import Limits
from sandbox.runner import execute, harness_version


def probe_spec(probe_set: ProbeSet, case_seconds: float, output_chars: int) -> TestSpec:
    """The spec of a probe set, in the mode its shape asks for (`probes`: expressions with the entry point
    bound; `stdio`: the whole program per probe): one mark and one normalised output per probe. `case_seconds`
    is the time limit per probe unless the probe set carries its own."""
    items = [probe.job() for probe in probe_set.probes]
    seconds = probe_set.time_limit_s or case_seconds
    if probe_set.run_mode == "stdio":
        return stdio(items, case_seconds=seconds, output_chars=output_chars, checker=probe_set.checker,
                     ignore_case=probe_set.ignore_case)
    return probes(items, probe_set.entry_point, probe_set.prelude, case_seconds=seconds,
                  output_chars=output_chars, program_prelude=probe_set.program_prelude,
                  module_name=probe_set.module_name, node_results=probe_set.node_results)


def run_limits(probe_set: ProbeSet, base: Limits, case_seconds: float, max_wall_seconds: float) -> Limits:
    """The limits of one program's run over a probe set. A function's probes are calls sharing `base`; a whole
    program runs once per probe, so its run gets room for every probe's time limit and the three timeouts a run
    may spend (a correct program using 0.9 s on each of 14 probes is not a timeout), up to `max_wall_seconds`,
    and a CPU limit no lower than a probe's (each probe's process inherits the runner's and lowers it)."""
    if probe_set.run_mode != "stdio":
        return base
    per_probe = probe_set.time_limit_s or case_seconds
    wall = len(probe_set.probes) * (per_probe + 0.5) + 3 * (per_probe + 1) + 5
    wall = min(max_wall_seconds, max(base.wall_seconds, wall))
    return replace(base, wall_seconds=round(wall, 1), cpu_seconds=max(base.cpu_seconds, math.ceil(per_probe) + 2))


def run_on_probes(code: str, probe_set: ProbeSet, limits: Limits, case_seconds: float, output_chars: int,
                  python: str | None = None) -> CandidateRun:
    """Run `code` once over every probe (one confined process); a program that never reaches its probes reads
    its status on every probe."""
    result = execute(code, probe_spec(probe_set, case_seconds, output_chars), limits, python)
    return CandidateRun.from_result(result, len(probe_set.probes))


def run_key(code: str, spec_digest: str, limits: Limits, python: str) -> str:
    """The identity of one run: the program's hash + the hash of everything else its outputs depend on (the spec:
    probes, per-probe time limit, output cap; the harness version, the limits and the interpreter). The service's
    execution cache and training's run store both key on it."""
    context = json.dumps([spec_digest, harness_version(), limits.to_dict(), python], sort_keys=True)
    return (hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest() + ":"
            + hashlib.sha256(context.encode()).hexdigest())
