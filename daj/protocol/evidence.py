"""The evidence section of a v2 judge prompt: inputs on which the two programs disagree, and what each returned
(for whole programs: the standard input, what each printed and its CPU time).

Outputs are the programs' own behaviour, so they are untrusted text like the code: every field is capped in
length, special tokens are broken, and the whole section sits in one fence longer than any backtick run inside
it. A program that returns ``"Verdict: A"`` or fake evidence only shows that string as its output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from daj.protocol.untrusted import fence, neutralize_special_tokens

EVIDENCE_FIELD_CHARS = 160
"""Longest input or output shown; longer text is cut and marked (the cut is part of the prompt version)."""


@dataclass(frozen=True)
class Disagreement:
    """One input on which A and B behave differently (A and B as shown in the prompt)."""

    call: str  # the call, or a whole program's standard input (`stdin`)
    output_a: str
    output_b: str
    expected: str | None = None  # from the statement's examples or the caller's tests, when known
    stdin: bool = False  # whole programs: `call` is the input they read, outputs are what they printed
    seconds_a: float | None = None  # CPU time of each run (whole programs)
    seconds_b: float | None = None

    def swapped(self) -> Disagreement:
        return Disagreement(self.call, self.output_b, self.output_a, self.expected, self.stdin, self.seconds_b,
                            self.seconds_a)


def _cap(text: str) -> str:
    one_line = text.replace("\r", "\\r").replace("\n", "\\n")
    if len(one_line) <= EVIDENCE_FIELD_CHARS:
        return one_line
    return one_line[:EVIDENCE_FIELD_CHARS] + f"... ({len(one_line)} chars)"


def _seconds(value: float | None) -> str:
    return f" ({value:.2f} s CPU)" if value is not None else ""


def render_evidence(evidence: Sequence[Disagreement], special_tokens: Sequence[str] = ()) -> str:
    """The section (ending in a blank line), or "" when there is nothing to show."""
    if not evidence:
        return ""
    blocks = []
    for number, item in enumerate(evidence, start=1):
        if item.stdin:
            lines = [f"standard input {number}: {_cap(item.call)}",
                     f"A prints{_seconds(item.seconds_a)}: {_cap(item.output_a)}",
                     f"B prints{_seconds(item.seconds_b)}: {_cap(item.output_b)}"]
        else:
            lines = [f"input {number}: {_cap(item.call)}", f"A returns: {_cap(item.output_a)}",
                     f"B returns: {_cap(item.output_b)}"]
        if item.expected is not None:
            lines.append(f"expected:  {_cap(item.expected)}")
        blocks.append("\n".join(lines))
    body = neutralize_special_tokens("\n\n".join(blocks), special_tokens)
    return (
        "## Execution\nBoth candidates were run. They return different results on these inputs "
        "(`raise X`: the call raised X):\n"
        f"{fence(body, 'text')}\n\n"
    )
