"""How a completion's run becomes a status and a reward (pure: no I/O).

A status says what happened, from the run alone (the first that applies):
- syntax_error;
- memory: a MemoryError anywhere (the run, a probe);
- killed: another limit (output included) or a signal;
- timeout: the run, or any check, went past its time;
- passed: every check passed;
- failed: some check failed, or the program raised;
- ran: the item has no checks, and the program completed some input.
`no_code`, `sandbox_error`, `budget_exceeded` and `not_scored` are decided before a run exists
(service/rewards/batch.py).

A reward kind is one function of the completion's facts (`REWARD_KINDS`): a new kind is one function and one entry.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from daj.probes import CandidateRun, Grouping, ProbeSet
from service.rewards.protocol import CompletionStatus, RewardKind

# What the sandbox appends to an output it cut (sandbox/harness.py `_capped`): the cut is marked, never silent.
_CUT = re.compile(r"\.\.\. \[\d+ chars, sha256 [0-9a-f]{12}\]$")
_MEMORY = "MemoryError"
_STOPPED_BY_OUTPUT = ("OutputLimit", "FileSizeLimit")  # the run's detail when a limit on output stopped it
_PROBE_OUTPUT_LIMIT = "output limit"  # a whole program's probe that a limit on output stopped (harness.py)
_PROBE_SIGNAL = "killed signal "  # a whole program's probe that a signal ended


def run_status(run: CandidateRun, probe_set: ProbeSet) -> CompletionStatus:
    """The status of a completion that ran (see the module docstring)."""
    checks = probe_set.checks
    if run.status == "syntax_error":
        return CompletionStatus.SYNTAX_ERROR
    failures = _failure_outputs(run)  # what the sandbox says of a probe that failed to run, never a program's output
    if _MEMORY in run.detail or any(output.endswith(_MEMORY) for output in failures):
        return CompletionStatus.MEMORY
    if run.status == "killed" or any(output == _PROBE_OUTPUT_LIMIT or output.startswith(_PROBE_SIGNAL)
                                     for output in failures):
        return CompletionStatus.KILLED
    if run.status == "timeout" or "T" in (run.marks[i] for i in checks):
        return CompletionStatus.TIMEOUT
    if not checks:
        return CompletionStatus.RAN if any(mark in "PF" for mark in run.marks) else CompletionStatus.FAILED
    return CompletionStatus.PASSED if all(run.marks[i] == "P" for i in checks) else CompletionStatus.FAILED


def _failure_outputs(run: CandidateRun) -> list[str]:
    return [output for mark, output in zip(run.marks, run.outputs, strict=False) if mark == "E"]


def distinct_checks(probe_set: ProbeSet) -> list[int]:
    """The checks a pass rate counts: each distinct check once. A caller's test that repeats a statement example
    (MBPP's prompts show their first assert, which datasets also list as a test) would otherwise weigh double."""
    seen: dict[tuple[str, str | None, bool], int] = {}
    for index in probe_set.checks:
        probe = probe_set.probes[index]
        seen.setdefault((probe.call, probe.expected, probe.statement), index)
    return sorted(seen.values())


def truncated(run: CandidateRun) -> bool:
    """Some output of the run was cut: a probe's output past the length kept, or the run stopped at the output
    (or file size) limit."""
    return (run.detail in _STOPPED_BY_OUTPUT or _PROBE_OUTPUT_LIMIT in _failure_outputs(run)
            or any(_CUT.search(output) for output in run.outputs))


def cluster_shares(grouping: Grouping, runs: Sequence[CandidateRun], completions_with_code: int) -> list[float]:
    """Per run: its behaviour cluster's share of the item's completions that have code. A cluster whose programs
    completed no probe (every probe raised or timed out) agrees on nothing, and gets 0: eight copies of the same
    crash are not a consensus."""
    shares = []
    for index, run in enumerate(runs):
        completed = any(mark in "PF" for mark in run.marks)
        shares.append(grouping.size(index) / completions_with_code if completed and completions_with_code else 0.0)
    return shares


@dataclass(frozen=True)
class Facts:
    """What a reward kind may read about one completion that ran."""

    passed: int
    total: int
    share: float  # its behaviour cluster's share (see cluster_shares)
    judge_score: float | None  # reward=judge only
    weight: float  # the request's agreement_weight

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.total if self.total else None


def _pass_rate(facts: Facts) -> float | None:
    return facts.pass_rate


def _binary(facts: Facts) -> float | None:
    return None if facts.total == 0 else float(facts.passed == facts.total)


def _agreement(facts: Facts) -> float | None:
    return (facts.pass_rate or 0.0) + facts.weight * facts.share


def _judge(facts: Facts) -> float | None:
    return (facts.pass_rate or 0.0) + facts.weight * (facts.judge_score or 0.0)


REWARD_KINDS: dict[RewardKind, Callable[[Facts], float | None]] = {
    RewardKind.PASS_RATE: _pass_rate,
    RewardKind.BINARY: _binary,
    RewardKind.AGREEMENT: _agreement,
    RewardKind.JUDGE: _judge,
}
"""None: the kind has nothing to score by (pass_rate and binary on an item without checks)."""


def reward(kind: RewardKind, facts: Facts) -> float | None:
    value = REWARD_KINDS[kind](facts)
    return None if value is None else round(value, 6)
