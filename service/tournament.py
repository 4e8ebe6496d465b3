"""Tournament logic (pure, no I/O): who plays whom each round, how two orders merge, who wins.

Players are candidate indices (the first of each group of identical candidates). The selection service
asks `next_round()` for the pairs of a round, judges them all at once, and hands the outcomes back with
`record()`, until `next_round()` returns None.

Rules (documented in docs/service.md):
- A match is judged in one or both orders; P(first beats second) is the mean over the parseable orders of
  the judge's probability for that candidate. Orders that disagree are therefore resolved by the summed
  probabilities. When no order parses, P = 0.5.
- An exact P = 0.5 is a tie, broken by the tie rule: the candidate that came first in the request wins.
- Knockout: pairs in request order (0 v 1, 2 v 3, ...); an odd player out gets a bye into the next round.
- Round robin: every pair once; ranking by total win probability, then wins, then request order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from itertools import combinations


@dataclass(frozen=True)
class OrderedVerdict:
    """One judgment: `first` shown as A, `second` as B; `p_first` = P(A is correct) or None if unparseable."""

    first: int
    second: int
    p_first: float | None


@dataclass(frozen=True)
class MatchOutcome:
    round: int
    pair: tuple[int, int]
    winner: int
    p_first: float  # probability that pair[0] beats pair[1]
    decided_by: str  # "judge" or "tie_rule"

    @property
    def loser(self) -> int:
        return self.pair[1] if self.winner == self.pair[0] else self.pair[0]


def merge_orders(round_index: int, pair: tuple[int, int], verdicts: list[OrderedVerdict]) -> MatchOutcome:
    """Combine the orders of one match into one outcome (see the module rules)."""
    i, j = pair
    probabilities = []
    for verdict in verdicts:
        if verdict.p_first is None:
            continue
        if (verdict.first, verdict.second) == (i, j):
            probabilities.append(verdict.p_first)
        elif (verdict.first, verdict.second) == (j, i):
            probabilities.append(1.0 - verdict.p_first)
        else:
            raise ValueError(f"verdict for {verdict.first, verdict.second} does not belong to match {pair}")
    p_i = sum(probabilities) / len(probabilities) if probabilities else 0.5
    if p_i == 0.5:
        return MatchOutcome(round_index, pair, min(i, j), 0.5, "tie_rule")
    return MatchOutcome(round_index, pair, i if p_i > 0.5 else j, p_i, "judge")


@dataclass
class Standing:
    player: int
    wins: int = 0
    losses: int = 0
    score: float = 0.0  # sum of win probabilities over the player's matches
    last_round: int = -1  # knockout: the last round the player took part in (or advanced through)


@dataclass
class Tournament(ABC):
    players: list[int]
    round_index: int = 0
    outcomes: list[MatchOutcome] = field(default_factory=list)
    standings: dict[int, Standing] = field(init=False)

    def __post_init__(self) -> None:
        if not self.players:
            raise ValueError("a tournament needs at least one player")
        self.standings = {player: Standing(player) for player in self.players}

    @abstractmethod
    def next_round(self) -> list[tuple[int, int]] | None:
        """Pairs to judge now, or None when the tournament is over."""

    def record(self, outcomes: list[MatchOutcome]) -> None:
        for outcome in outcomes:
            i, j = outcome.pair
            self.standings[outcome.winner].wins += 1
            self.standings[outcome.loser].losses += 1
            self.standings[i].score += outcome.p_first
            self.standings[j].score += 1.0 - outcome.p_first
        self.outcomes.extend(outcomes)
        self._after_round(outcomes)
        self.round_index += 1

    def _after_round(self, outcomes: list[MatchOutcome]) -> None:
        return None

    @abstractmethod
    def ranking(self) -> list[Standing]:
        """Best first."""

    def winner(self) -> int:
        return self.ranking()[0].player


class Knockout(Tournament):
    """Single elimination: ceil(log2 n) rounds, n - 1 matches."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.alive: list[int] = list(self.players)

    def next_round(self) -> list[tuple[int, int]] | None:
        if len(self.alive) <= 1:
            return None
        return [(self.alive[k], self.alive[k + 1]) for k in range(0, len(self.alive) - 1, 2)]

    def _after_round(self, outcomes: list[MatchOutcome]) -> None:
        losers = {outcome.loser for outcome in outcomes}
        for player in self.alive:
            self.standings[player].last_round = self.round_index  # played or had a bye
        self.alive = [player for player in self.alive if player not in losers]

    def ranking(self) -> list[Standing]:
        order = {player: position for position, player in enumerate(self.players)}
        champion = self.alive[0] if len(self.alive) == 1 else None
        return sorted(
            self.standings.values(),
            key=lambda s: (s.player != champion, -s.last_round, -s.score, order[s.player]),
        )


class RoundRobin(Tournament):
    """Every pair once, in one round: n(n-1)/2 matches."""

    def next_round(self) -> list[tuple[int, int]] | None:
        if self.round_index > 0 or len(self.players) < 2:
            return None
        return list(combinations(self.players, 2))

    def ranking(self) -> list[Standing]:
        order = {player: position for position, player in enumerate(self.players)}
        return sorted(self.standings.values(), key=lambda s: (-s.score, -s.wins, order[s.player]))


def make_tournament(strategy: str, players: list[int]) -> Tournament:
    tournaments: dict[str, type[Tournament]] = {"knockout": Knockout, "round_robin": RoundRobin}
    if strategy not in tournaments:
        raise ValueError(f"unknown strategy {strategy!r}; known: {sorted(tournaments)}")
    return tournaments[strategy](players=list(players))
