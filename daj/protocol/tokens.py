"""Which vocabulary ids stand for a judge's answer words (the verdict letters, or a baseline's Yes/No).

One lookup for the service's engines, training's loss and evaluation's pointwise baseline, so the token a
judge is trained to emit is the token it is read from when served.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from daj.protocol.prompt import VERDICT_CHOICES


def answer_token_ids(tokenizer: Any, words: Sequence[str], single_token: bool = True) -> tuple[int, ...]:
    """The first token id of each answer word, all distinct.

    With `single_token` a word the tokenizer splits is refused (a verdict letter must be read from exactly one
    logprob); without it a word's first token stands for the word. Raises ValueError naming the word.
    """
    ids = []
    for word in words:
        encoded = tokenizer(word, add_special_tokens=False)["input_ids"]
        if not encoded:
            raise ValueError(f"the tokenizer gives no token for the answer word {word!r}")
        if single_token and len(encoded) != 1:
            raise ValueError(f"the tokenizer splits the answer word {word!r} into {encoded}")
        ids.append(int(encoded[0]))
    if len(set(ids)) != len(ids):
        raise ValueError(f"the tokenizer cannot tell the answer words {list(words)} apart by their first token "
                         f"({ids})")
    return tuple(ids)


def choice_token_ids(tokenizer: Any) -> tuple[int, int]:
    """Token ids of the verdict letters "A" and "B"; each must be a single token."""
    first, second = answer_token_ids(tokenizer, VERDICT_CHOICES)
    return first, second
