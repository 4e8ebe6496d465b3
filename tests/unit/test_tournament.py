"""Tournament rules on hand-made verdicts (pure logic)."""

from __future__ import annotations

import math

import pytest

from daj.candidates import group_identical, normalize_code
from service.tournament import (
    Knockout,
    OrderedVerdict,
    RoundRobin,
    make_tournament,
    merge_orders,
)


def test_whitespace_variants_are_identical_but_real_changes_are_not() -> None:
    assert normalize_code("def f():\r\n    return 1   \r\n\r\n") == normalize_code("def f():\n    return 1")
    assert group_identical(["a = 1", "a = 2", "a = 1\n\n", "  a = 1"]) == [0, 1, 0, 3]


def test_orders_that_disagree_are_resolved_by_summed_probability() -> None:
    # (0 as A): P(0) = 0.9; (1 as A): P(1) = 0.7 -> P(0 beats 1) = (0.9 + 0.3) / 2 = 0.6
    outcome = merge_orders(0, (0, 1), [OrderedVerdict(0, 1, 0.9), OrderedVerdict(1, 0, 0.7)])
    assert outcome.winner == 0 and outcome.p_first == pytest.approx(0.6) and outcome.decided_by == "judge"
    outcome = merge_orders(0, (0, 1), [OrderedVerdict(0, 1, 0.55), OrderedVerdict(1, 0, 0.8)])
    assert outcome.winner == 1 and outcome.p_first == pytest.approx(0.375)


def test_an_exact_tie_goes_to_the_candidate_that_came_first() -> None:
    outcome = merge_orders(0, (3, 1), [OrderedVerdict(3, 1, 0.8), OrderedVerdict(1, 3, 0.8)])
    assert outcome.p_first == 0.5 and outcome.winner == 1 and outcome.decided_by == "tie_rule"


def test_unparseable_orders_are_skipped_and_all_unparseable_is_a_tie() -> None:
    assert merge_orders(0, (0, 1), [OrderedVerdict(0, 1, None), OrderedVerdict(1, 0, 0.2)]).p_first == pytest.approx(
        0.8)
    assert merge_orders(0, (0, 1), [OrderedVerdict(0, 1, None)]).decided_by == "tie_rule"
    with pytest.raises(ValueError):
        merge_orders(0, (0, 1), [OrderedVerdict(0, 2, 0.5)])


def _play(tournament, strength: dict[int, float]) -> None:  # type: ignore[no-untyped-def]
    """Judge by a fixed strength per player: P(i beats j) = s_i / (s_i + s_j)."""
    while (pairs := tournament.next_round()) is not None:
        round_index = tournament.round_index
        tournament.record([
            merge_orders(round_index, (i, j), [OrderedVerdict(i, j, strength[i] / (strength[i] + strength[j]))])
            for i, j in pairs
        ])


@pytest.mark.parametrize("n", [2, 3, 5, 8, 13, 16])
def test_knockout_plays_n_minus_1_matches_in_log2_rounds_and_the_strongest_wins(n: int) -> None:
    strength = {k: 1.0 + ((k * 7) % n) for k in range(n)}
    tournament = make_tournament("knockout", list(range(n)))
    _play(tournament, strength)
    assert len(tournament.outcomes) == n - 1
    assert tournament.round_index == math.ceil(math.log2(n))
    assert tournament.winner() == max(strength, key=lambda k: strength[k])
    ranking = tournament.ranking()
    assert ranking[0].player == tournament.winner() and len(ranking) == n


def test_knockout_gives_the_odd_player_a_bye() -> None:
    tournament = Knockout(players=[0, 1, 2])
    assert tournament.next_round() == [(0, 1)]


def test_round_robin_plays_every_pair_once_and_ranks_by_score() -> None:
    strength = {0: 1.0, 1: 5.0, 2: 3.0, 3: 2.0}
    tournament = RoundRobin(players=[0, 1, 2, 3])
    _play(tournament, strength)
    assert len(tournament.outcomes) == 6 and tournament.round_index == 1
    assert [s.player for s in tournament.ranking()] == [1, 2, 3, 0]
    assert sum(s.score for s in tournament.ranking()) == pytest.approx(6.0)


def test_a_single_player_needs_no_match() -> None:
    for strategy in ("knockout", "round_robin"):
        tournament = make_tournament(strategy, [4])
        assert tournament.next_round() is None and tournament.winner() == 4
    with pytest.raises(ValueError):
        make_tournament("swiss-cheese", [0, 1])
