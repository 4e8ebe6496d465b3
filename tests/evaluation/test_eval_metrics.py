"""Metrics on hand-made records whose right answers are worked out by hand in the comments."""

from __future__ import annotations

import math

import pytest

from evaluation.metrics import (
    ProblemStats,
    bootstrap_ci,
    difficulty_bucket,
    global_correlation,
    judgment_credit,
    pearson,
    position_consistency,
    recovery,
    summarize,
    within_prompt_correlation,
)
from evaluation.records import JudgmentRecord, SelectionRecord


def rec(task: str, labels: list[bool], selected: float, **fields) -> SelectionRecord:  # type: ignore[no-untyped-def]
    return SelectionRecord("pairwise", "knockout", len(labels), fields.pop("seed", 0), task, labels, selected, **fields)


def test_recovery_normal_and_edge_cases() -> None:
    assert recovery(0.5, 0.25, 0.75) == pytest.approx(0.5)
    assert recovery(0.25, 0.25, 0.75) == pytest.approx(0.0)
    assert recovery(0.1, 0.25, 0.75) == pytest.approx(-0.3)
    assert recovery(0.0, 0.0, 0.0) is None  # all candidates fail: oracle == random
    assert recovery(1.0, 1.0, 1.0) is None  # all candidates pass: oracle == random
    assert recovery(None, 0.2, 0.5) is None


def test_difficulty_buckets_at_their_boundaries() -> None:
    assert [difficulty_bucket(r) for r in (0.0, 0.29, 0.3, 0.69, 0.7, 1.0)] == [
        "hard",
        "hard",
        "medium",
        "medium",
        "easy",
        "easy",
    ]


def test_pearson_known_values_and_undefined() -> None:
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert pearson([1, 1, 1], [0, 1, 0]) is None
    assert pearson([0.9, 0.1, 0.5, 0.5], [1, 0, 0, 1]) == pytest.approx(0.4 / math.sqrt(0.32 * 1.0))


def test_judgment_credit_on_mixed_pairs_only() -> None:
    labels = [True, False, False]
    names_passing = JudgmentRecord(0, (0, 1), (1, 0), "B", 0.2)  # B is candidate 0, which passes
    names_failing = JudgmentRecord(0, (0, 1), (0, 1), "B", 0.3)
    exact_tie = JudgmentRecord(0, (0, 1), (0, 1), "A", 0.5)
    unparseable = JudgmentRecord(0, (0, 1), (0, 1), "unparseable", None)
    both_fail = JudgmentRecord(0, (1, 2), (1, 2), "A", 0.9)
    assert judgment_credit(names_passing, labels) == 1.0
    assert judgment_credit(names_failing, labels) == 0.0
    assert judgment_credit(exact_tie, labels) == 0.5
    assert judgment_credit(unparseable, labels) == 0.0
    assert judgment_credit(both_fail, labels) is None


def test_position_consistency_counts_matches_judged_in_both_orders() -> None:
    judgments = [
        JudgmentRecord(0, (0, 1), (0, 1), "A", 0.8),
        JudgmentRecord(0, (0, 1), (1, 0), "B", 0.3),  # 0 both times
        JudgmentRecord(0, (2, 3), (2, 3), "A", 0.8),
        JudgmentRecord(0, (2, 3), (3, 2), "A", 0.7),  # always "A"
        JudgmentRecord(1, (0, 2), (0, 2), "A", 0.9),  # one order only: not counted
        JudgmentRecord(2, (0, 3), (0, 3), "A", 0.5),
        JudgmentRecord(2, (0, 3), (3, 0), "A", 0.5),  # no preference
        JudgmentRecord(3, (1, 3), (1, 3), "A", 0.5),
        JudgmentRecord(3, (1, 3), (3, 1), "B", 0.4),  # none, then 1
    ]
    assert position_consistency(judgments) == [True, False, True, False]


