"""Merging pools across policy models: candidates concatenate per task, mismatched problems are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from daj.pools import Pool, merge_pools, read_pools, write_pools
from daj_cli.main import app


def _pool(task: str, code: str, passed: bool, source: str, problem: str = "def f(x):\n") -> Pool:
    return Pool(task, problem, [code], [passed], source)


def test_merge_concatenates_candidates_per_task_in_input_order() -> None:
    first = [_pool("H/1", "a1", True, "m1"), _pool("H/2", "b1", False, "m1")]
    second = [_pool("H/2", "b2", True, "m2"), _pool("H/1", "a2", False, "m2"), _pool("H/3", "c2", True, "m2")]
    merged = merge_pools([first, second])
    assert [p.task_id for p in merged] == ["H/1", "H/2", "H/3"]
    assert (merged[0].candidates, merged[0].passed) == (["a1", "a2"], [True, False])
    assert merged[1].pass_rate == 0.5 and merged[0].source == "m1 + m2" and merged[2].candidates == ["c2"]
    assert first[0].candidates == ["a1"], "the inputs must not be modified"


def test_merge_refuses_different_problem_text_for_one_task() -> None:
    with pytest.raises(ValueError, match="H/1: the problem text differs"):
        merge_pools([[_pool("H/1", "a", True, "m1")], [_pool("H/1", "b", True, "m2", problem="def g():\n")]])


def test_merge_command_writes_a_readable_pool_file(tmp_path: Path) -> None:
    write_pools(tmp_path / "a.jsonl", [_pool("H/1", "a1", True, "m1")])
    write_pools(tmp_path / "b.jsonl.gz", [_pool("H/1", "a2", False, "m2")])
    out = tmp_path / "merged.jsonl.gz"
    result = CliRunner().invoke(app, ["pools", "merge", "--out", str(out), str(tmp_path / "a.jsonl"),
                                      str(tmp_path / "b.jsonl.gz")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 pools, candidates per pool 2..2" in result.output
    assert read_pools(out)[0].passed == [True, False]
    bad = CliRunner().invoke(app, ["pools", "merge", "--out", str(out), str(tmp_path / "missing.jsonl")])
    assert bad.exit_code == 2 and "missing.jsonl" in bad.output
