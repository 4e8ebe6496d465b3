"""Pools with `info` (e.g. `daj pools lcb`): the report's breakdown by platform, difficulty, split and labels, the
`first` baseline, and the rotation that shows a pool of exactly N candidates in every order."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from _eval_fakes import make_pool, read_report

from daj.pools import Pool, write_pools
from evaluation.methods import FirstSelector, selector_specs
from evaluation.report import build_report, write_report
from evaluation.runner import EvalConfig, run_eval
from evaluation.sampling import Draw, draw_indices, make_draws


def _pool(task_id: str, passed: list[bool], **info: object) -> Pool:
    pool = make_pool(task_id, passed)
    pool.info = dict(info)
    return pool


def _info_pools() -> list[Pool]:
    artifact = [None, "threaded program graded on an empty output (grader artifact)"]
    return [
        _pool("L/0", [True, False], platform="atcoder", difficulty="easy", split="meta", label_notes=[None, None]),
        _pool("L/1", [False, True], platform="atcoder", difficulty="hard", split="test", label_notes=[None, None]),
        _pool("L/2", [True, False], platform="leetcode", difficulty="hard", split="test", label_notes=artifact),
        _pool("L/3", [False, False], platform="leetcode", difficulty="medium", split="meta", label_notes=[None, None]),
    ]


def test_a_pool_of_exactly_n_is_shown_in_rotation_seed() -> None:
    assert [draw_indices("lcb/1", 2, 2, seed) for seed in range(3)] == [(0, 1), (1, 0), (0, 1)]
    assert [draw_indices("T", 3, 3, seed) for seed in range(3)] == [(0, 1, 2), (1, 2, 0), (2, 0, 1)]
    # Fewer than the pool: the random sample, unchanged (the committed runs' draws).
    assert draw_indices("T", 5, 4, 1) == tuple(random.Random("1:T:4").sample(range(5), 4))


def test_first_picks_the_lowest_pool_index_wherever_it_is_shown() -> None:
    pool = make_pool("T/0", [False, True, True])
    for seed in range(3):
        draw = Draw("T/0", 3, seed, draw_indices("T/0", 3, 3, seed))
        record = asyncio.run(FirstSelector().select(pool, draw))
        assert record.selected == 0.0 and draw.indices[record.picked or 0] == 0
    record = asyncio.run(FirstSelector().select(pool, Draw("T/0", 2, 0, (2, 1))))
    assert (record.selected, record.picked) == (1.0, 1)  # pool index 1 is the first of the draw
    assert ("first", "-") in selector_specs(["first"], ["knockout"])
    assert ("first", "-") not in selector_specs(["majority"], ["knockout"])


def test_report_breaks_results_down_by_pool_info(tmp_path: Path) -> None:
    pools = tmp_path / "lcb.jsonl"
    write_pools(pools, _info_pools())
    out = tmp_path / "out"
    config = EvalConfig(pools=(pools,), out=out, ns=(2,), seeds=2, methods=("first",), n_boot=50)
    outcome = run_eval(config)
    draws, _ = make_draws(outcome.pools, (2,), range(2))
    assert {d.indices for d in draws} == {(0, 1), (1, 0)}  # both orders of every pool
    write_report(build_report(outcome, "test"), out)
    report = read_report(out)
    assert report["info_breakdowns"] == {
        "platform": {"atcoder": 2, "leetcode": 2},
        "difficulty": {"easy": 1, "medium": 1, "hard": 2},
        "split": {"meta": 2, "test": 2},
        "labels": {"clean": 3, "artifact": 1},
    }
    rows = {(r["method"], r["by"], r["value"]): r for r in report["results_by_info"]}
    assert {method for method, _, _ in rows} == {"random", "oracle", "first"}
    main = {r["method"]: r for r in report["results"]}
    assert main["first"]["selected_pass1"] == pytest.approx(0.5)  # L/0 and L/2 pass with candidate 0
    assert main["random"]["selected_pass1"] == pytest.approx(0.375)
    first_hard = rows[("first", "difficulty", "hard")]
    assert first_hard["problems"] == 2 and first_hard["selected_pass1"] == pytest.approx(0.5)
    assert first_hard["oracle_pass1"] == pytest.approx(1.0) and first_hard["random_pass1"] == pytest.approx(0.5)
    assert first_hard["recovery"] == pytest.approx(0.0) and first_hard["selected_pass1_ci"] is not None
    assert rows[("first", "labels", "artifact")]["selected_pass1"] == pytest.approx(1.0)
    assert rows[("first", "labels", "clean")]["problems"] == 3
    assert rows[("first", "platform", "leetcode")]["recovery"] == pytest.approx(1.0)
    assert rows[("oracle", "split", "meta")]["selected_pass1"] == pytest.approx(0.5)
    # Every row has the main table's columns.
    assert set(main["first"]) <= set(first_hard) | {"bucket"}
    md = (out / "report.md").read_text()
    assert "## By pool info" in md and "| first | 2 | labels | artifact | 1 | 100.0" in md
    assert "## By difficulty (pool pass rate" in md  # the bucket table stays


def test_pools_without_info_get_no_breakdown(small_pools: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    outcome = run_eval(EvalConfig(pools=(small_pools,), out=out, ns=(2,), seeds=1, methods=("majority",), n_boot=20))
    report = build_report(outcome, "test")
    assert report["results_by_info"] == [] and report["info_breakdowns"] == {}
    write_report(report, out)
    assert "By pool info" not in (out / "report.md").read_text()
