"""The execution-grounded rules: grouping by checks, dropping invalid inputs, clustering, evidence, consensus."""

from __future__ import annotations

from daj.probes import CandidateRun, Probe, ProbeSet, disagreements, group_candidates
from service.pipeline import seeded_order, with_consensus
from service.tournament import MatchOutcome, OrderedVerdict

PROBES = ProbeSet(
    "f",
    "",
    (
        Probe("example", "f(1)", "2"),
        Probe("example", "f(2)", "4"),
        Probe("input", "f(0)"),
        Probe("input", "f(-1)"),
        Probe("input", "f('x')"),
    ),
)


def run(marks: str, outputs: list[str]) -> CandidateRun:
    return CandidateRun("failed", "", marks, tuple(outputs))


def test_top_group_clusters_and_dropped_inputs() -> None:
    runs = [
        run("PPPPE", ["2", "4", "0", "-2", "raise TypeError"]),  # 0: right
        run("PPPPE", ["2", "4", "0", "-2", "raise TypeError"]),  # 1: same behaviour as 0
        run("PPPPE", ["2", "4", "0", "2", "raise TypeError"]),  # 2: passes examples, differs on f(-1)
        run("PFPPE", ["2", "3", "0", "-2", "raise TypeError"]),  # 3: fails an example
        run("EEEEE", ["raise NameError"] * 5),  # 4: crashes
    ]
    grouping = group_candidates(runs, PROBES)
    assert grouping.checks_passed == [2, 2, 2, 1, 0]
    assert grouping.dropped_inputs == [4]  # every top-group candidate raises on f('x')
    assert grouping.kept_inputs == [2, 3]
    assert grouping.clusters[0] == [0, 1] and grouping.clusters[1] == [2]
    assert grouping.top_clusters == [0, 1] and grouping.players() == [0, 2]
    assert grouping.cluster_of[3] == 2 and grouping.cluster_of[4] == 3
    assert not grouping.no_candidate_passes
    shown = disagreements(PROBES, grouping, runs[0], runs[2], limit=3)
    assert [(d.call, d.output_a, d.output_b) for d in shown] == [("f(-1)", "-2", "2")]


def test_no_candidate_passes_ranks_by_checks_passed() -> None:
    runs = [run("FPP", ["1", "4", "0"]), run("FFP", ["1", "5", "0"]), run("PFP", ["2", "5", "0"])]
    probes = ProbeSet("f", "", PROBES.probes[:3])
    grouping = group_candidates(runs, probes)
    assert grouping.no_candidate_passes and grouping.best_checks == 1
    assert sorted(grouping.players()) == [0, 2]


def test_no_checks_puts_everyone_in_the_top_group() -> None:
    probes = ProbeSet("f", "", (Probe("input", "f(0)"), Probe("input", "f(1)")))
    runs = [run("PP", ["0", "1"]), run("PP", ["0", "2"]), run("PP", ["0", "1"])]
    grouping = group_candidates(runs, probes)
    assert grouping.clusters == [[0, 2], [1]] and grouping.top_clusters == [0, 1]
    assert not grouping.no_candidate_passes


def test_an_unsure_judge_defers_to_the_larger_cluster() -> None:
    sure = MatchOutcome(0, (1, 2), 1, 0.9, "judge")
    split = [OrderedVerdict(1, 2, 0.8), OrderedVerdict(2, 1, 0.7)]  # each order prefers the candidate shown first
    assert with_consensus(sure, [OrderedVerdict(1, 2, 0.9), OrderedVerdict(2, 1, 0.1)], (1, 3), 0.1) == sure
    unsure = MatchOutcome(0, (1, 2), 1, 0.55, "judge")
    assert with_consensus(unsure, [OrderedVerdict(1, 2, 0.55)], (1, 3), 0.1).winner == 2
    assert with_consensus(unsure, [OrderedVerdict(1, 2, 0.55)], (1, 3), 0.1).decided_by == "consensus"
    assert with_consensus(unsure, [OrderedVerdict(1, 2, 0.55)], (2, 2), 0.1) == unsure  # equal sizes: judge
    position_biased = MatchOutcome(0, (1, 2), 1, 0.55, "judge")
    assert with_consensus(position_biased, split, (1, 2), 0.0).winner == 2


def test_seeding_meets_the_largest_clusters_last() -> None:
    assert seeded_order([10, 11, 12, 13]) == [10, 13, 11, 12]
    assert seeded_order([10, 11, 12]) == [10, 12, 11]
    assert seeded_order([5]) == [5]


def test_a_consensus_decision_carries_the_cluster_share() -> None:
    unsure = MatchOutcome(0, (1, 2), 1, 0.55, "judge")
    decided = with_consensus(unsure, [OrderedVerdict(1, 2, 0.55)], (1, 3), 0.1)
    assert (decided.winner, decided.p_first, decided.decided_by) == (2, 0.25, "consensus")


def test_candidates_that_complete_no_probe_tell_nothing_apart() -> None:
    runs = [run("EEEEE", ["raise ImportError"] * 5), run("EEEEE", ["raise ImportError"] * 5)]
    assert not group_candidates(runs, PROBES).informative
    runs[1] = run("PEEEE", ["2", "raise X", "raise X", "raise X", "raise X"])
    assert group_candidates(runs, PROBES).informative
