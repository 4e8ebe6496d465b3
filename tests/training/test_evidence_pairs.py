"""Evidence pairs run both programs in the real sandbox on the service's probe set and render what the service
would show the judge."""

from __future__ import annotations

from pathlib import Path

import pytest

from daj.protocol import PROMPT_V2
from daj.testing.programs import NO_SHORT, RIGHT, RIGHT_TOO, TOP_TWO_PROBLEM, WRONG
from judge_training.data import PairExample
from judge_training.evidence import (
    EXAMPLES_DIFFER,
    TIE_AFTER_EXAMPLES,
    EvidencePair,
    EvidenceSettings,
    evidence_pair,
    evidence_pairs,
    evidence_prompt_ids,
    sample_per_source,
    survey,
)
from service.settings import Settings

PROBLEM = TOP_TWO_PROBLEM
SAME = RIGHT_TOO
ASCENDING = WRONG


def pair(rejected: str) -> PairExample:
    return PairExample("T/1", PROBLEM, RIGHT, rejected, "test", "medium", "p")


def test_the_settings_are_the_services() -> None:
    service, ours = Settings(), EvidenceSettings()
    assert (ours.generated_inputs, ours.evidence_inputs, ours.case_seconds, ours.output_chars, ours.max_tests) == (
        service.execution_generated_inputs, service.evidence_inputs, service.execution_case_s,
        service.execution_output_chars, service.execution_max_tests)
    assert (ours.limits.wall_seconds, ours.limits.cpu_seconds, ours.limits.memory_mb) == (
        service.execution_wall_s, service.execution_cpu_s, service.execution_memory_mb)


def test_a_failed_example_is_shown_with_its_expected_value() -> None:
    item = evidence_pair(pair(ASCENDING), EvidenceSettings())
    assert isinstance(item, EvidencePair) and item.stage == EXAMPLES_DIFFER and item.entry_point == "top_two"
    first = item.evidence[0]
    assert (first.call, first.output_a, first.output_b, first.expected) == ("top_two([1, 5, 3])", "[5, 3]", "[1, 3]",
                                                                             "[5, 3]")
    swapped = item.shown(passing_first=False)[0]
    assert (swapped.output_a, swapped.output_b) == ("[1, 3]", "[5, 3]")


def test_programs_that_tie_on_the_examples_differ_on_generated_inputs() -> None:
    item = evidence_pair(pair(NO_SHORT), EvidenceSettings())
    assert isinstance(item, EvidencePair) and item.stage == TIE_AFTER_EXAMPLES
    assert 1 <= len(item.evidence) <= 3 and all(d.expected is None for d in item.evidence)  # generated inputs only
    assert any(d.output_b.startswith("raise IndexError") for d in item.evidence), item.evidence


def test_same_behaviour_or_nothing_to_run_has_no_evidence() -> None:
    assert evidence_pair(pair(SAME), EvidenceSettings()) == "same behaviour on every probe"
    no_code = PairExample("T/2", "Write a program.", "print(1)\n", "print(2)\n", "test", "medium", "p")
    assert evidence_pair(no_code, EvidenceSettings()) == "no entry point"


def test_the_batch_keeps_input_order_and_tallies_every_outcome() -> None:
    kept, tally = evidence_pairs([pair(NO_SHORT), pair(SAME), pair(ASCENDING)], EvidenceSettings(), workers=2)
    assert [item.stage for item in kept] == [TIE_AFTER_EXAMPLES, EXAMPLES_DIFFER]
    assert tally == {TIE_AFTER_EXAMPLES: 1, EXAMPLES_DIFFER: 1, "same behaviour on every probe": 1}


@pytest.mark.parametrize("passing_first", [True, False])
def test_the_prompt_shows_the_evidence_in_its_order(tiny_model_dir: Path, passing_first: bool) -> None:
    from transformers import AutoTokenizer

    from daj.protocol import encode_prompt, render_prompt

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    item = evidence_pair(pair(ASCENDING), EvidenceSettings())
    assert isinstance(item, EvidencePair)
    ids = evidence_prompt_ids(tokenizer, item, passing_first)
    code_a, code_b = (RIGHT, ASCENDING) if passing_first else (ASCENDING, RIGHT)
    served = render_prompt(tokenizer, PROBLEM, code_a, code_b, "verdict", item.shown(passing_first), PROMPT_V2)
    assert ids == encode_prompt(tokenizer, served)  # byte for byte what the service renders for this pair
    a_output, b_output = ("[5, 3]", "[1, 3]") if passing_first else ("[1, 3]", "[5, 3]")
    assert f"A returns: {a_output}\nB returns: {b_output}\nexpected:  [5, 3]" in tokenizer.decode(ids)


def test_the_survey_counts_stages_and_reasons_per_source() -> None:
    other = PairExample("T/3", PROBLEM, RIGHT, ASCENDING, "other", "easy", "p")
    drawn = sample_per_source([pair(NO_SHORT), pair(SAME), pair(ASCENDING), other], per_source=2, seed=0)
    assert len(drawn) == 3 and sum(p.source == "test" for p in drawn) == 2
    assert sample_per_source(drawn, per_source=2, seed=0) == sample_per_source(drawn, per_source=2, seed=0)
    rows = survey([pair(NO_SHORT), pair(SAME), other], EvidenceSettings(), workers=2)
    assert rows == [{"source": "other", "pairs": 1, EXAMPLES_DIFFER: 1},
                    {"source": "test", "pairs": 2, TIE_AFTER_EXAMPLES: 1, "same behaviour on every probe": 1}]
