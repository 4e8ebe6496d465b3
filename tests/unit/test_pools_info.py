"""The optional `info` field of a pool: written only when not empty, validated as an object, kept by merges."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daj.pools import Pool, PoolFormatError, merge_pools, read_pools, write_pools

INFO = {"platform": "atcoder", "split": "meta", "label_notes": [None, "why"], "policies": ["a", "b"]}


def test_info_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "pools.jsonl.gz"
    write_pools(path, [Pool("T/1", "p", ["a", "b"], [True, False], "s", INFO)])
    (pool,) = read_pools(path)
    assert pool.info == INFO and pool.to_dict()["info"] == INFO


def test_a_pool_without_info_writes_no_info_key(tmp_path: Path) -> None:
    path = tmp_path / "pools.jsonl"
    write_pools(path, [Pool("T/1", "p", ["a"], [True], "s")])
    line = json.loads(path.read_text())
    assert list(line) == ["task_id", "problem", "candidates", "passed", "source"]
    assert read_pools(path)[0].info == {}
    # An explicit empty object reads back as no info, and is not written again: the bytes of an older file stay.
    path.write_text(json.dumps({**line, "info": {}}) + "\n")
    write_pools(tmp_path / "again.jsonl", read_pools(path))
    assert (tmp_path / "again.jsonl").read_text() == json.dumps(line, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("info", [[1, 2], "text", 3, None])
def test_info_must_be_an_object(tmp_path: Path, info: object) -> None:
    path = tmp_path / "pools.jsonl"
    row = {"task_id": "T/1", "problem": "p", "candidates": ["a"], "passed": [True], "source": "s", "info": info}
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(PoolFormatError, match=r"pools.jsonl:1: field 'info': expected a JSON object"):
        read_pools(path)


def test_merge_keeps_the_first_pools_info() -> None:
    first = [Pool("T/1", "p", ["a"], [True], "m1", {"platform": "x", "label_notes": [None]})]
    second = [Pool("T/1", "p", ["b"], [False], "m2", {"platform": "y"}), Pool("T/2", "q", ["c"], [True], "m2")]
    merged = merge_pools([first, second])
    assert merged[0].info == {"platform": "x", "label_notes": [None]} and merged[1].info == {}
    merged[0].info["label_notes"].append("changed")
    assert first[0].info["label_notes"] == [None], "the inputs must not be modified"
