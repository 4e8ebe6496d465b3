"""`label samples` turns raw samples into a validated pool file."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from daj.pools import read_pools
from sandbox.cli import app

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.mark.skipif(not DATA.exists(), reason="shared data folder not present")
def test_label_samples_writes_a_pool(tmp_path):
    samples = tmp_path / "samples.jsonl.gz"
    rows = [
        {"task_id": "HumanEval/0", "completion": "    return False\n"},
        {
            "task_id": "HumanEval/0",
            "completion": "    return any(abs(a - b) < threshold "
            "for i, a in enumerate(numbers) for b in numbers[i + 1:])\n",
        },
        {"task_id": "HumanEval/2", "completion": "    return number % 1.0\n"},
    ]
    with gzip.open(samples, "wt") as fh:
        fh.writelines(json.dumps(row) + "\n" for row in rows)
    out = tmp_path / "pool.jsonl.gz"
    args = [
        "label",
        "samples",
        "--samples",
        str(samples),
        "--data-dir",
        str(DATA),
        "--out",
        str(out),
        "--sample-source",
        "unit test",
        "--no-cache",
        "--workers",
        "2",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    pools = {p.task_id: p for p in read_pools(out)}
    assert pools["HumanEval/0"].passed == [False, True]
    assert pools["HumanEval/2"].passed == [True]
    assert pools["HumanEval/0"].candidates[0].startswith("from typing import List")
    assert pools["HumanEval/2"].source == "unit test"
