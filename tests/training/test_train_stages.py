"""DPO and GRPO stages on the tiny model: the reference is the starting policy, the stages chain through
``model.init_adapter``, and the policy gradient moves probability toward the rewarded judgment."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from judge_training.completions import CompletionLogprob
from judge_training.config import Config, ConfigError, replace
from judge_training.grpo import RolloutBatch, group_advantages, grpo_loss_at, reward
from judge_training.losses import dpo_loss
from judge_training.trainer import pairs_to_batch, train


def _steps(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "train.jsonl").read_text().splitlines()]


def test_train_dpo_loss_is_log2_at_the_reference_and_falls_with_the_right_margin() -> None:
    ref = torch.tensor([[0.3, -0.2], [1.0, 2.0]])
    labels = torch.tensor([0, 1])  # A correct, then B correct
    assert dpo_loss(ref, ref, labels, beta=0.5).tolist() == pytest.approx([math.log(2)] * 2)
    better = ref + torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # more margin toward the correct letter in both rows
    worse = ref - torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert (dpo_loss(better, ref, labels, 0.5) < math.log(2)).all()
    assert (dpo_loss(worse, ref, labels, 0.5) > math.log(2)).all()


def test_train_dpo_stage_starts_at_its_reference_and_moves_only_lora(tiny_cfg: Config, make_trainer) -> None:
    trainer = make_trainer(replace(tiny_cfg, train={"stage": "dpo", "dpo_beta": 0.5}, reweight={"mode": "uniform"}))
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    first = trainer.train_step(trainer.data.train[:3], None)
    assert first.loss == pytest.approx(math.log(2), abs=1e-6)  # policy == reference at step 0
    changed = {n for n, p in trainer.model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all("lora_" in n for n in changed)
    second = trainer.train_step(trainer.data.train[:3], None)
    assert second.loss != pytest.approx(math.log(2), abs=1e-6)


def test_train_dpo_chains_from_an_sft_adapter(tiny_cfg: Config, tmp_path: Path, make_trainer) -> None:
    quiet = {"eval_before": False, "eval_after": False}
    sft = replace(tiny_cfg, output={**quiet, "dir": str(tmp_path / "sft")}, reweight={"mode": "uniform"})
    train(sft)
    adapter = tmp_path / "sft" / "adapter"
    dpo = replace(
        tiny_cfg,
        model={"init_adapter": str(adapter)},
        train={"stage": "dpo", "dpo_beta": 0.5},
        output={**quiet, "dir": str(tmp_path / "dpo")},
    )
    trainer = make_trainer(dpo)
    sft_trainer = make_trainer(replace(sft, model={"init_adapter": str(adapter)}))
    batch = pairs_to_batch(trainer.data.train[:2], trainer.pad_id)
    with torch.no_grad():  # the DPO run starts from the SFT weights, not a fresh LoRA
        args = (batch.input_ids, batch.attention_mask, batch.last)
        assert torch.allclose(trainer.model(*args), sft_trainer.model(*args))
    assert trainer.train_step(trainer.data.train[:2], trainer.data.meta_train[:2]).loss == pytest.approx(
        math.log(2), abs=1e-6
    )


def test_train_init_adapter_must_be_an_adapter(tiny_cfg: Config, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"model\.init_adapter"):
        replace(tiny_cfg, model={"init_adapter": str(tmp_path)})
    with pytest.raises(ConfigError, match=r"train\.grpo_group_size"):
        replace(tiny_cfg, train={"stage": "grpo", "grpo_group_size": 1})


def test_train_grpo_reward_and_advantages() -> None:
    assert reward("B looks wrong.\nVerdict: A", "A", truncated=False) == (1.0, True)
    assert reward("Verdict: B", "A", truncated=False) == (0.0, True)
    assert reward("Verdict: A", "A", truncated=True) == (0.0, False)  # cut off: never rewarded
    assert reward("I think A", "A", truncated=False) == (0.0, False)
    adv = group_advantages(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0]), group_size=3)
    assert adv[:3].tolist() == pytest.approx([1.4139, -0.7070, -0.7070], abs=1e-3)
    assert adv[3:].tolist() == pytest.approx([-1.4139, 0.7070, 0.7070], abs=1e-3)
    assert group_advantages(torch.ones(4), 2).abs().max() == 0  # unanimous groups carry no signal


def test_train_completion_logprob_matches_the_full_softmax(tiny_cfg: Config, make_trainer) -> None:
    trainer = make_trainer(tiny_cfg)
    ids = torch.tensor([[5, 6, 7, 8, 9, 0], [5, 6, 7, 10, 0, 0]])
    attention = torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 0, 0]])
    completion = torch.tensor([[0, 0, 1, 1, 1, 0], [0, 0, 0, 1, 0, 0]])
    with torch.no_grad():
        got = CompletionLogprob(trainer.model.lm)(ids, attention, completion)
        logits = trainer.model.lm(input_ids=ids, attention_mask=attention).logits.log_softmax(-1)
    want_0 = (logits[0, 1, 7] + logits[0, 2, 8] + logits[0, 3, 9]) / 3
    want_1 = logits[1, 2, 10]
    assert got.tolist() == pytest.approx([float(want_0), float(want_1)], abs=1e-4)


def test_train_grpo_update_favours_the_rewarded_judgment(tiny_cfg: Config, make_trainer) -> None:
    trainer = make_trainer(replace(tiny_cfg, train={"stage": "grpo", "lr": 0.05}, reweight={"mode": "uniform"}))
    prompt = trainer.data.train[0].ids[0]
    tok = trainer.tokenizer
    good, bad = (tok("Verdict: " + c, add_special_tokens=False)["input_ids"] for c in ("A", "B"))
    rows = [prompt + good, prompt + bad]
    width = max(map(len, rows))
    ids = torch.tensor([r + [trainer.pad_id] * (width - len(r)) for r in rows])
    attention = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    completion = torch.zeros_like(ids)
    completion[0, len(prompt) : len(rows[0])] = 1
    completion[1, len(prompt) : len(rows[1])] = 1
    rewards = torch.tensor([1.0, 0.0])
    batch = RolloutBatch(ids, attention, completion, rewards, group_advantages(rewards, 2), torch.zeros(2).long(),
                         torch.ones(2))  # fmt: skip
    loss_at = grpo_loss_at(trainer.scorer, batch)
    with torch.no_grad():
        gap_before = float(trainer.scorer(ids, attention, completion).diff())
    for _ in range(3):
        loss_at(None).mean().backward()
        trainer.optimizer.step()
        trainer.optimizer.zero_grad()
    with torch.no_grad():
        gap_after = float(trainer.scorer(ids, attention, completion).diff())
    assert gap_after < gap_before  # log pi(bad) - log pi(good) fell: the rewarded verdict gained


def test_train_grpo_stage_runs_end_to_end_and_logs_rewards(tiny_cfg: Config) -> None:
    cfg = replace(
        tiny_cfg,
        train={"stage": "grpo", "steps": 2, "pairs_per_batch": 2, "grpo_group_size": 2, "grpo_max_new_tokens": 8},
        output={"eval_before": False, "eval_after": False},
    )
    metadata = train(cfg)
    steps = _steps(Path(cfg.output.dir))
    assert len(steps) == 2 and all(0.0 <= s["reward"] <= 1.0 and 0.0 <= s["parsed"] <= 1.0 for s in steps)
    assert steps[0]["meta_loss"] is not None  # the bi-level outer step ran on the GRPO losses
    assert metadata["config"]["train"]["stage"] == "grpo"
    assert (Path(cfg.output.dir) / "adapter" / "adapter_model.safetensors").is_file()
