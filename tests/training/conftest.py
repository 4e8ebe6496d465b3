"""Fixtures for the training tests: the tiny-test config pointed at a temporary output folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from judge_training.builder import build_data, load_backbone
from judge_training.config import Config, load_config
from judge_training.trainer import Trainer

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


@pytest.fixture
def make_trainer() -> Callable[[Config], Trainer]:
    """A Trainer for a config, seeded and with its output folder made (to drive single steps by hand)."""

    def build(cfg: Config) -> Trainer:
        torch.manual_seed(cfg.train.seed)
        torch.set_num_threads(cfg.train.threads)
        peft_model, tokenizer, base = load_backbone(cfg.model)
        trainer = Trainer(cfg, peft_model, tokenizer, build_data(cfg.data, tokenizer), base)
        trainer.out.mkdir(parents=True, exist_ok=True)
        return trainer

    return build
