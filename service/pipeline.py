"""The execution-grounded selection rules (pure, no I/O): group, cluster, show evidence, combine with consensus.

1. Group by the checks (statement examples and caller tests) each candidate passes: the candidates that pass
   the most form the top group (with no checks, everyone is in it).
2. Drop every generated or caller input on which all top-group candidates raise or time out: it probably breaks
   the specification's preconditions. If no top-group candidate completes a single probe (all fail to import,
   say), execution told nothing apart: the selection falls back to the judge alone.
3. Cluster candidates by behaviour: the same mark and output on every probe kept. Identical behaviour is judged
   once: the tournament runs over one representative per top-group cluster, largest cluster first.
4. Each judged pair is shown up to K inputs on which the two disagree (checks first), with both outputs.
5. A match the judge is unsure of (probability within `margin` of 0.5, or its two orders disagree) goes to the
   larger cluster: a weak judge must not throw the consensus signal away. Its probability is then the larger
   cluster's share of the two clusters' candidates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from daj.probes import ProbeSet
from daj.protocol import Disagreement
from service.execution import CandidateRun
from service.tournament import MatchOutcome, OrderedVerdict

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


def seeded_order(players: Sequence[int]) -> list[int]:
    """Knockout seeding from a best-first list: 1st v last, 2nd v second-to-last, ... so the largest clusters
    meet as late as possible."""
    ordered, low, high = [], 0, len(players) - 1
    while low <= high:
        ordered.append(players[low])
        if low != high:
            ordered.append(players[high])
        low, high = low + 1, high - 1
    return ordered


def disagreements(
    probe_set: ProbeSet, grouping: Grouping, run_a: CandidateRun, run_b: CandidateRun, limit: int
) -> list[Disagreement]:
    """Up to `limit` probes on which A and B differ, checks first; A and B as they will be shown."""
    found = []
    for i in grouping.checks + grouping.kept_inputs:
        if (run_a.marks[i], run_a.outputs[i]) == (run_b.marks[i], run_b.outputs[i]):
            continue
        probe = probe_set.probes[i]
        found.append(Disagreement(probe.call, run_a.outputs[i], run_b.outputs[i], probe.expected))
        if len(found) >= limit:
            break
    return found


def orders_disagree(pair: tuple[int, int], verdicts: Sequence[OrderedVerdict]) -> bool:
    """The orders name different winners (position bias): the judge has no real preference."""
    first = pair[0]
    sides = set()
    for verdict in verdicts:
        if verdict.p_first is None or verdict.p_first == 0.5:
            continue
        p = verdict.p_first if verdict.first == first else 1.0 - verdict.p_first
        sides.add(p > 0.5)
    return len(sides) > 1


def with_consensus(
    outcome: MatchOutcome, verdicts: Sequence[OrderedVerdict], sizes: tuple[int, int], margin: float
) -> MatchOutcome:
    """The judge's outcome, unless it is unsure and one cluster is larger: then the larger cluster wins, with
    its share of the two clusters' candidates as the match probability (so a round robin, which ranks by
    summed probability, follows the consensus too)."""
    unsure = abs(outcome.p_first - 0.5) <= margin or orders_disagree(outcome.pair, verdicts)
    if not unsure or sizes[0] == sizes[1]:
        return outcome
    winner = outcome.pair[0] if sizes[0] > sizes[1] else outcome.pair[1]
    return MatchOutcome(outcome.round, outcome.pair, winner, sizes[0] / (sizes[0] + sizes[1]), "consensus")


def checks_text(passed: int, total: int) -> str:
    return f"{passed}/{total} examples and tests"
