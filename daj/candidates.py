"""Candidate identity: when two submitted programs are the same program.

Shared by the service (identical candidates play one tournament slot) and by evaluation (the exec-* methods
and the baselines dedupe the same way), so both count the same candidates as one.
"""

from __future__ import annotations

import re

_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)


def normalize_code(code: str) -> str:
    """Whitespace-insensitive form for finding identical candidates (line endings, trailing spaces, blanks)."""
    text = _TRAILING_SPACE.sub("", code.replace("\r\n", "\n").replace("\r", "\n"))
    return "\n".join(line for line in text.split("\n") if line.strip())


def group_identical(codes: list[str]) -> list[int]:
    """For each candidate, the index of the first candidate identical to it (itself if it is the first)."""
    first_seen: dict[str, int] = {}
    return [first_seen.setdefault(normalize_code(code), index) for index, code in enumerate(codes)]
