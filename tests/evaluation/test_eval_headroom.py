"""`daj headroom`: the simulated judge played through the service's own knockout and combine rule (pure logic),
and the whole command over the real sandbox, checked against the exec-cluster evaluation on the same draws."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from daj.pools import Pool, write_pools
from evaluation.backends import ExecutionBackend
from evaluation.cli import app
from evaluation.headroom import (
    RULES,
    DrawOutcomes,
    Leaf,
    Point,
    knockout_leaves,
    mixed_match_accuracy,
    needed_accuracy,
)
from evaluation.methods import ExecutionSelector
from evaluation.records import JudgmentRecord, SelectionRecord
from evaluation.sampling import make_draws

JUDGE_DECIDES, CONSENSUS_FIRST = RULES["judge decides"], RULES["consensus first"]


def expected(leaves: list[Leaf], accuracy: float) -> float:
    return DrawOutcomes("T/0", 0, True, 0.0, 0.0, 1.0, True, {"r": leaves}).expected("r", accuracy)


def test_one_mixed_match_is_won_with_the_judges_accuracy() -> None:
    leaves = knockout_leaves([0, 1], [False, True], {0: 0.0, 1: 1.0}, None, JUDGE_DECIDES)
    assert sorted(leaves, key=lambda leaf: leaf.value) == [Leaf(0, 1, 0.0), Leaf(1, 0, 1.0)]
    assert expected(leaves, 0.8) == pytest.approx(0.8)


def test_a_passing_player_must_win_every_mixed_match_on_its_way() -> None:
    labels = [True, False, False, False]
    values = {p: float(labels[p]) for p in range(4)}
    leaves = knockout_leaves([0, 1, 2, 3], labels, values, None, JUDGE_DECIDES)
    assert expected(leaves, 0.7) == pytest.approx(0.7**2)
    assert expected(leaves, 1.0) == pytest.approx(1.0)


def test_consensus_first_gives_the_judge_only_clusters_of_the_same_size() -> None:
    labels, values = [False, True], {0: 0.0, 1: 1.0}
    larger_fails = knockout_leaves([0, 1], labels, values, {0: 3, 1: 1}, CONSENSUS_FIRST)
    assert expected(larger_fails, 1.0) == 0.0  # the larger cluster wins whatever the judge says
    assert expected(knockout_leaves([0, 1], labels, values, {0: 3, 1: 1}, JUDGE_DECIDES), 1.0) == 1.0
    same_size = knockout_leaves([0, 1], labels, values, {0: 2, 1: 2}, CONSENSUS_FIRST)
    assert expected(same_size, 0.6) == pytest.approx(0.6)


def test_a_win_is_worth_the_clusters_pass_rate() -> None:
    leaves = knockout_leaves([0, 1], [True, False], {0: 0.5, 1: 0.0}, None, JUDGE_DECIDES)
    assert expected(leaves, 1.0) == pytest.approx(0.5)


def test_a_real_judges_accuracy_merges_its_two_orders_and_skips_same_label_matches() -> None:
    judgments = [
        JudgmentRecord(0, (0, 1), (0, 1), "A", 0.9),  # P(0) = 0.9
        JudgmentRecord(0, (0, 1), (1, 0), "A", 0.7),  # P(0) = 0.3 -> mean 0.6: right (0 passes)
        JudgmentRecord(0, (2, 3), (2, 3), "B", 0.2),  # P(2) = 0.2: wrong (2 passes)
        JudgmentRecord(1, (0, 4), (0, 4), "A", 0.9),  # both pass: not a mixed match
        JudgmentRecord(1, (0, 3), (0, 3), "A", 0.5),  # a tie: half
    ]
    record = SelectionRecord("exec+judge", "knockout", 5, 0, "T/0", [True, False, True, False, True], 1.0,
                             judgments=judgments)
    accuracy, matches = mixed_match_accuracy([record])
    assert matches == 3
    assert accuracy == pytest.approx((1 + 0 + 0.5) / 3)


def test_the_needed_accuracy_asks_for_the_mean_and_for_a_ci_above_zero() -> None:
    points = [Point("r", 0.5, 0.40, 0.000, (-0.01, 0.01)), Point("r", 0.6, 0.42, 0.020, (-0.001, 0.04)),
              Point("r", 0.7, 0.43, 0.030, (0.01, 0.05))]
    assert needed_accuracy(points, 0.02) == (0.6, 0.7)
    assert needed_accuracy(points, 0.05) == (None, None)


def _pool() -> Pool:
    """One problem the sandbox can run: three right programs (two of them the same text), two that pass the
    example but go wrong on other inputs, one that fails the example."""
    problem = 'def add_one(x: int) -> int:\n    """Return x plus one.\n    >>> add_one(1)\n    2\n    """\n'
    right = ["def add_one(x: int) -> int:\n    return x + 1\n",
             "def add_one(x: int) -> int:\n    return 1 + x\n",
             "def add_one(x: int) -> int:\n    return x + 1\n"]
    wrong = ["def add_one(x: int) -> int:\n    return 2\n",
             "def add_one(x: int) -> int:\n    return x * 2\n",
             "def add_one(x: int) -> int:\n    return x\n"]
    return Pool("T/0", problem, right + wrong, [True] * 3 + [False] * 3, "hand-made")


def test_headroom_runs_the_real_sandbox_and_agrees_with_exec_cluster(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAJ_CACHE_DIR", str(tmp_path / "cache"))
    pool = _pool()
    pools = tmp_path / "pools.jsonl"
    write_pools(pools, [pool])
    # A judge's exec+judge run on the same draw: one mixed match, both orders right (position 0 is right).
    judged = tmp_path / "judged"
    judged.mkdir()
    draw = make_draws([pool], [6], [0])[0][0]
    labels = [bool(pool.passed[i]) for i in draw.indices]
    right, wrong = labels.index(True), labels.index(False)
    judgments = [JudgmentRecord(0, (right, wrong), (right, wrong), "A", 0.8),
                 JudgmentRecord(0, (right, wrong), (wrong, right), "B", 0.3)]
    record = SelectionRecord("exec+judge", "knockout", 6, 0, "T/0", labels, 1.0, judgments=judgments)
    (judged / "records.jsonl").write_text(json.dumps(record.to_dict()) + "\n")
    out = tmp_path / "headroom"
    result = CliRunner().invoke(app, ["headroom", "--pools", str(pools), "--n", "6", "--seeds", "1",
                                      "--out", str(out), "--n-boot", "200", "--judged", str(judged)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert [(j["name"], j["matches"], j["accuracy"], j["pass1"]) for j in report["judges"]] == [
        ("judged", 1, 1.0, 1.0)]
    assert (out / "headroom.png").stat().st_size > 0
    assert report["executed"] == 1

    async def exec_cluster() -> float:
        backend = await ExecutionBackend.start(6)
        try:
            draws, _ = make_draws([pool], [6], [0])
            record = await ExecutionSelector("exec-cluster", backend).select(pool, draws[0])
            return record.selected
        finally:
            await backend.close()

    # The largest behaviour cluster is the three right programs: exec-cluster is right, and so is a judge that
    # defers to it; a judge that decides every match must win each mixed match it plays to keep that.
    assert report["exec_cluster"] == pytest.approx(asyncio.run(exec_cluster())) == pytest.approx(1.0)
    by_rule = {rule: {round(p["accuracy"], 2): p["pass1"] for p in points} for rule, points in report["curves"].items()}
    assert all(math.isclose(value, 1.0) for value in by_rule["consensus first"].values())
    assert by_rule["judge decides"][1.0] == pytest.approx(1.0)
    assert by_rule["judge decides"][0.5] < 1.0
    assert report["needed"]["judge decides"][0] is None  # no gain over a right consensus is possible


def test_headroom_names_a_judged_run_without_records_before_running_anything(tmp_path: Path) -> None:
    pools = tmp_path / "pools.jsonl"
    write_pools(pools, [_pool()])
    empty = tmp_path / "not-a-run"
    empty.mkdir()
    result = CliRunner().invoke(app, ["headroom", "--pools", str(pools), "--n", "6", "--out", str(tmp_path / "o"),
                                      "--judged", str(empty)])
    assert result.exit_code == 2
    assert "not-a-run has no records.jsonl" in result.output
    assert not (tmp_path / "o").exists()
