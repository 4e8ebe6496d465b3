"""The runner end to end without vLLM: real SelectionService, scripted judge (see conftest.py)."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest
from _eval_fakes import FakeJudge, make_pool, read_report
from typer.testing import CliRunner

from daj.pools import PoolFormatError, write_pools
from evaluation.cli import app
from evaluation.methods import MajoritySelector, majority_groups
from evaluation.report import build_report, write_report
from evaluation.runner import EvalConfig, EvalConfigError, load_pools, run_eval
from evaluation.sampling import Draw, draw_indices, make_draws


def config(pools: Path, out: Path, **overrides) -> EvalConfig:  # type: ignore[no-untyped-def]
    base = {
        "ns": (2, 4),
        "strategies": ("knockout", "round_robin"),
        "seeds": 3,
        "methods": ("majority", "pointwise", "pairwise"),
        "n_boot": 200,
    }
    return EvalConfig(pools=(pools,), out=out, **{**base, **overrides})


def test_draws_are_fixed_and_match_the_sandbox_baselines_scheme() -> None:
    first = draw_indices("HumanEval/7", 100, 8, seed=2)
    assert first == draw_indices("HumanEval/7", 100, 8, seed=2)
    assert first == tuple(random.Random("2:HumanEval/7:8").sample(range(100), 8))
    assert len(set(first)) == 8 and first != draw_indices("HumanEval/7", 100, 8, seed=3)


def test_every_method_sees_the_same_draws(small_pools: Path, tmp_path: Path, fake_judge: FakeJudge) -> None:
    outcome = run_eval(config(small_pools, tmp_path / "out"), backend_factory=fake_judge)
    by_draw: dict[tuple[str, int, int], set[tuple[bool, ...]]] = {}
    methods: dict[tuple[str, int, int], set[str]] = {}
    for record in outcome.records:
        key = (record.task_id, record.n, record.seed)
        by_draw.setdefault(key, set()).add(tuple(record.labels))
        methods.setdefault(key, set()).add(f"{record.method}/{record.strategy}")
    assert all(len(labels) == 1 for labels in by_draw.values())  # one set of drawn labels per draw
    assert all(len(m) == 6 for m in methods.values())  # random, oracle, majority, pointwise, knockout, round robin
    assert len(by_draw) == 4 * 2 * 3


def test_the_scripted_judge_recovers_the_oracle(small_pools: Path, tmp_path: Path, fake_judge: FakeJudge) -> None:
    out = tmp_path / "out"
    outcome = run_eval(config(small_pools, out), backend_factory=fake_judge)
    write_report(build_report(outcome, "test"), out)
    report = read_report(out)
    rows = {(r["method"], r["strategy"], r["n"]): r for r in report["results"]}
    knockout = rows[("pairwise", "knockout", 4)]
    # Pools T/0..T/3 at N=4 are the whole pool: oracle = mean(1, 1, 0, 1) = 0.75, random = mean(.25, .75, 0, 1).
    assert knockout["oracle_pass1"] == pytest.approx(0.75)
    assert knockout["random_pass1"] == pytest.approx(0.5)
    assert knockout["selected_pass1"] == pytest.approx(0.75)
    assert knockout["recovery"] == pytest.approx(1.0)
    assert knockout["pairwise_accuracy"] == pytest.approx(1.0) and knockout["position_consistency"] == 1.0
    assert knockout["judge_calls_per_selection"] == pytest.approx(6.0)  # 3 matches x 2 orders
    assert rows[("pairwise", "round_robin", 4)]["judge_calls_per_selection"] == pytest.approx(12.0)
    assert rows[("pointwise", "-", 4)]["selected_pass1"] == pytest.approx(0.75)
    assert rows[("random", "-", 4)]["recovery"] == pytest.approx(0.0)
    assert rows[("oracle", "-", 4)]["recovery"] == pytest.approx(1.0)
    for key in (
        "selected_pass1",
        "random_pass1",
        "oracle_pass1",
        "recovery",
        "recovery_ci",
        "judge_calls_per_selection",
        "tie_rate",
        "score_label_corr_within",
        "score_label_corr_global",
    ):
        assert key in knockout
    # All-fail T/2 and all-pass T/3 make every match there a tie (both or neither marked).
    assert 0 < knockout["tie_rate"] < 1
    buckets = {(r["bucket"], r["problems"]) for r in report["results_by_difficulty"] if r["method"] == "random"}
    assert buckets == {("hard", 2), ("easy", 2)}  # pass rates 0.25 and 0 are hard, 0.75 and 1 easy
    assert (out / "report.md").read_text().count("pairwise (knockout)") >= 2
    assert (out / "pass_at_1_vs_n.png").stat().st_size > 1000 and (out / "judge_calls_vs_n.png").exists()


def test_resume_does_no_new_work(small_pools: Path, tmp_path: Path, fake_judge: FakeJudge) -> None:
    out = tmp_path / "out"
    first = run_eval(config(small_pools, out), backend_factory=fake_judge)
    calls = fake_judge.engine.calls + fake_judge.scorer.calls
    assert first.new_selections == 6 * 4 * 2 * 3 and calls > 0 and fake_judge.started == 1
    again = run_eval(config(small_pools, out), backend_factory=fake_judge)
    assert again.new_selections == 0
    assert fake_judge.engine.calls + fake_judge.scorer.calls == calls and fake_judge.started == 1  # no engine
    assert [r.to_dict() for r in again.records] == [r.to_dict() for r in first.records]


def test_resume_after_an_interrupted_run_finishes_only_the_rest(
    small_pools: Path, tmp_path: Path, fake_judge: FakeJudge
) -> None:
    out = tmp_path / "out"
    run_eval(config(small_pools, out, max_problems=2), backend_factory=fake_judge)
    records = out / "records.jsonl"
    records.write_text(records.read_text() + '{"method": "pairwise", "strat')  # a line cut off by a kill
    outcome = run_eval(config(small_pools, out), backend_factory=fake_judge)
    assert outcome.new_selections == 6 * 2 * 2 * 3  # only problems T/2 and T/3
    assert len(outcome.records) == 6 * 4 * 2 * 3


def test_another_judge_configuration_is_refused(small_pools: Path, tmp_path: Path, fake_judge: FakeJudge) -> None:
    out = tmp_path / "out"
    run_eval(config(small_pools, out, methods=("majority",)), backend_factory=fake_judge)
    with pytest.raises(EvalConfigError, match="orders"):
        run_eval(config(small_pools, out, methods=("majority",), orders="single"), backend_factory=fake_judge)


def test_pools_with_fewer_than_n_candidates_are_reported(tmp_path: Path, fake_judge: FakeJudge) -> None:
    pools = tmp_path / "pools.jsonl.gz"
    write_pools(pools, [make_pool("T/0", [True, False, False, False]), make_pool("T/1", [True, False, True])])
    out = tmp_path / "out"
    outcome = run_eval(config(pools, out, ns=(2, 4), methods=("majority",)), backend_factory=fake_judge)
    report = build_report(outcome, "test")
    assert report["short_pools"]["count"] == 1
    assert report["short_pools"]["items"] == [{"task_id": "T/1", "n": 4, "size": 3}]
    rows = {(r["method"], r["n"]): r for r in report["results"]}
    assert rows[("random", 2)]["problems"] == 2 and rows[("random", 4)]["problems"] == 1
    draws, short = make_draws(outcome.pools, (4,), range(2))
    assert {d.task_id for d in draws} == {"T/0"} and len(short) == 1


def test_malformed_pool_line_names_file_line_and_field(small_pools: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl.gz"
    lines = small_pools.read_text().splitlines()
    broken = json.loads(lines[2])
    broken["passed"] = broken["passed"][:-1]
    with gzip.open(bad, "wt") as fh:
        fh.write("\n".join([lines[0], lines[1], json.dumps(broken), lines[3]]) + "\n")
    with pytest.raises(PoolFormatError, match=r"bad\.jsonl\.gz:3: field 'passed'"):
        load_pools([bad])
    result = CliRunner().invoke(
        app, ["eval", "--pools", str(bad), "--out", str(tmp_path / "o"), "--methods", "majority", "--n", "2"]
    )
    assert result.exit_code == 2
    assert "bad.jsonl.gz:3: field 'passed'" in result.output


def test_majority_breaks_ties_between_groups_as_an_expected_value() -> None:
    same = "def f():\n    return 1\n"
    reformatted = "def f():\n\n    return (1)  # a comment\n"  # the same AST
    codes = [same, reformatted, "def f():\n    return 2\n", "def f():\n    return 2\n", "def f():\n    return 3\n"]
    assert majority_groups(codes) == [[0, 1], [2, 3], [4]]
    pool = make_pool("T/9", [True] * 5)
    pool.candidates[:] = codes
    pool.passed[:] = [True, True, False, False, False]
    draw = Draw("T/9", 5, 0, (0, 1, 2, 3, 4))
    import asyncio

    record = asyncio.run(MajoritySelector().select(pool, draw))
    assert record.selected == pytest.approx(0.5)  # two groups of 2 tie: one passes, one fails
    assert record.scores == [2.0, 2.0, 2.0, 2.0, 1.0]


def test_cli_runs_baselines_and_writes_the_report(small_pools: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "--pools",
            str(small_pools),
            "--out",
            str(out),
            "--methods",
            "majority",
            "--n",
            "2,4",
            "--seeds",
            "2",
            "--n-boot",
            "50",
        ],
    )
    assert result.exit_code == 0, result.output
    report = read_report(out)
    assert {(r["method"], r["n"]) for r in report["results"]} == {
        (m, n) for m in ("random", "oracle", "majority") for n in (2, 4)
    }
    assert report["draws"] == 4 * 2 * 2 and report["config"]["seeds"] == 2


def test_one_half_of_the_meta_split(tmp_path: Path) -> None:
    from daj.pools import meta_half

    path = tmp_path / "meta.jsonl"
    ids = ["HumanEval/0", "HumanEval/8", "HumanEval/12", "HumanEval/16"]  # outer, tuning, outer, tuning
    write_pools(path, [make_pool(task_id, [True, False]) for task_id in ids])
    assert [meta_half(task_id) for task_id in ids] == ["outer", "tuning", "outer", "tuning"]
    assert [p.task_id for p in load_pools([path], half="tuning").pools] == ["HumanEval/8", "HumanEval/16"]
    assert [p.task_id for p in load_pools([path], half="outer").pools] == ["HumanEval/0", "HumanEval/12"]
    assert len(load_pools([path]).pools) == 4


def test_exec_judge_refuses_a_sandbox_that_failed_its_self_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Otherwise the service falls back to the judge alone and `exec+judge` would report another method."""
    import asyncio

    import evaluation.backends as backends
    import service.embedded

    class Unavailable:
        available, error = False, "self-check gave timeout '' []"

        def close(self) -> None:
            return None

    async def unavailable_executor(settings: object, metrics: object) -> Unavailable:
        return Unavailable()

    def no_engine(settings: object) -> None:
        raise AssertionError("the engine must not load when the run cannot be what it claims")

    monkeypatch.setattr(backends, "start_executor", unavailable_executor)
    monkeypatch.setattr(service.embedded, "build_engine", no_engine)
    options = backends.JudgeOptions()
    with pytest.raises(RuntimeError, match=r"sandbox is unavailable here .*timeout.*judge-only"):
        asyncio.run(backends.InProcessBackend.start("tiny", options, 8, require_execution=True))
    with pytest.raises(AssertionError, match="engine must not load"):  # without exec+judge it goes on to the engine
        asyncio.run(backends.InProcessBackend.start("tiny", options, 8))
