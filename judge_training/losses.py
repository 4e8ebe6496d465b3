"""The verdict-mode loss: exactly the quantity the service reads.

The service asks for one token restricted to {A, B} and takes P(A) = softmax over those two logits. So the
training loss is binary cross-entropy on (logit_A - logit_B) at the answer position, the position right
after the rendered prompt. Only the two rows of the output embedding are multiplied out (not the 49k-token
vocabulary), which is most of the forward cost saved on long prompts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class VerdictBatch:
    """Right-padded token ids; ``last`` is the index of each prompt's final token, ``labels`` 0 = A, 1 = B."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    last: torch.Tensor
    labels: torch.Tensor
    domains: torch.Tensor

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def to(self, device: torch.device | str) -> VerdictBatch:
        return VerdictBatch(
            *(t.to(device) for t in (self.input_ids, self.attention_mask, self.last, self.labels, self.domains))
        )


def collate(sequences: Sequence[list[int]], labels: Sequence[int], domains: Sequence[int], pad_id: int) -> VerdictBatch:
    """Right padding: positions of real tokens (and so their rotary phases) are the same as unpadded."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return VerdictBatch(
        input_ids=ids,
        attention_mask=mask,
        last=torch.tensor([len(s) - 1 for s in sequences], dtype=torch.long),
        labels=torch.tensor(list(labels), dtype=torch.long),
        domains=torch.tensor(list(domains), dtype=torch.long),
    )


class VerdictModel(nn.Module):
    """Wraps a causal LM (with LoRA layers injected) and returns the two verdict logits per sequence.

    A plain module so ``torch.func.functional_call`` can swap in a dict of LoRA tensors (the lookahead
    weights) while every base weight is used in place, never copied.
    """

    def __init__(self, causal_lm: nn.Module, choice_ids: tuple[int, int]) -> None:
        super().__init__()
        self.lm = causal_lm
        self.register_buffer("choice_ids", torch.tensor(choice_ids, dtype=torch.long), persistent=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        hidden = self.lm.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        final = hidden[torch.arange(hidden.shape[0]), last]
        head = self.lm.get_output_embeddings()
        logits = final @ head.weight[self.choice_ids].T
        if getattr(head, "bias", None) is not None:
            logits = logits + head.bias[self.choice_ids]
        return logits


def per_sample_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """BCE of P(A) = sigmoid(logit_A - logit_B) against label A (0) or B (1), one value per sequence."""
    margin = logits[:, 0] - logits[:, 1]
    target_a = (labels == 0).to(margin.dtype)
    return F.binary_cross_entropy_with_logits(margin, target_a, reduction="none")


def dpo_loss(logits: torch.Tensor, ref_logits: torch.Tensor, labels: torch.Tensor, beta: float) -> torch.Tensor:
    """DPO on the judgment, one value per sequence: the chosen response is the correct letter, the rejected one
    the wrong letter. log pi(chosen) - log pi(rejected) over the whole vocabulary equals +/-(logit_A - logit_B)
    (the softmax normaliser cancels), so the two verdict logits of the policy and of the frozen reference are
    all DPO needs: loss = -log sigmoid(beta * (policy log-ratio - reference log-ratio))."""
    sign = 1.0 - 2.0 * labels.to(logits.dtype)  # +1 when the correct answer is A, -1 when it is B
    policy = sign * (logits[:, 0] - logits[:, 1])
    reference = sign * (ref_logits[:, 0] - ref_logits[:, 1]).detach()
    return -F.logsigmoid(beta * (policy - reference))


def weighted_mean(losses: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of per-sample losses scaled by per-sample weights (weights of 1 = the plain mean)."""
    if weights is None:
        return losses.mean()
    if weights.shape != losses.shape:
        raise ValueError(f"weights shape {tuple(weights.shape)} != losses shape {tuple(losses.shape)}")
    return (weights * losses).mean()


def prob_a(logits: torch.Tensor) -> torch.Tensor:
    """P(A) as the service computes it from the two logprobs."""
    return torch.sigmoid(logits[:, 0] - logits[:, 1])
