"""How programs behaved on one probe set, and what that says: shared by the service (grouping, clustering,
the evidence a judge is shown) and training (the evidence pairs a judge learns from), so both see the same.

- `CandidateRun`: one program over one probe set, a mark (P/F/E/T) and a normalised output text per probe.
- `group_candidates`: the top group by checks passed, inputs every top-group candidate fails to run dropped,
  clusters of identical behaviour.
- `disagreements`: the probes on which two programs differ, checks first, as a judge is shown them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

from daj.probes.probeset import ProbeSet
from daj.protocol import Disagreement


class SandboxOutcome(Protocol):
    """What a sandbox run reports (sandbox.RunResult): read, never imported, so this layer stays below it."""

    status: str
    detail: str
    cases: str
    outputs: list[str]
    times: list[float | None]


@dataclass(frozen=True)
class CandidateRun:
    """One program over one probe set: a mark (P/F/E/T) and an output text per probe.

    When the program never reached its probes (syntax error, crash at import, a limit), every probe reads
    as the run's status, so such programs still cluster together."""

    status: str
    detail: str
    marks: str
    outputs: tuple[str, ...]
    times: tuple[float | None, ...] = ()  # CPU seconds per probe (whole programs only): evidence, never a key

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> CandidateRun:
        data = json.loads(raw)
        return cls(data["status"], data["detail"], data["marks"], tuple(data["outputs"]),
                   tuple(data.get("times") or ()))

    @classmethod
    def from_result(cls, result: SandboxOutcome, probe_count: int) -> CandidateRun:
        if len(result.outputs) == probe_count and len(result.cases) == probe_count:
            times = tuple(result.times) if len(result.times) == probe_count else ()
            return cls(result.status, result.detail, result.cases, tuple(result.outputs), times)
        failure = f"{result.status} {result.detail}".strip() if result.status != "syntax_error" else "syntax_error"
        mark = "T" if result.status == "timeout" else "E"
        return cls(result.status, result.detail, mark * probe_count, (failure,) * probe_count)


FAILED_TO_RUN = ("E", "T")


@dataclass(frozen=True)
class Grouping:
    checks: list[int]  # probe indices of examples and tests
    kept_inputs: list[int]  # probe indices of the inputs used to cluster
    dropped_inputs: list[int]
    checks_passed: list[int]  # per candidate
    clusters: list[list[int]]  # candidate indices, best group first, then larger clusters first
    cluster_of: list[int]  # per candidate
    top_clusters: list[int]  # cluster ids of the top group, in `clusters` order
    informative: bool = True  # some top-group candidate completed a probe (else execution told nothing apart)

    @property
    def best_checks(self) -> int:
        return max(self.checks_passed, default=0)

    @property
    def no_candidate_passes(self) -> bool:
        """There are checks, and no candidate passes them all."""
        return bool(self.checks) and self.best_checks < len(self.checks)

    def size(self, candidate: int) -> int:
        return len(self.clusters[self.cluster_of[candidate]])

    def players(self) -> list[int]:
        """One representative (the first member) per top-group cluster, largest cluster first."""
        return [self.clusters[c][0] for c in self.top_clusters]


def group_candidates(runs: Sequence[CandidateRun], probe_set: ProbeSet) -> Grouping:
    checks = probe_set.checks
    passed = [sum(run.marks[i] == "P" for i in checks) for run in runs]
    best = max(passed, default=0)
    top = [c for c, count in enumerate(passed) if count == best]
    dropped = [i for i in probe_set.inputs if all(runs[c].marks[i] in FAILED_TO_RUN for c in top)]
    kept = [i for i in probe_set.inputs if i not in set(dropped)]
    signatures: dict[tuple[str, ...], list[int]] = {}
    for c, run in enumerate(runs):
        key = tuple(run.marks[i] + run.outputs[i] for i in checks + kept)
        signatures.setdefault(key, []).append(c)
    clusters = sorted(signatures.values(), key=lambda members: (-passed[members[0]], -len(members), members[0]))
    cluster_of = [0] * len(runs)
    for cluster_id, members in enumerate(clusters):
        for c in members:
            cluster_of[c] = cluster_id
    top_clusters = [cid for cid, members in enumerate(clusters) if passed[members[0]] == best]
    informative = any("P" in runs[c].marks for c in top)
    return Grouping(checks, kept, dropped, passed, clusters, cluster_of, top_clusters, informative)


def disagreements(
    probe_set: ProbeSet, grouping: Grouping, run_a: CandidateRun, run_b: CandidateRun, limit: int
) -> list[Disagreement]:
    """Up to `limit` probes on which A and B differ, checks first; A and B as they will be shown."""
    found = []
    for i in grouping.checks + grouping.kept_inputs:
        if (run_a.marks[i], run_a.outputs[i]) == (run_b.marks[i], run_b.outputs[i]):
            continue
        probe = probe_set.probes[i]
        if probe.stdin:
            found.append(Disagreement(probe.call, run_a.outputs[i], run_b.outputs[i], probe.expected, stdin=True,
                                      seconds_a=_time(run_a, i), seconds_b=_time(run_b, i)))
        else:
            found.append(Disagreement(probe.call, run_a.outputs[i], run_b.outputs[i], probe.expected))
        if len(found) >= limit:
            break
    return found


def _time(run: CandidateRun, probe: int) -> float | None:
    return run.times[probe] if probe < len(run.times) else None
