"""The verdict parser: strict, and never raises on whatever a model writes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daj.protocol import (
    Verdict,
    combine_votes,
    parse_reasoning_output,
    parse_verdict_output,
    verdict_from_logprobs,
)


@pytest.mark.parametrize(
    ("text", "choice"),
    [
        ("A is right.\nVerdict: A", "A"),
        ("Verdict: B", "B"),
        ("reasoning\n\n**Verdict: B**\n\n", "B"),
        ("VERDICT: A.", "A"),
        ("  verdict:B  ", "B"),
    ],
)
def test_well_formed_reasoning_answers(text: str, choice: str) -> None:
    verdict = parse_reasoning_output(text)
    assert verdict.choice == choice
    assert verdict.p_a == (1.0 if choice == "A" else 0.0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\n",
        "Verdict: A\nActually, on reflection, B is better.",  # the verdict line must be the last line
        "Verdict: C",
        "Verdict: a",  # the letter must be upper-case
        "Verdict: A or B",
        "Verdict: AB",
        "I think A.",
        "```python\n# Verdict: A\n```",  # a verdict quoted inside code is not the final line's format
        "The answer is: Verdict: A",
        "Verdict: Α",  # Greek capital alpha, not Latin A
        "Verdict: Ａ",  # full-width A
        "\x00\x01Verdict: B\x00",
    ],
)
def test_malformed_reasoning_answers_are_unparseable(text: str) -> None:
    verdict = parse_reasoning_output(text)
    assert verdict.choice == "unparseable"
    assert verdict.p_a is None
    assert not verdict.parsed


def test_truncated_generation_is_unparseable_even_with_a_verdict_line() -> None:
    assert parse_reasoning_output("... Verdict: A", truncated=True).choice == "unparseable"
    assert parse_reasoning_output("Verdict: A", truncated=True).choice == "unparseable"


def test_reasoning_is_kept_without_the_verdict_line() -> None:
    verdict = parse_reasoning_output("A handles the empty list.\nB crashes.\nVerdict: A")
    assert verdict.reasoning == "A handles the empty list.\nB crashes."


@pytest.mark.parametrize(("text", "choice"), [("A", "A"), (" B\n", "B"), ("C", "unparseable"), ("", "unparseable"),
                                              ("AB", "unparseable"), ("a", "unparseable")])
def test_verdict_mode_text(text: str, choice: str) -> None:
    assert parse_verdict_output(text).choice == choice


def test_logprobs_are_renormalised_over_the_two_choices() -> None:
    verdict = verdict_from_logprobs(math.log(0.3), math.log(0.1))
    assert verdict.choice == "A"
    assert verdict.p_a == pytest.approx(0.75)
    assert verdict_from_logprobs(-50.0, -0.01).choice == "B"


@pytest.mark.parametrize(
    ("lp_a", "lp_b", "choice", "p_a"),
    [
        (None, None, "unparseable", None),
        (float("nan"), float("-inf"), "unparseable", None),
        (None, -1.0, "B", 0.0),
        (-1.0, None, "A", 1.0),
        (-1000.0, 0.0, "B", 0.0),
    ],
)
def test_missing_or_degenerate_logprobs(lp_a, lp_b, choice, p_a) -> None:  # type: ignore[no-untyped-def]
    verdict = verdict_from_logprobs(lp_a, lp_b)
    assert verdict.choice == choice
    if p_a is None:
        assert verdict.p_a is None
    else:
        assert verdict.p_a == pytest.approx(p_a, abs=1e-12)


def test_votes_average_probabilities_and_skip_unparseable() -> None:
    votes = [Verdict("A", 1.0, "r1"), Verdict("unparseable", None, "junk"), Verdict("B", 0.0, "r3"), Verdict("A", 1.0)]
    combined = combine_votes(votes)
    assert combined.choice == "A" and combined.p_a == pytest.approx(2 / 3)
    assert "[vote 2] junk" in (combined.reasoning or "")
    assert combine_votes([Verdict("A", 1.0), Verdict("B", 0.0)]).choice == "unparseable"  # an exact split
    assert combine_votes([Verdict("unparseable", None)]).p_a is None


@given(st.text(max_size=2000), st.booleans())
def test_parser_never_raises(text: str, truncated: bool) -> None:
    verdict = parse_reasoning_output(text, truncated=truncated)
    assert verdict.choice in ("A", "B", "unparseable")
    assert parse_verdict_output(text).choice in ("A", "B", "unparseable")


@given(st.one_of(st.none(), st.floats(allow_nan=True)), st.one_of(st.none(), st.floats(allow_nan=True)))
def test_logprob_conversion_never_raises(lp_a, lp_b) -> None:  # type: ignore[no-untyped-def]
    verdict = verdict_from_logprobs(lp_a, lp_b)
    assert verdict.p_a is None or 0.0 <= verdict.p_a <= 1.0