def test_summarize_by_hand() -> None:
    # Problem P: two seeds. Seed 0 labels [T, F], the judge picked the passing one (selected 1).
    # Seed 1 labels [F, F] (selected 0). Problem Q: one seed, labels [T, T, F, F], picked a failing one.
    # Per problem: P selected 0.5, random (0.5 + 0)/2 = 0.25, oracle 0.5; Q selected 0, random 0.5, oracle 1.
    # Means over problems: selected 0.25, random 0.375, oracle 0.75 -> recovery (0.25-0.375)/0.375 = -1/3.
    records = [
        rec(
            "P",
            [True, False],
            1.0,
            seed=0,
            matches=1,
            ties=0,
            judge_calls=2,
            scores=[0.9, 0.1],
            judgments=[JudgmentRecord(0, (0, 1), (0, 1), "A", 0.9), JudgmentRecord(0, (0, 1), (1, 0), "B", 0.1)],
        ),
        rec(
            "P",
            [False, False],
            0.0,
            seed=1,
            matches=1,
            ties=1,
            judge_calls=2,
            scores=[0.5, 0.5],
            judgments=[JudgmentRecord(0, (0, 1), (0, 1), "A", 0.6), JudgmentRecord(0, (0, 1), (1, 0), "A", 0.6)],
        ),
        rec(
            "Q",
            [True, True, False, False],
            0.0,
            matches=2,
            ties=0,
            judge_calls=4,
            scores=[0.2, 0.2, 0.8, 0.8],
            judgments=[JudgmentRecord(0, (0, 2), (0, 2), "B", 0.2), JudgmentRecord(0, (1, 3), (1, 3), "B", 0.3)],
        ),
    ]
    row = summarize(records, n_boot=200)
    assert row["problems"] == 2 and row["draws"] == 3
    assert row["selected_pass1"] == pytest.approx(0.25)
    assert row["random_pass1"] == pytest.approx(0.375)
    assert row["oracle_pass1"] == pytest.approx(0.75)
    assert row["recovery"] == pytest.approx(-1 / 3)
    assert row["top1_mixed"] == pytest.approx(0.5)  # mixed draws: P seed 0 (1) and Q (0)
    assert row["mixed_draws"] == 2
    # Mixed judgments: P seed 0, two orders, both name 0 (passes): 1, 1; Q: both name a failing one: 0, 0.
    assert row["pairwise_accuracy"] == pytest.approx(0.5)
    assert row["mixed_judgments"] == 4
    # Both orders: P seed 0 consistent (0 preferred twice); P seed 1 "A" at 0.6 twice = different candidates
    # (and a merged P of exactly 0.5: the tie in P seed 1).
    assert row["position_consistency"] == pytest.approx(0.5)
    assert row["tie_rate"] == pytest.approx(1 / 4)
    assert row["judge_calls_per_selection"] == pytest.approx(8 / 3)
    # Within: P seed 0 r = 1; Q r = -1 (scores exactly opposite the labels' order) -> mean over problems 0.
    assert row["score_label_corr_within"] == pytest.approx(0.0)
    assert row["score_label_corr_within_draws"] == 2


def test_within_prompt_and_global_correlation_differ() -> None:
    # Within each draw the scores rank the labels perfectly, but the easy problem's scores are all lower than
    # the hard one's, so pooled over draws the correlation is even negative.
    records = [
        rec("easy", [True, True, False], 1.0, scores=[0.2, 0.2, 0.1]),
        rec("hard", [True, False, False], 1.0, scores=[0.9, 0.8, 0.8]),
    ]
    within, draws = within_prompt_correlation(records)
    assert within == pytest.approx(1.0) and draws == 2
    # Pooled: scores deviate by -.3 -.3 -.4 .4 .3 .3 and labels by ±.5: r = -0.2 / sqrt(0.68 * 1.5).
    assert global_correlation(records) == pytest.approx(-0.2 / math.sqrt(0.68 * 1.5))


def test_summarize_with_only_all_fail_problems_reports_null_recovery() -> None:
    records = [rec("P", [False, False], 0.0), rec("Q", [False, False, False], 0.0)]
    row = summarize(records, n_boot=100)
    assert row["oracle_pass1"] == row["random_pass1"] == 0.0
    assert row["recovery"] is None and row["recovery_ci"] is None
    assert row["recovery_ci_undefined_resamples"] == 100
    assert row["top1_mixed"] is None and row["pairwise_accuracy"] is None


def test_errors_are_counted_and_left_out() -> None:
    records = [rec("P", [True, False], 1.0), rec("Q", [True, False], 0.0, error="422 context_overflow: too long")]
    row = summarize(records, n_boot=10)
    assert row["errors"] == 1 and row["problems"] == 1 and row["selected_pass1"] == 1.0


def test_bootstrap_ci_contains_the_point_estimate_and_is_reproducible() -> None:
    problems = [
        ProblemStats(f"T{i}", selected=(i % 3) / 2, random=0.3 + 0.01 * (i % 5), oracle=0.5 + 0.05 * (i % 7))
        for i in range(40)
    ]
    ci = bootstrap_ci(problems, n_boot=500, seed=3)
    selected = sum(p.selected for p in problems) / 40
    random_ = sum(p.random for p in problems) / 40
    best = sum(p.oracle for p in problems) / 40
    assert ci.selected is not None and ci.recovery is not None
    assert ci.selected[0] < selected < ci.selected[1]
    assert ci.recovery[0] < recovery(selected, random_, best) < ci.recovery[1]  # type: ignore[operator]
    assert ci.selected[1] - ci.selected[0] > 0.05  # not a degenerate interval
    assert bootstrap_ci(problems, n_boot=500, seed=3) == ci
