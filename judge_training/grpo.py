"""GRPO for reasoning judges: sample G judgments per prompt, reward the verifiable label, and raise the
log-probability of the judgments that beat their group's mean.

A rollout renders a pair in reasoning mode through daj.protocol (the same prompt the service sends), samples
``group_size`` completions, and parses each with the service's own strict parser: reward 1 when the final
``Verdict:`` line names the passing program, 0 when it names the failing one or cannot be parsed (a
truncated or malformed answer earns nothing). Advantages are normalised within each prompt's group, so a
prompt where every sample agrees contributes no gradient.

One gradient step is taken per rollout batch (strictly on-policy), so the PPO ratio is 1 and the clipped
objective's gradient is the plain policy gradient -A_i * grad log pi(completion_i); no KL term (the LoRA
starts at the reference and moves one small step per batch). Per-row losses keep the sample-weight hook of
the bi-level reweighting: each row carries its pair's domain.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from daj.protocol import JudgeMode, parse_reasoning_output
from judge_training.completions import CompletionLogprob, pad_completions
from judge_training.data import EncodedPair, pair_prompt_ids
from judge_training.reweighting import TrainLossAt, forward_at


@dataclass
class RolloutBatch:
    """Prompt + sampled completion per row, right-padded; ``completion_mask`` marks the sampled tokens."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    completion_mask: torch.Tensor
    rewards: torch.Tensor
    advantages: torch.Tensor
    domains: torch.Tensor
    parsed: torch.Tensor  # 1 where the completion ended in a parseable verdict line

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])


def reward(text: str, correct: str, truncated: bool) -> tuple[float, bool]:
    """(reward, parsed): 1 for a parseable verdict naming the passing program, else 0."""
    verdict = parse_reasoning_output(text, truncated=truncated)
    return (1.0 if verdict.choice == correct else 0.0), verdict.parsed


def group_advantages(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """(r - mean of its group) / (std of its group + 1e-4); all-equal groups give 0."""
    grouped = rewards.view(-1, group_size)
    centred = grouped - grouped.mean(dim=1, keepdim=True)
    return (centred / (grouped.std(dim=1, unbiased=False, keepdim=True) + 1e-4)).view(-1)


def reasoning_prompts(tokenizer: object, pairs: Sequence[EncodedPair], rng: random.Random) -> list[tuple]:
    """One reasoning-mode prompt per pair, in a random order: (ids, correct letter, domain)."""
    prompts = []
    for item in pairs:
        passing_first = rng.random() < 0.5
        ids = pair_prompt_ids(tokenizer, item.pair, passing_first, JudgeMode.REASONING)
        prompts.append((ids, "A" if passing_first else "B", item.domain))
    return prompts


@torch.no_grad()
def sample_rollouts(
    peft_model: nn.Module,
    tokenizer: object,
    prompts: Sequence[tuple[list[int], str, int]],
    group_size: int,
    max_new_tokens: int,
    temperature: float,
    pad_id: int,
) -> RolloutBatch:
    """``group_size`` sampled completions per prompt, rewarded and normalised per group."""
    eos_id = getattr(tokenizer, "eos_token_id", None)
    seqs: list[tuple[list[int], list[int]]] = []
    rewards, parsed, domains = [], [], []
    was_training = peft_model.training
    peft_model.eval()
    for ids, correct, domain in prompts:
        prompt = torch.tensor([ids], dtype=torch.long)
        out = peft_model.generate(
            input_ids=prompt,
            attention_mask=torch.ones_like(prompt),
            do_sample=True,
            temperature=temperature,
            top_p=1.0,
            top_k=0,
            max_new_tokens=max_new_tokens,
            num_return_sequences=group_size,
            pad_token_id=pad_id,
        )
        for row in out[:, len(ids) :].tolist():
            finished = eos_id is not None and eos_id in row
            completion = row[: row.index(eos_id) + 1] if finished else row
            text = tokenizer.decode(completion, skip_special_tokens=True)  # type: ignore[attr-defined]
            value, ok = reward(text, correct, truncated=not finished)
            seqs.append((ids, completion))
            rewards.append(value)
            parsed.append(float(ok))
            domains.append(domain)
    peft_model.train(was_training)
    input_ids, attention, completion_mask = pad_completions(seqs, pad_id)
    reward_tensor = torch.tensor(rewards)
    return RolloutBatch(
        input_ids,
        attention,
        completion_mask,
        reward_tensor,
        group_advantages(reward_tensor, group_size),
        torch.tensor(domains, dtype=torch.long),
        torch.tensor(parsed),
    )


def grpo_loss_at(scorer: CompletionLogprob, batch: RolloutBatch) -> TrainLossAt:
    """Per-row policy-gradient losses -A_i * mean log pi(completion_i) as a function of the LoRA tensors."""
    args = (batch.input_ids, batch.attention_mask, batch.completion_mask)

    def loss_at(params: dict[str, torch.Tensor] | None) -> torch.Tensor:
        logp = forward_at(scorer, params, args)
        return -batch.advantages.to(logp.dtype) * logp

    return loss_at
