"""`daj eval --false-fails`: how often daj's own parsed examples fail a program the benchmark accepts.

Every labelled-passing candidate of every pool runs on the examples daj parses from the statement (the probe set
`daj.probes.shapes.plan_probes` builds, its examples only), in the sandbox, under the limits the service's
default settings give it (one at a time, so no other run competes for the CPU). A passing
program that fails one of them is a false fail: the parser misread a sample, the comparison is too strict, or the
sandbox lacks something the program needs. Each one is listed with the example it failed and what it printed.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from daj.hardware import machine_record
from daj.pools import Pool
from daj.probes import CandidateRun, ProbeSet
from daj.probes.shapes import ShapeRequest, plan_probes
from sandbox import Limits, RunResult, TestSpec, execute, probe_spec, run_limits

CASE_SECONDS = 0.5  # the service's default per-call limit (functions and methods); whole programs carry their own
OUTPUT_CHARS = 200
LIMITS = Limits(wall_seconds=10.0, cpu_seconds=5.0)  # the service's defaults (DAJ_EXECUTION_WALL_S, _CPU_S)
BUDGET_SECONDS = 30.0  # DAJ_EXECUTION_BUDGET_S


@dataclass(frozen=True)
class FalseFail:
    task_id: str
    candidate: int
    status: str
    example: str
    expected: str | None
    actual: str

    def to_dict(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "candidate": self.candidate, "status": self.status,
                "example": self.example[:200], "expected": (self.expected or "")[:200], "actual": self.actual[:200]}


def examples_only(pool: Pool) -> ProbeSet | None:
    """The pool's probe set as the service would build it, cut to the statement's examples."""
    probe_set = plan_probes(ShapeRequest.of(pool.problem, pool.candidates)).probe_set
    if probe_set is None:
        return None
    examples = tuple(p for p in probe_set.probes if p.origin == "example")
    return replace(probe_set, probes=examples) if examples else None


def _run(code: str, spec: TestSpec, probe_set: ProbeSet) -> RunResult:
    """One program on its examples, under the limits the service's defaults give that run."""
    return execute(code, spec, run_limits(probe_set, LIMITS, CASE_SECONDS, BUDGET_SECONDS))


def false_fails(pools: list[Pool]) -> dict[str, Any]:
    """The share of accepted programs that fail daj's parsed examples, by platform, with every case named."""
    jobs, where = [], []
    for pool in pools:
        probe_set = examples_only(pool)
        if probe_set is None:
            continue
        for index, (code, passed) in enumerate(zip(pool.candidates, pool.passed, strict=True)):
            if passed:
                jobs.append((code, probe_spec(probe_set, CASE_SECONDS, OUTPUT_CHARS)))
                where.append((pool, index, probe_set))
    accepted = sum(bool(p) for pool in pools for p in pool.passed)
    results = [_run(code, spec, probe_set) for (code, spec), (_, _, probe_set)
               in tqdm(zip(jobs, where, strict=True), total=len(jobs), desc="accepted programs on daj's examples")]
    found: list[FalseFail] = []
    by_platform: Counter[str] = Counter()
    checked: Counter[str] = Counter()
    for (pool, index, probe_set), result in zip(where, results, strict=True):
        platform = str(pool.info.get("platform", "all"))
        checked[platform] += 1
        run = CandidateRun.from_result(result, len(probe_set.probes))
        failed = next((i for i, mark in enumerate(run.marks) if mark != "P"), None)
        if failed is None:
            continue
        probe = probe_set.probes[failed]
        by_platform[platform] += 1
        found.append(FalseFail(pool.task_id, index, result.status, probe.call, probe.expected, run.outputs[failed]))
    runs = sum(checked.values())
    return {
        "accepted_programs": accepted,
        "checked_programs": runs,
        "without_examples": accepted - runs,
        "false_fails": len(found),
        "false_fail_rate": len(found) / runs if runs else None,
        "by_platform": {p: {"checked": checked[p], "false_fails": by_platform[p]} for p in sorted(checked)},
        "cases": [case.to_dict() for case in found],
        "machine": machine_record(),
    }


def write_false_fails(report: dict[str, Any], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "false_fails.json", out / "false_fails.md"
    json_path.write_text(json.dumps(report, indent=1) + "\n")
    rate = report["false_fail_rate"]
    found = (f"{report['false_fails']} of {report['checked_programs']} accepted programs with parsed examples "
             f"fail one ({100 * rate:.2f}%)" if rate is not None else "No accepted program has parsed examples")
    lines = ["# Accepted programs that fail daj's parsed examples", "",
             f"{found}; {report['without_examples']} accepted programs have no parsed example.", "",
             "| platform | checked | false fails |", "|---|---|---|"]
    lines += [f"| {p} | {row['checked']} | {row['false_fails']} |" for p, row in report["by_platform"].items()]
    lines += ["", "| task | candidate | status | example | expected | actual |", "|---|---|---|---|---|---|"]
    for case in report["cases"]:
        cells = [case["task_id"], str(case["candidate"]), case["status"],
                 *(json.dumps(case[k])[:80] for k in ("example", "expected", "actual"))]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    md_path.write_text("\n".join(lines) + "\n")
    return [json_path, md_path]
