"""daj.protocol.tokens: the ids a judge's answer words are read from (pure logic on a word -> ids table)."""

from __future__ import annotations

import pytest

from daj.protocol import answer_token_ids, choice_token_ids


class TableTokenizer:
    """A tokenizer that is a lookup table: exactly the interface the lookup uses."""

    def __init__(self, table: dict[str, list[int]]) -> None:
        self.table = table

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        assert add_special_tokens is False  # a BOS token would be read as the answer
        return {"input_ids": self.table[text]}


def test_the_verdict_letters_are_single_distinct_tokens() -> None:
    assert choice_token_ids(TableTokenizer({"A": [32], "B": [33]})) == (32, 33)
    with pytest.raises(ValueError, match="splits the answer word 'B' into \\[7, 8\\]"):
        choice_token_ids(TableTokenizer({"A": [32], "B": [7, 8]}))
    with pytest.raises(ValueError, match="cannot tell the answer words \\['A', 'B'\\] apart"):
        choice_token_ids(TableTokenizer({"A": [5], "B": [5]}))


def test_a_word_may_stand_for_its_first_token_when_asked() -> None:
    tokenizer = TableTokenizer({"Yes": [11, 12], "No": [13], "Nope": [13, 14], "": []})
    assert answer_token_ids(tokenizer, ("Yes", "No"), single_token=False) == (11, 13)
    with pytest.raises(ValueError, match="apart by their first token"):
        answer_token_ids(tokenizer, ("No", "Nope"), single_token=False)
    with pytest.raises(ValueError, match="no token for the answer word ''"):
        answer_token_ids(tokenizer, ("Yes", ""), single_token=False)
