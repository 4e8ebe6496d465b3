"""Untrusted text (problems, programs, program outputs) inside a judge prompt: fenced and defused."""

from __future__ import annotations

import re
from collections.abc import Iterable

_WORD_JOINER = "\u2060"
_BACKTICK_RUN = re.compile(r"`+")


def fence(code: str, language: str = "python") -> str:
    """Wrap code in a backtick fence longer than any backtick run it contains."""
    longest = max((len(run) for run in _BACKTICK_RUN.findall(code)), default=0)
    ticks = "`" * max(3, longest + 1)
    body = code.rstrip("\n")
    return f"{ticks}{language}\n{body}\n{ticks}"


def neutralize_special_tokens(text: str, special_tokens: Iterable[str]) -> str:
    """Break every occurrence of a special token so the tokenizer reads it as plain text."""
    for token in special_tokens:
        if len(token) > 1 and token in text:
            text = text.replace(token, token[0] + _WORD_JOINER + token[1:])
    return text
