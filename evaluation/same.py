"""Did a change leave the judge's behaviour alone? Two runs of one method on the same draws, selection by
selection: the same pick, the same judgments (same ordered pairs, same verdicts) and probabilities within a
tolerance. For refactors: rerun one seed and hold it against the committed records (`daj same`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from evaluation.records import SelectionRecord


@dataclass
class Agreement:
    selections: int = 0  # selections present in both runs (both errored the same way counts as the same)
    missing: int = 0  # selections of the reference run the new run lacks, or that errored in one run only
    same_picks: int = 0
    judgments: int = 0
    same_verdicts: int = 0
    max_dp: float = 0.0  # largest |P_new - P_old| over same verdicts with a probability in both
    # |P_new - P_old| of every judgment made in both runs with a probability in both, changed verdicts included:
    # how far two numerically different runs (e.g. float32 against bfloat16) drift, not only where they agree.
    dps: list[float] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)  # the first few, for the reader

    def dp_quantile(self, q: float) -> float:
        ordered = sorted(self.dps)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0

    def holds(self, tolerance: float) -> bool:
        return (self.selections > 0 and self.missing == 0 and self.same_picks == self.selections
                and self.same_verdicts == self.judgments and self.max_dp <= tolerance)


def agreement(reference: Sequence[SelectionRecord], new: Sequence[SelectionRecord], method: str, strategy: str,
              n: int, seeds: Sequence[int]) -> Agreement:
    """Compare every selection of `reference` (method, strategy, n, one of `seeds`) with the same one in `new`."""
    wanted = [r for r in reference if (r.method, r.strategy, r.n) == (method, strategy, n) and r.seed in seeds]
    by_key = {r.key: r for r in new}
    result = Agreement()
    for old in wanted:
        fresh = by_key.get(old.key)
        if fresh is None or bool(old.error) != bool(fresh.error):
            result.missing += 1
            _note(result, f"{old.task_id} seed {old.seed}: " + (
                "not in the new run" if fresh is None else f"error {old.error!r} -> {fresh.error!r}"))
            continue
        result.selections += 1
        _compare(old, fresh, result)
    return result


def _compare(old: SelectionRecord, new: SelectionRecord, result: Agreement) -> None:
    if old.picked == new.picked and old.selected == new.selected:
        result.same_picks += 1
    else:
        _note(result, f"{old.task_id} seed {old.seed}: picked {old.picked} -> {new.picked}")
    new_judgments = {(j.round, tuple(j.order)): j for j in new.judgments}
    if len(new.judgments) > len(old.judgments):  # calls the reference never made are a change too
        result.judgments += len(new.judgments) - len(old.judgments)
        _note(result, f"{old.task_id} seed {old.seed}: {len(old.judgments)} -> {len(new.judgments)} judgments")
    for judgment in old.judgments:
        result.judgments += 1
        match = new_judgments.get((judgment.round, tuple(judgment.order)))
        if match is not None and judgment.probability is not None and match.probability is not None:
            result.dps.append(abs(judgment.probability - match.probability))
        if match is None or match.verdict != judgment.verdict:
            _note(result, f"{old.task_id} seed {old.seed} round {judgment.round} order {tuple(judgment.order)}: "
                          f"{judgment.verdict} -> {match.verdict if match else 'not judged'}")
            continue
        result.same_verdicts += 1
        if judgment.probability is not None and match.probability is not None:
            result.max_dp = max(result.max_dp, abs(judgment.probability - match.probability))


def _note(result: Agreement, text: str) -> None:
    if len(result.differences) < 10:
        result.differences.append(text)
