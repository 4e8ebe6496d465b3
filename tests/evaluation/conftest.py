"""Fixtures of the evaluation tests; the fakes they build live in `_eval_fakes.py`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _eval_fakes import FakeJudge, make_pool

from daj.pools import write_pools


@pytest.fixture
def small_pools(tmp_path: Path) -> Path:
    """Four problems: mixed (1 of 4), mixed (3 of 4), all fail, all pass: pool pass rates 0.25, 0.75, 0, 1."""
    pools = [
        make_pool("T/0", [True, False, False, False]),
        make_pool("T/1", [True, True, True, False]),
        make_pool("T/2", [False] * 4),
        make_pool("T/3", [True] * 4),
    ]
    path = tmp_path / "pools.jsonl"
    write_pools(path, pools)
    return path


@pytest.fixture
def fake_judge(tiny_tokenizer: Any, tmp_path: Path) -> FakeJudge:
    return FakeJudge(tiny_tokenizer, tmp_path)
