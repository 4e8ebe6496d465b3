"""Paired comparison of two runs: hand-made records whose difference is known by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.compare import CompareError, load_records, paired_difference
from evaluation.records import SelectionRecord


def _record(task: str, seed: int, selected: float, method: str = "pairwise", n: int = 8) -> SelectionRecord:
    return SelectionRecord(method, "knockout", n, seed, task, [True, False], selected)


def test_compare_difference_is_per_problem_and_paired() -> None:
    # judge A wins task 1 on both draws and loses task 2 on one draw; B picks the failing program everywhere
    a = [_record("t/1", 0, 1.0), _record("t/1", 1, 1.0), _record("t/2", 0, 0.0), _record("t/2", 1, 1.0)]
    b = [_record(r.task_id, r.seed, 0.0) for r in a]
    result = paired_difference(a, b, n_boot=2000)
    assert result.problems == 2 and result.draws == 4
    assert result.pass1_a == pytest.approx(0.75) and result.pass1_b == 0.0
    assert result.difference == pytest.approx(0.75)  # mean over problems of (1.0 - 0) and (0.5 - 0)
    lo, hi = result.difference_ci
    assert 0.5 <= lo <= 0.75 <= hi <= 1.0
    assert result.p_a_not_better == 0.0 and (result.problems_a_better, result.problems_b_better) == (2, 0)


def test_compare_only_shared_draws_count() -> None:
    a = [_record("t/1", 0, 1.0), _record("t/1", 1, 1.0)]
    b = [_record("t/1", 0, 1.0), _record("t/2", 0, 0.0), _record("t/1", 0, 0.0, method="pointwise")]
    result = paired_difference(a, b)
    assert result.draws == 1 and result.difference == 0.0 and result.p_a_not_better == 1.0


def test_compare_refuses_runs_without_shared_draws(tmp_path: Path) -> None:
    with pytest.raises(CompareError, match="no shared draws for method=pairwise strategy=knockout n=4"):
        paired_difference([_record("t/1", 0, 1.0)], [_record("t/1", 0, 1.0)], n=4)
    with pytest.raises(CompareError, match=r"has no records\.jsonl"):
        load_records(tmp_path)
    (tmp_path / "records.jsonl").write_text(json.dumps(_record("t/1", 0, 1.0).to_dict()) + "\n")
    assert load_records(tmp_path)[0].task_id == "t/1"


def test_two_methods_of_one_run_compare_on_their_shared_draws() -> None:
    run = [_record("t/1", 0, 1.0, method="exec+judge"), _record("t/2", 0, 0.0, method="exec+judge")]
    run += [SelectionRecord("exec-cluster", "-", 8, seed, task, [True, False], 0.5) for task, seed in
            (("t/1", 0), ("t/2", 0))]
    result = paired_difference(run, run, "exec+judge", "knockout", method_b="exec-cluster", strategy_b="-")
    assert (result.method_b, result.strategy_b, result.draws) == ("exec-cluster", "-", 2)
    assert result.difference == pytest.approx(0.0) and (result.problems_a_better, result.problems_b_better) == (1, 1)
    with pytest.raises(CompareError, match="against method=exec-filter strategy=-"):
        paired_difference(run, run, "exec+judge", "knockout", method_b="exec-filter", strategy_b="-")
