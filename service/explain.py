"""What a response says about execution: each candidate's summary (with its first failure), the clusters, and
the one-line reason the winner won."""

from __future__ import annotations

from dataclasses import dataclass

from daj.probes import CandidateRun, Grouping, ProbeSet, disagreements
from daj.protocol import Disagreement
from service.pipeline import checks_text
from service.planning import ExecutionPlan
from service.protocol import Cluster, ExecutionReport, ExecutionSummary, Failure, ProbeCounts
from service.tournament import Tournament


@dataclass
class Executed:
    """Execution results of one selection, per candidate (request order), and how they group."""

    plan: ExecutionPlan
    probe_set: ProbeSet  # the plan's, which ran (so never None here)
    runs: list[CandidateRun]
    grouping: Grouping
    report: ExecutionReport


def candidate_summary(executed: Executed, index: int) -> ExecutionSummary:
    """Examples and tests passed, and the first failure (input, expected, actual) for repairing the program."""
    return run_summary(executed.runs[index], executed.probe_set)


def run_summary(run: CandidateRun, probe_set: ProbeSet) -> ExecutionSummary:
    """One program's run over a probe set: its checks passed by origin, its first failure, its CPU time."""
    counts = {"example": [0, 0], "test": [0, 0]}
    failure = None
    for i in probe_set.checks:
        probe = probe_set.probes[i]
        counts[probe.origin][1] += 1
        if run.marks[i] == "P":
            counts[probe.origin][0] += 1
        elif failure is None:
            failure = Failure(input=probe.call, expected=probe.expected, actual=run.outputs[i])
    times = [t for t in run.times if t is not None]
    return ExecutionSummary(status=run.status, examples_passed=counts["example"][0],
                            examples_total=counts["example"][1], tests_passed=counts["test"][0],
                            tests_total=counts["test"][1], first_failure=failure,
                            cpu_s=max(times) if times else None, timeouts=run.marks.count("T"))


def execution_report(plan: ExecutionPlan, grouping: Grouping, fresh: int, cached: int,
                     elapsed_s: float) -> ExecutionReport:
    probe_set = plan.probe_set
    assert probe_set is not None
    counts = probe_set.counts()
    top = set(grouping.top_clusters)
    clusters = [Cluster(id=cid, members=members, checks_passed=grouping.checks_passed[members[0]],
                        top_group=cid in top) for cid, members in enumerate(grouping.clusters)]
    return ExecutionReport(
        status="ran", shape=plan.shape, entry_point=plan.entry_point or None, time_limit_s=probe_set.time_limit_s,
        notes=list(plan.notes),
        probes=ProbeCounts(examples=counts["example"], tests=counts["test"], inputs=len(grouping.kept_inputs),
                           dropped_inputs=len(grouping.dropped_inputs)),
        clusters=clusters, runs=fresh, cached_runs=cached, elapsed_ms=round(elapsed_s * 1000, 2),
    )


def unexecuted_report(plan: ExecutionPlan) -> ExecutionReport:
    status = "off" if plan.status == "off" else "skipped"
    return ExecutionReport(status=status, reason=plan.reason, shape=plan.shape, entry_point=plan.entry_point or None,
                           notes=list(plan.notes))


def winner_reason(player: int, executed: Executed | None, report: ExecutionReport, tournament: Tournament) -> str:
    """One line: why the candidate the tournament knows as `player` won."""
    final = next((o for o in reversed(tournament.outcomes) if o.winner == player), None)
    if final is None and tournament.outcomes:
        return f"ranked first by total win probability over {len(tournament.outcomes)} matches"
    if executed is None:
        if final is None:
            return "every candidate is the same program"
        return f"won the judge tournament ({len(tournament.outcomes)} matches; execution {report.status}: " \
               f"{report.reason})"
    grouping = executed.grouping
    passed = checks_text(grouping.checks_passed[player], len(grouping.checks))
    members = grouping.size(player)
    if final is None:
        if grouping.checks:
            return f"the only behaviour cluster passing {passed} ({members} candidate{'s' * (members > 1)})"
        probes = len(grouping.checks) + len(grouping.kept_inputs)
        return f"every candidate behaves the same on all {probes} probes"
    loser = final.loser
    how = {"judge": f"judge, p={max(final.p_first, 1 - final.p_first):.2f}",
           "consensus": f"judge unsure, larger cluster: {members} vs {grouping.size(loser)}",
           "tie_rule": "tie, request order"}[final.decided_by]
    shown = disagreements(executed.probe_set, grouping, executed.runs[player], executed.runs[loser], 1)
    differ = f"; they differ on {_shown_input(shown[0])[:80]}" if shown else ""
    return f"passes {passed}; beat cluster {grouping.cluster_of[loser]} ({how}){differ}"


def _shown_input(item: Disagreement) -> str:
    """A call as written; a standard input on one line (`3 / 1 2 2`)."""
    return " / ".join(line.strip() for line in item.call.strip().splitlines()) if item.stdin else item.call
