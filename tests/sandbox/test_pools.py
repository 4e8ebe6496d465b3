"""daj.pools: round trips, and malformed lines fail naming file, line and field."""

from __future__ import annotations

import gzip
import json

import pytest

from daj.pools import Pool, PoolFormatError, read_pools, write_pools

POOL = Pool(
    "HumanEval/1",
    "def f():\n",
    ["def f():\n    return 1\n", "def f():\n    return 2\n"],
    [True, None],
    "test model, T=0.8",
)


@pytest.mark.parametrize("name", ["pools.jsonl", "pools.jsonl.gz"])
def test_round_trip(tmp_path, name):
    path = tmp_path / name
    assert write_pools(path, [POOL]) == 1
    assert read_pools(path) == [POOL]
    assert read_pools(path)[0].pass_rate is None


def test_gzip_output_is_deterministic(tmp_path):
    write_pools(tmp_path / "a.jsonl.gz", [POOL])
    write_pools(tmp_path / "b.jsonl.gz", [POOL])
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()


def _write_lines(path, objs):
    with gzip.open(path, "wt") as fh:
        for obj in objs:
            fh.write((obj if isinstance(obj, str) else json.dumps(obj)) + "\n")


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"problem": "p", "candidates": [], "passed": [], "source": "s"}, "task_id"),
        ({**POOL.to_dict(), "passed": [True]}, "passed"),
        ({**POOL.to_dict(), "passed": [True, "yes"]}, "passed"),
        ({**POOL.to_dict(), "candidates": "def f(): pass"}, "candidates"),
        ({**POOL.to_dict(), "source": 3}, "source"),
        ({**POOL.to_dict(), "extra": 1}, "extra"),
        ("{not json", "<line>"),
    ],
)
def test_malformed_line_names_file_line_and_field(tmp_path, bad, field):
    path = tmp_path / "bad.jsonl.gz"
    good = {**POOL.to_dict(), "task_id": "HumanEval/0"}
    _write_lines(path, [good, bad])
    with pytest.raises(PoolFormatError) as info:
        read_pools(path)
    assert str(info.value).startswith(f"{path}:2: field {field!r}")


def test_duplicate_task_ids_are_rejected(tmp_path):
    path = tmp_path / "dup.jsonl"
    path.write_text(json.dumps(POOL.to_dict()) + "\n" + json.dumps(POOL.to_dict()) + "\n")
    with pytest.raises(PoolFormatError, match=":2: field 'task_id': duplicate"):
        read_pools(path)


def test_pass_rate():
    assert Pool("t", "p", ["a", "b", "c", "d"], [True, False, False, True], "s").pass_rate == 0.5
