"""The loss reads exactly what the service reads: the A/B logits of the token after the prompt."""

from __future__ import annotations

import math

import pytest
import torch

from daj.protocol import choice_token_ids
from judge_training.losses import VerdictModel, collate, per_sample_loss, prob_a, weighted_mean


def test_train_loss_is_bce_on_the_two_choice_logits() -> None:
    logits = torch.tensor([[2.0, 0.0], [2.0, 0.0], [0.0, 0.0]])
    losses = per_sample_loss(logits, torch.tensor([0, 1, 0]))
    expected = [-math.log(1 / (1 + math.exp(-2))), -math.log(1 / (1 + math.exp(2))), math.log(2)]
    assert losses.tolist() == pytest.approx(expected, rel=1e-5)
    assert prob_a(logits)[2].item() == pytest.approx(0.5)


def test_train_weighted_mean() -> None:
    losses = torch.tensor([1.0, 3.0])
    assert weighted_mean(losses).item() == 2.0
    assert weighted_mean(losses, torch.tensor([2.0, 0.0])).item() == 1.0
    with pytest.raises(ValueError, match="shape"):
        weighted_mean(losses, torch.ones(3))


def test_train_verdict_logits_match_the_full_lm_at_the_answer_position(tiny_model_dir, tiny_tokenizer) -> None:  # type: ignore[no-untyped-def]
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    lm = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32, attn_implementation="eager")
    ids = choice_token_ids(tiny_tokenizer)
    model = VerdictModel(lm, ids)
    seqs = [[5, 6, 7, 8, 9, 10], [11, 12, 13]]
    batch = collate(seqs, [0, 1], [0, 0], pad_id=0)
    assert batch.last.tolist() == [5, 2] and batch.attention_mask.sum().item() == 9
    got = model(batch.input_ids, batch.attention_mask, batch.last)
    for row, seq in enumerate(seqs):
        full = lm(input_ids=torch.tensor([seq])).logits[0, -1, list(ids)]
        assert torch.allclose(got[row], full, atol=1e-4)
