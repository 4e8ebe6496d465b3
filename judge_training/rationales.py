"""Reasoning-format SFT: written judgments built from how each pair was made, in the service's answer format.

A reasoning judge answers with a few sentences and a final ``Verdict: A|B`` line (daj.protocol.target_text).
No data set ships such judgments for our pairs, but every pair knows why its failing program fails, by
construction or by execution, so the rationale is written from the pair itself and never guesses:
- a prefix of the passing program (truncation source): the failing one stops mid-program;
- a run-on (the passing program plus a cut-off ``assert``): the failing one goes on past the function and
  does not parse;
- otherwise (mutants, pairs of sampled programs): the first place the two programs differ, quoted from both,
  and which side of that difference the tests reject.
Both orders of a pair are trained (the letters follow the order), like the verdict format. The loss is the
mean negative log-likelihood of the written answer plus the end-of-turn token, one value per row, so the
bi-level reweighting weighs rows exactly as it weighs verdict-mode rows.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from daj.protocol import JudgeMode, encode_prompt, target_text
from judge_training.completions import CompletionLogprob, pad_completions
from judge_training.data import EncodedPair, pair_prompt_ids
from judge_training.reweighting import TrainLossAt, forward_at

_QUOTE_CHARS = 70


def _quote(line: str) -> str:
    text = line.strip()
    return f"`{text[: _QUOTE_CHARS - 3]}...`" if len(text) > _QUOTE_CHARS else f"`{text}`"


def _lines(code: str) -> list[str]:
    return [line.rstrip() for line in code.strip("\n").splitlines() if line.strip()]


def rationale(passing: str, failing: str, passing_letter: str) -> str:
    """Why the passing program is the right pick, naming the candidates by their letters in this order."""
    good, bad = passing_letter, "B" if passing_letter == "A" else "A"
    passing_lines, failing_lines = _lines(passing), _lines(failing)
    if failing_lines and passing.strip().startswith(failing.strip()):  # a prefix never has more lines
        return (f"Candidate {bad} stops in the middle of the program: its last line is {_quote(failing_lines[-1])}, "
                f"so it is incomplete and cannot work. Candidate {good} is complete.")
    if passing.strip() and failing.strip().startswith(passing.strip()):
        extra = failing.strip()[len(passing.strip()) :].strip().splitlines()
        tail = _quote(extra[-1]) if extra else "a cut-off line"
        return (f"Candidate {bad} does not stop after the function: it goes on with {tail}, which is cut off, so "
                f"the file does not even parse. Candidate {good} ends cleanly.")
    ordered = (passing_lines, failing_lines) if good == "A" else (failing_lines, passing_lines)
    opcodes = [op for op in difflib.SequenceMatcher(None, *ordered, autojunk=False).get_opcodes() if op[0] != "equal"]
    if not opcodes:
        return f"The two candidates are the same program written differently; Candidate {good} passes the tests."
    _, a_start, a_end, b_start, b_end = opcodes[0]
    a_line = _quote(ordered[0][a_start]) if a_start < a_end else "nothing"
    b_line = _quote(ordered[1][b_start]) if b_start < b_end else "nothing"
    scope = "in one place" if len(opcodes) == 1 else "first"
    return (f"The candidates differ {scope}: A has {a_line} where B has {b_line}. Candidate {bad}'s version "
            f"gives wrong results for the problem, Candidate {good}'s is correct.")


@dataclass
class ReasoningBatch:
    """Both orders of each pair: reasoning-mode prompt + written answer + end-of-turn, right-padded."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    completion_mask: torch.Tensor
    domains: torch.Tensor

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])


_ORDERS = (("A", True), ("B", False))  # (letter of the passing program, passing program shown first)


def reasoning_rows(tokenizer: object, pair: EncodedPair) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, answer ids) for the pair with the passing program first (A), then second (B)."""
    example, eos = pair.pair, getattr(tokenizer, "eos_token_id", None)
    rows = []
    for letter, passing_first in _ORDERS:
        prompt = pair_prompt_ids(tokenizer, example, passing_first, JudgeMode.REASONING)
        answer = target_text(letter, JudgeMode.REASONING, rationale(example.chosen, example.rejected, letter))
        answer_ids = encode_prompt(tokenizer, answer) + ([int(eos)] if eos is not None else [])
        rows.append((prompt, answer_ids))
    return rows


def reasoning_batch(
    tokenizer: object, pairs: Sequence[EncodedPair], pad_id: int, device: str = "cpu"
) -> ReasoningBatch:
    rows, domains = [], []
    for pair in pairs:
        rows += reasoning_rows(tokenizer, pair)
        domains += [pair.domain, pair.domain]
    input_ids, attention, completion = pad_completions(rows, pad_id)
    return ReasoningBatch(input_ids.to(device), attention.to(device), completion.to(device),
                          torch.tensor(domains, dtype=torch.long, device=device))  # fmt: skip


def reasoning_loss_at(scorer: CompletionLogprob, batch: ReasoningBatch) -> TrainLossAt:
    """Per-row mean NLL of the written answer as a function of the LoRA tensors."""
    args = (batch.input_ids, batch.attention_mask, batch.completion_mask)

    def loss_at(params: dict[str, torch.Tensor] | None) -> torch.Tensor:
        return -forward_at(scorer, params, args)

    return loss_at


@torch.no_grad()
def evaluate_reasoning(
    peft_model: torch.nn.Module, tokenizer: object, pairs: Sequence[EncodedPair], max_new_tokens: int, pad_id: int
) -> dict[str, object]:
    """Judge each pair in both orders in reasoning mode (greedy), read the answers with the service's parser:
    parse rate, accuracy (an unparseable answer counts as wrong), both orders right, and two sample answers."""
    from daj.protocol import parse_reasoning_output

    eos = getattr(tokenizer, "eos_token_id", None)
    was_training = peft_model.training
    peft_model.eval()
    correct: list[bool] = []
    parsed: list[bool] = []
    samples: list[str] = []
    for pair in pairs:
        for letter, passing_first in _ORDERS:
            prompt = pair_prompt_ids(tokenizer, pair.pair, passing_first, JudgeMode.REASONING)
            ids = torch.tensor([prompt], dtype=torch.long)
            out = peft_model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                      max_new_tokens=max_new_tokens, pad_token_id=pad_id)  # fmt: skip
            completion = out[0, len(prompt) :].tolist()
            finished = eos is not None and eos in completion
            text = tokenizer.decode(completion, skip_special_tokens=True)  # type: ignore[attr-defined]
            verdict = parse_reasoning_output(text, truncated=not finished)
            parsed.append(verdict.parsed)
            correct.append(verdict.choice == letter)
            if len(samples) < 2:
                samples.append(text.strip())
    peft_model.train(was_training)
    both = [correct[i] and correct[i + 1] for i in range(0, len(correct), 2)]
    n = max(1, len(correct))
    return {"parse_rate": sum(parsed) / n, "accuracy": sum(correct) / n,
            "consistent_accuracy": sum(both) / max(1, len(both)), "n_pairs": len(both), "samples": samples}
