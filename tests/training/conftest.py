"""Fixtures for the training tests: the tiny-test config pointed at a temporary output folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from judge_training.config import Config, load_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def tiny_cfg(tmp_path: Path) -> Config:
    """configs/tiny-test.yaml, short and single-threaded (on busy shared cores 1 thread is ~10x faster)."""
    return load_config(
        REPO / "configs/tiny-test.yaml",
        [
            f"output.dir={tmp_path / 'run'}",
            "train.threads=1",
            "train.steps=4",
            "train.pairs_per_batch=3",
            "reweight.outer_start=0",
            "reweight.meta_pairs_per_step=2",
            "output.plot=false",
        ],
    )
