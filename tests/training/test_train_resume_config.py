"""The checkpoint carries the resolved config; a resume under a different one is refused before anything loads,
naming each changed key with its old and new value, while keys that cannot desync the run may change."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml

from judge_training import trainer as trainer_module
from judge_training.config import Config, ConfigError, replace, resume_changes
from judge_training.trainer import Trainer, train


@pytest.fixture
def checkpointed(tiny_cfg: Config, make_trainer: Callable[[Config], Trainer]) -> Config:
    """tiny_cfg with a checkpoint at step 2 in its output folder (written directly: no step needs to run)."""
    trainer = make_trainer(tiny_cfg)
    trainer.step = 2
    trainer.save_checkpoint()
    return tiny_cfg


def test_train_checkpoint_carries_the_resolved_config(checkpointed: Config) -> None:
    state = torch.load(Path(checkpointed.output.dir) / "checkpoint.pt", weights_only=False)
    assert state["config"] == checkpointed.model_dump()


def test_train_resume_with_another_batch_size_is_refused_before_loading(
    checkpointed: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_backbone(*args: object) -> None:
        raise AssertionError("the backbone was loaded before the config was checked")

    monkeypatch.setattr(trainer_module, "load_backbone", no_backbone)
    changed = replace(checkpointed, train={"pairs_per_batch": 2}, reweight={"meta_pairs_per_step": 3})
    with pytest.raises(ConfigError) as err:
        train(changed, resume=True)
    message = str(err.value)
    assert "checkpoint.pt was written with a different config" in message
    assert re.search(r"^  train\.pairs_per_batch: 3 -> 2$", message, re.MULTILINE)
    assert re.search(r"^  reweight\.meta_pairs_per_step: 2 -> 3$", message, re.MULTILINE)


def test_train_load_checkpoint_refuses_another_config(
    checkpointed: Config, make_trainer: Callable[[Config], Trainer]
) -> None:
    trainer = make_trainer(replace(checkpointed, train={"seed": 7}))
    with pytest.raises(ConfigError, match=r"train\.seed: 2 -> 7"):
        trainer.load_checkpoint()
    assert trainer.step == 0, "the refused checkpoint was partly loaded"


def test_train_resume_may_extend_the_run_and_change_outputs(
    checkpointed: Config, make_trainer: Callable[[Config], Trainer]
) -> None:
    extended = replace(checkpointed, train={"steps": 8, "threads": 2}, output={"eval_after": False, "plot": True})
    extended = extended.model_copy(update={"name": "longer"})
    assert resume_changes(checkpointed.model_dump(), extended) == []
    trainer = make_trainer(extended)
    assert trainer.load_checkpoint() and trainer.step == 2


def test_train_resume_changes_list_every_other_key() -> None:
    saved = Config().model_dump()
    saved["data"]["sources"] = ["synthetic"]
    del saved["train"]["lr"]  # a key the checkpoint's code version did not have
    assert resume_changes(saved, Config()) == [
        "data.sources: ['synthetic'] -> ['ldb_mbpp', 'mbppplus_mutant']",
        "train.lr: (absent) -> 0.0005",
    ]


def test_train_cli_resume_under_another_config_exits_2(checkpointed: Config, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from judge_training.cli import app

    path = tmp_path / "resolved.yaml"  # the resolved config round-trips through YAML as a config file
    path.write_text(yaml.safe_dump(checkpointed.model_dump()))
    args = ["train", "--config", str(path), "--set", "train.pairs_per_batch=2", "--resume"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "config error" in result.output and "train.pairs_per_batch: 3 -> 2" in result.output
