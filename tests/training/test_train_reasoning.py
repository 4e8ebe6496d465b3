"""Reasoning-format SFT: rationales written from how each pair was made, in the exact format the service
parses, trained teacher-forced on the tiny model (loss falls, only LoRA moves, the outer step runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from daj.protocol import JudgeMode, parse_reasoning_output, target_text
from judge_training.config import Config, ConfigError, replace
from judge_training.rationales import rationale, reasoning_batch, reasoning_rows
from judge_training.trainer import train

SOLUTION = "def first(xs):\n    for x in xs:\n        if x > 0:\n            return x\n    return None\n"


def test_a_prefix_is_explained_as_stopping_midway() -> None:
    text = rationale(SOLUTION, "def first(xs):\n    for x in xs:\n        if x >", "B")
    assert text.startswith("Candidate A stops in the middle") and "`if x >`" in text
    assert "Candidate B is complete" in text


def test_a_run_on_is_explained_as_not_stopping() -> None:
    text = rationale(SOLUTION, SOLUTION + "\nassert first([1, 2]) ==", "A")
    assert text.startswith("Candidate B does not stop") and "`assert first([1, 2]) ==`" in text


def test_a_mutant_quotes_the_difference_in_reading_order() -> None:
    mutant = SOLUTION.replace("x > 0", "x >= 0")
    as_b = rationale(SOLUTION, mutant, "A")
    assert "A has `if x > 0:` where B has `if x >= 0:`" in as_b and "Candidate B's version gives wrong" in as_b
    as_a = rationale(SOLUTION, mutant, "B")  # the passing program shown second: quotes swap with the letters
    assert "A has `if x >= 0:` where B has `if x > 0:`" in as_a and "Candidate A's version gives wrong" in as_a


@pytest.mark.parametrize("letter", ["A", "B"])
def test_every_written_answer_parses_to_its_letter(letter: str) -> None:
    answer = target_text(letter, JudgeMode.REASONING, rationale(SOLUTION, SOLUTION.replace("None", "0"), letter))
    verdict = parse_reasoning_output(answer)
    assert verdict.parsed and verdict.choice == letter and verdict.reasoning


def test_sft_format_reasoning_is_only_a_format_of_sft(tiny_cfg: Config) -> None:
    with pytest.raises(ConfigError, match=r"train\.sft_format"):
        replace(tiny_cfg, train={"stage": "dpo", "sft_format": "reasoning"})
    with pytest.raises(ConfigError, match=r"allowed values: verdict, reasoning"):
        replace(tiny_cfg, train={"sft_format": "essay"})


def test_reasoning_rows_end_with_end_of_turn_and_follow_the_order(tiny_cfg: Config, make_trainer) -> None:
    trainer = make_trainer(replace(tiny_cfg, train={"sft_format": "reasoning"}))
    pair = trainer.data.train[0]
    rows = reasoning_rows(trainer.tokenizer, pair)
    eos = trainer.tokenizer.eos_token_id
    for (_, answer), letter in zip(rows, ("A", "B"), strict=True):
        assert answer[-1] == eos
        assert parse_reasoning_output(trainer.tokenizer.decode(answer[:-1])).choice == letter
    batch = reasoning_batch(trainer.tokenizer, trainer.data.train[:3], trainer.pad_id)
    assert len(batch) == 6 and batch.completion_mask.sum(dim=1).min() > 5


def test_reasoning_sft_learns_the_written_answers_and_moves_only_lora(tiny_cfg: Config, make_trainer) -> None:
    cfg = replace(tiny_cfg, train={"sft_format": "reasoning", "lr": 5e-3}, reweight={"mode": "uniform"})
    trainer = make_trainer(cfg)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    pairs = trainer.data.train[:3]
    losses = [trainer.train_step(pairs, None).loss for _ in range(6)]
    assert losses[-1] < losses[0] - 0.5, losses
    changed = {n for n, p in trainer.model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all("lora_" in n for n in changed)


def test_a_reasoning_run_reweights_evaluates_in_reasoning_mode_and_says_so(tiny_cfg: Config) -> None:
    cfg = replace(tiny_cfg, train={"sft_format": "reasoning", "steps": 3},
                  output={"eval_before": False, "reasoning_eval_pairs": 2, "reasoning_eval_max_tokens": 8})  # fmt: skip
    metadata = train(cfg)
    assert metadata["judge_mode"] == "reasoning"
    reasoning = metadata["metrics"]["after"]["meta_eval_reasoning"]
    assert reasoning["n_pairs"] == 2 and 0 <= reasoning["parse_rate"] <= 1 and len(reasoning["samples"]) == 2
    log = Path(cfg.output.dir) / "train.jsonl"
    steps = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(step["meta_loss"] is not None for step in steps), "the outer step runs on reasoning rows too"
