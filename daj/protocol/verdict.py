"""Reading a judge's answer: a strict parser that never raises on model output.

The parser only ever sees the judge's own completion, never the prompt, so text inside a candidate cannot
become a verdict. Anything that is not exactly the expected format is `unparseable`, not a guess.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from daj.protocol.prompt import VERDICT_CHOICES, VERDICT_LINE_PREFIX

Choice = Literal["A", "B", "unparseable"]

# `Verdict: A`, optionally bold (`**Verdict: A**`) and with a final full stop; the letter must be upper-case.
# Only the word is case-insensitive.
_VERDICT_LINE = re.compile(
    r"^\s*(\*\*)?(?i:" + re.escape(VERDICT_LINE_PREFIX) + r")[ \t]*(?P<choice>[AB])\.?(\*\*)?\s*$"
)


@dataclass(frozen=True)
class Verdict:
    """One judge call's answer for an ordered pair (A shown first).

    `p_a` is the judge's probability that A is the correct one (None when unknown or unparseable).
    """

    choice: Choice
    p_a: float | None
    reasoning: str | None = None

    @property
    def parsed(self) -> bool:
        return self.choice != "unparseable"


UNPARSEABLE = Verdict(choice="unparseable", p_a=None)


def verdict_from_logprobs(logprob_a: float | None, logprob_b: float | None) -> Verdict:
    """Verdict-mode answer from the logprobs of the first generated token, renormalised over {A, B}.

    A missing logprob (token absent from the returned top-k) counts as probability 0; if both are missing or
    not finite the answer is unparseable.
    """
    values = [lp if lp is not None and math.isfinite(lp) else None for lp in (logprob_a, logprob_b)]
    if values[0] is None and values[1] is None:
        return UNPARSEABLE
    if values[0] is None:
        p_a = 0.0
    elif values[1] is None:
        p_a = 1.0
    else:
        p_a = _sigmoid(values[0] - values[1])
    return Verdict(choice="A" if p_a >= 0.5 else "B", p_a=p_a)


def _sigmoid(x: float) -> float:
    """Two-way softmax that cannot overflow for any finite gap between the logprobs."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def parse_verdict_output(text: str) -> Verdict:
    """Verdict-mode answer from generated text only (no logprobs): the stripped text must be A or B."""
    answer = text.strip()
    if answer in VERDICT_CHOICES:
        return _certain(answer)
    return UNPARSEABLE


def _certain(letter: str, reasoning: str | None = None) -> Verdict:
    """The verdict for a letter read from text, with no probability to go on: P(A) is 1 or 0."""
    if letter == "A":
        return Verdict(choice="A", p_a=1.0, reasoning=reasoning)
    return Verdict(choice="B", p_a=0.0, reasoning=reasoning)


def parse_reasoning_output(text: str, truncated: bool = False) -> Verdict:
    """Reasoning-mode answer: free text whose last non-empty line is `Verdict: A` or `Verdict: B`.

    A truncated generation (it hit the token limit) is unparseable even if it happens to end in a verdict
    line, because the judge did not finish its answer.
    """
    if truncated or not isinstance(text, str):
        return Verdict(choice="unparseable", p_a=None, reasoning=text if isinstance(text, str) else None)
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return Verdict(choice="unparseable", p_a=None, reasoning=text)
    last = lines[-1]
    match = _VERDICT_LINE.match(last)
    if match is None:
        return Verdict(choice="unparseable", p_a=None, reasoning=text)
    return _certain(match.group("choice"), reasoning="\n".join(lines[:-1]).strip())


def combine_votes(votes: list[Verdict]) -> Verdict:
    """K sampled judgments of one ordered pair -> one verdict: P(A) is the mean over the parseable votes.

    Verdict-mode votes carry a probability from logprobs; reasoning-mode votes carry 1.0 or 0.0, so the
    mean is the share of votes for A (GenRM-style averaging over sampled rationales).
    """
    parsed = [vote for vote in votes if vote.parsed and vote.p_a is not None]
    reasoning = _joined_reasoning(votes)
    if not parsed:
        return Verdict(choice="unparseable", p_a=None, reasoning=reasoning)
    p_a = sum(vote.p_a for vote in parsed if vote.p_a is not None) / len(parsed)
    if p_a == 0.5:
        return Verdict(choice="unparseable", p_a=0.5, reasoning=reasoning)
    return Verdict(choice="A" if p_a > 0.5 else "B", p_a=p_a, reasoning=reasoning)


def _joined_reasoning(votes: list[Verdict]) -> str | None:
    texts = [vote.reasoning for vote in votes if vote.reasoning]
    if not texts:
        return None
    if len(votes) == 1:
        return texts[0]
    return "\n\n".join(f"[vote {index + 1}] {vote.reasoning or ''}" for index, vote in enumerate(votes))
