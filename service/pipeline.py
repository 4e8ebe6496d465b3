"""The execution-grounded selection rules (pure, no I/O): how behaviour and the judge combine.

Grouping, clustering and the evidence a judge is shown live in `daj/probes/behaviour.py` (training builds its
evidence pairs with the same code):
1. Group by the checks (statement examples and caller tests) each candidate passes: the candidates that pass
   the most form the top group (with no checks, everyone is in it).
2. Drop every generated or caller input on which all top-group candidates raise or time out: it probably breaks
   the specification's preconditions. If no top-group candidate completes a single probe (all fail to import,
   say), execution told nothing apart: the selection falls back to the judge alone.
3. Cluster candidates by behaviour: the same mark and output on every probe kept. Identical behaviour is judged
   once: the tournament runs over one representative per top-group cluster, largest cluster first.
4. Each judged pair is shown up to K inputs on which the two disagree (checks first), with both outputs.

Here:
5. Knockout seeding, so the largest clusters meet last.
6. A match the judge is unsure of (probability within `margin` of 0.5, or its two orders disagree) goes to the
   larger cluster: a weak judge must not throw the consensus signal away. Its probability is then the larger
   cluster's share of the two clusters' candidates.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.tournament import MatchOutcome, OrderedVerdict


def seeded_order(players: Sequence[int]) -> list[int]:
    """Knockout seeding from a best-first list: 1st v last, 2nd v second-to-last, ... so the largest clusters
    meet as late as possible."""
    ordered, low, high = [], 0, len(players) - 1
    while low <= high:
        ordered.append(players[low])
        if low != high:
            ordered.append(players[high])
        low, high = low + 1, high - 1
    return ordered


def orders_disagree(pair: tuple[int, int], verdicts: Sequence[OrderedVerdict]) -> bool:
    """The orders name different winners (position bias): the judge has no real preference."""
    first = pair[0]
    sides = set()
    for verdict in verdicts:
        if verdict.p_first is None or verdict.p_first == 0.5:
            continue
        p = verdict.p_first if verdict.first == first else 1.0 - verdict.p_first
        sides.add(p > 0.5)
    return len(sides) > 1


def with_consensus(
    outcome: MatchOutcome, verdicts: Sequence[OrderedVerdict], sizes: tuple[int, int], margin: float
) -> MatchOutcome:
    """The judge's outcome, unless it is unsure and one cluster is larger: then the larger cluster wins, with
    its share of the two clusters' candidates as the match probability (so a round robin, which ranks by
    summed probability, follows the consensus too)."""
    unsure = abs(outcome.p_first - 0.5) <= margin or orders_disagree(outcome.pair, verdicts)
    if not unsure or sizes[0] == sizes[1]:
        return outcome
    winner = outcome.pair[0] if sizes[0] > sizes[1] else outcome.pair[1]
    return MatchOutcome(outcome.round, outcome.pair, winner, sizes[0] / (sizes[0] + sizes[1]), "consensus")


def checks_text(passed: int, total: int) -> str:
    return f"{passed}/{total} examples and tests"
