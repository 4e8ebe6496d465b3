"""LiveCodeBench pools (`daj pools lcb`): one pool per problem from a tiny LiveCodeBench-like data folder."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from daj.lcb import (
    ARTIFACT_NOTE,
    POLICY_FILES,
    SOURCE,
    build_lcb_pools,
    label_note,
    problem_text,
    split_of,
    starter_code_in,
    starts_unjoined_thread,
    summarize,
)
from daj.pools import read_pools
from daj_cli.main import app

THREADED = "import threading\ndef main():\n    print(' '.join(['1']))\nthreading.Thread(target=main).start()\n"
JOINED = "import threading\ndef main():\n    print(1)\nt = threading.Thread(target=main)\nt.start()\nt.join()\n"
NAMED_JOIN = "import threading\ndef main():\n    print(1)\nworker = threading.Thread(target=main)\nworker.start()\n" \
             "worker.join(5)\n"  # fmt: skip
PLAIN = "print(int(input()) + 1)\n"
STARTER = "class Solution:\n    def add(self, a: int, b: int) -> int:\n        "


def _failure(output: str) -> list[str]:
    return [json.dumps({"output": output, "inputs": "1\n", "expected": "2\n", "error_code": -2,
                        "error_message": "Wrong answer"})]  # fmt: skip


def _entry(qid: str, code: str, passed: bool, output: str | None = None, **problem: Any) -> dict[str, Any]:
    base = {
        "question_title": f"title {qid}",
        "question_content": f"Statement of {qid}.\n",
        "platform": "atcoder",
        "question_id": qid,
        "contest_id": "abc999",
        "contest_date": "2024-08-31T23:30:00",
        "starter_code": "",
        "difficulty": "easy",
    }
    metadata = [json.dumps({"execution time": 0.01})] if passed else _failure(output if output is not None else "1\n")
    return {**base, **problem, "code_list": [code], "graded_list": [passed], "metadata": metadata}


def _write(folder: Path, mini: list[dict[str, Any]], preview: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for (_, name), entries in zip(POLICY_FILES, (mini, preview), strict=True):
        with gzip.open(folder / name, "wt", encoding="utf-8") as handle:
            json.dump(entries, handle)
    return folder


@pytest.fixture
def lcb_dir(tmp_path: Path) -> Path:
    leetcode = {"platform": "leetcode", "starter_code": STARTER, "contest_date": "2024-09-01T00:00:00",
                "difficulty": "medium"}  # fmt: skip
    mini = [
        _entry("abc1_a", PLAIN, True),  # meta (the day before the boundary)
        _entry("3001", "class Solution: ...\n", True, **leetcode),  # test (on the boundary)
        _entry("abc1_b", PLAIN, False, "2\n", difficulty="hard"),
        _entry("abc1_c", PLAIN, False, "", contest_date="2025-01-04T18:30:00"),
    ]
    preview = [
        _entry("abc1_a", THREADED, False, ""),  # the artifact: threaded, failing on an empty output
        _entry("3001", "class Solution: pass\n", False, "", **leetcode),  # empty output but no thread: no note
        _entry("abc1_b", THREADED, False, "3\n", difficulty="hard"),  # threaded, but it printed something: no note
        _entry("abc1_c", JOINED, False, "", contest_date="2025-01-04T18:30:00"),  # joined: no note
    ]
    return _write(tmp_path / "livecodebench", mini, preview)


def test_one_pool_per_problem_with_info(lcb_dir: Path) -> None:
    pools = {pool.task_id: pool for pool in build_lcb_pools(lcb_dir)}
    assert list(pools) == ["lcb/abc1_a", "lcb/3001", "lcb/abc1_b", "lcb/abc1_c"]
    first = pools["lcb/abc1_a"]
    assert first.candidates == [PLAIN, THREADED] and first.passed == [True, False] and first.source == SOURCE
    assert first.problem == "Statement of abc1_a.\n"
    assert first.info == {"platform": "atcoder", "difficulty": "easy", "contest_date": "2024-08-31T23:30:00",
                          "contest_id": "abc999", "question_title": "title abc1_a",
                          "policies": ["o1-mini", "o1-preview"], "split": "meta",
                          "label_notes": [None, ARTIFACT_NOTE]}  # fmt: skip
    assert [pools[t].info["split"] for t in pools] == ["meta", "test", "meta", "test"]
    assert [pools[t].info["label_notes"] for t in ("lcb/3001", "lcb/abc1_b", "lcb/abc1_c")] == [[None, None]] * 3
    assert "starter_code" not in first.info


def test_leetcode_starter_code_is_in_info_and_in_the_problem_text(lcb_dir: Path) -> None:
    pool = next(p for p in build_lcb_pools(lcb_dir) if p.task_id == "lcb/3001")
    assert pool.info["starter_code"] == STARTER  # exactly as given
    assert pool.problem == ("Statement of 3001.\n\nStarter code:\n```python\nclass Solution:\n"
                            "    def add(self, a: int, b: int) -> int:\n```\n")  # fmt: skip
    assert starter_code_in(pool.problem) == STARTER.rstrip()
    assert starter_code_in("Statement.\n") is None
    tricky = "s = '```'\n"  # backticks in the code: a longer fence
    shown = problem_text("Q", tricky)
    assert "\n````python\n" in shown and starter_code_in(shown) == tricky.rstrip()
    assert problem_text("Q\n", "  \n") == "Q\n"


def test_split_boundary() -> None:
    assert split_of("2024-08-31T23:59:59") == "meta"
    assert split_of("2024-09-01T00:00:00") == split_of("2024-09-01T18:30:00") == "test"
    assert split_of("2023-05-07T00:00:00") == "meta"


def test_label_note_rule() -> None:
    assert label_note(THREADED, False, {"output": ""}) == ARTIFACT_NOTE
    assert label_note(THREADED, True, {}) is None  # graded passing
    assert label_note(THREADED, False, {"output": "1\n"}) is None  # it printed something
    assert label_note(THREADED, False, {"error_code": -4}) is None  # no recorded output at all
    assert label_note(PLAIN, False, {"output": ""}) is None  # no thread
    assert label_note(JOINED, False, {"output": ""}) is None  # the thread is joined
    assert label_note(NAMED_JOIN, False, {"output": ""}) is None  # joined by name, with a timeout
    assert starts_unjoined_thread(THREADED)  # a string's ' '.join(...) is not a thread join
    assert not starts_unjoined_thread("import threading\nthreading.Thread(target=print)\n")  # never started


def test_problems_must_agree_between_policies(tmp_path: Path) -> None:
    folder = _write(tmp_path / "a", [_entry("x", PLAIN, True)], [_entry("x", PLAIN, True, difficulty="hard")])
    with pytest.raises(ValueError, match=r"x: o1-preview differs from o1-mini in \['difficulty'\]"):
        build_lcb_pools(folder)
    folder = _write(tmp_path / "b", [_entry("x", PLAIN, True)], [_entry("y", PLAIN, True)])
    with pytest.raises(ValueError, match="not the same problems"):
        build_lcb_pools(folder)


def test_summary_counts_and_baselines(lcb_dir: Path) -> None:
    summary = summarize(build_lcb_pools(lcb_dir))
    assert summary.pools == 4
    assert summary.by_platform_split == {"atcoder": {"meta": 2, "test": 1}, "leetcode": {"test": 1}}
    assert (summary.labels_differ, summary.labels_differ_with_note) == (2, 1)
    assert (summary.artifact_pools, summary.notes) == (1, 1)
    assert summary.random_pass1 == pytest.approx(0.25) and summary.oracle_pass1 == pytest.approx(0.5)
    assert summary.first_pass1 == pytest.approx(0.5)
    assert summary.clean_first_pass1 == pytest.approx(1 / 3)


def test_command_writes_deterministic_pools_and_prints_the_summary(lcb_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "lcb.jsonl.gz"
    result = CliRunner().invoke(app, ["pools", "lcb", "--out", str(out), "--data", str(lcb_dir)])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "4 pools" in result.output
    assert "labels differ: 2 problems, 1 of them with a label note" in result.output
    assert "always o1-mini 50.0%" in result.output
    first = out.read_bytes()
    again = CliRunner().invoke(app, ["pools", "lcb", "--out", str(out), "--data", str(lcb_dir)])
    assert again.exit_code == 0 and out.read_bytes() == first
    assert [pool.info["split"] for pool in read_pools(out)] == ["meta", "test", "meta", "test"]
    missing = CliRunner().invoke(app, ["pools", "lcb", "--out", str(out), "--data", str(tmp_path / "none")])
    assert missing.exit_code == 2 and "No such file" in missing.output
