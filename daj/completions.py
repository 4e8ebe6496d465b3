"""The program inside a raw model completion, as code-RL trainers read it.

open-r1's `extract_code` takes the last ```python block and scores an empty string otherwise. Here: the last
fenced block tagged python (or py, python3) or untagged; else, when the whole text parses as Python (and is more
than a bare word), the whole text; else no code. A last block whose closing fence is missing (the generation
stopped at its token limit) is taken to the end of the text, and says so, so a cut program is a visible syntax
error rather than a silent miss.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from daj.probes import PARSE_ERRORS

_FENCE = re.compile(r"^[ \t]*```[ \t]*([A-Za-z0-9_+-]*)[^\n]*$", re.MULTILINE)
_PYTHON_TAGS = {"", "python", "py", "python3"}


@dataclass(frozen=True)
class ExtractedCode:
    code: str | None  # None: no code in the completion
    source: str  # "fenced", "unclosed_fence", "whole_text" or "none"


def extract_code(text: str) -> ExtractedCode:
    """The completion's program (see the module docstring)."""
    blocks = _python_blocks(text)
    if blocks:
        code, closed = blocks[-1]
        if code.strip():
            return ExtractedCode(code, "fenced" if closed else "unclosed_fence")
    if "```" not in text and text.strip() and _parses(text):
        return ExtractedCode(text, "whole_text")
    return ExtractedCode(None, "none")


def _python_blocks(text: str) -> list[tuple[str, bool]]:
    """(body, closed) of every fenced block whose tag is Python or empty, in order."""
    fences = list(_FENCE.finditer(text))
    blocks: list[tuple[str, bool]] = []
    position = 0
    while position < len(fences):
        opening = fences[position]
        tag = opening.group(1).lower()
        start = opening.end() + 1
        closing = next((f for f in fences[position + 1:] if not f.group(1)), None)
        if closing is None:
            if tag in _PYTHON_TAGS and tag:  # an opened python block the generation never closed
                blocks.append((text[start:], False))
            break
        if tag in _PYTHON_TAGS:
            blocks.append((text[start:closing.start()], True))
        position = fences.index(closing) + 1
    return blocks


def _parses(text: str) -> bool:
    """It parses, and is more than a bare word or literal (prose such as "Yes" parses as a name)."""
    try:
        tree = ast.parse(text)
    except PARSE_ERRORS:
        return False
    return any(not (isinstance(node, ast.Expr) and isinstance(node.value, (ast.Name, ast.Constant)))
               for node in tree.body)
