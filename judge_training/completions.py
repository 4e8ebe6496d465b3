"""Prompt + completion rows: right padding with a completion mask, and the mean log-probability of each row's
completion under the LM. Shared by GRPO (sampled completions) and reasoning-format SFT (written ones)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def pad_completions(
    rows: Sequence[tuple[list[int], list[int]]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask, completion_mask) for (prompt ids, completion ids) rows, right-padded so the
    real tokens keep their unpadded positions (and rotary phases)."""
    width = max(len(prompt) + len(completion) for prompt, completion in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros_like(input_ids)
    completion_mask = torch.zeros_like(input_ids)
    for row, (prompt, completion) in enumerate(rows):
        end = len(prompt) + len(completion)
        input_ids[row, :end] = torch.tensor(prompt + completion, dtype=torch.long)
        attention[row, :end] = 1
        completion_mask[row, len(prompt) : end] = 1
    return input_ids, attention, completion_mask


class CompletionLogprob(nn.Module):
    """Mean log-probability of each row's completion tokens. It holds the LM under the same attribute name as
    VerdictModel (``lm``), so the same LoRA tensor dict works with ``torch.func.functional_call`` on both."""

    def __init__(self, causal_lm: nn.Module) -> None:
        super().__init__()
        self.lm = causal_lm

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, completion_mask: torch.Tensor
    ) -> torch.Tensor:
        hidden = self.lm.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        # position t predicts token t+1: only the positions before a completion token are multiplied out
        predicts = completion_mask[:, 1:].bool()
        rows, cols = predicts.nonzero(as_tuple=True)
        logits = self.lm.get_output_embeddings()(hidden[:, :-1][rows, cols]).float()
        token_logp = torch.log_softmax(logits, dim=-1).gather(-1, input_ids[:, 1:][rows, cols].unsqueeze(-1))
        sums = torch.zeros(input_ids.shape[0], dtype=token_logp.dtype, device=input_ids.device)
        sums = sums.index_add(0, rows, token_logp.squeeze(-1))
        return sums / predicts.sum(dim=1).clamp_min(1)
