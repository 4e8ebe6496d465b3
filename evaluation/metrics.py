"""Metrics of Best-of-N selection: pure functions of `SelectionRecord`s (no I/O, no engine).

Conventions (docs/evaluation.md explains them):
- Every rate is first averaged over a problem's draws (seeds), then over problems, so each problem weighs the
  same; bootstrap CIs resample problems.
- recovery = (selected - random) / (oracle - random) on the aggregate means; when oracle == random (every draw
  all-pass or all-fail) it is undefined and reported as None (null in JSON), never a crash or a fake 0.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evaluation.records import JudgmentRecord, SelectionRecord

# Upper bounds (exclusive) of the pool-pass-rate buckets: hard < 0.3 <= medium < 0.7 <= easy.
BUCKETS: tuple[tuple[str, float], ...] = (("hard", 0.3), ("medium", 0.7), ("easy", math.inf))
_EPS = 1e-12


def difficulty_bucket(pass_rate: float) -> str:
    """Bucket of a problem by the pass rate of its whole pool (not of one draw, which would leak the draw)."""
    for name, upper in BUCKETS:
        if pass_rate < upper:
            return name
    raise ValueError(f"pass rate {pass_rate} is not a number in [0, 1]")


def mean(values: Iterable[float]) -> float | None:
    """Arithmetic mean, or None for no values (an empty group is reported as missing, not as 0)."""
    items = list(values)
    return sum(items) / len(items) if items else None


def random_expected(labels: Sequence[bool]) -> float:
    """Expected pass of a uniformly random pick: the mean label of the draw (no sampling noise)."""
    return sum(labels) / len(labels)


def oracle(labels: Sequence[bool]) -> float:
    return 1.0 if any(labels) else 0.0


def is_mixed(labels: Sequence[bool]) -> bool:
    """At least one passing and one failing candidate: the only draws where a selector can matter."""
    return any(labels) and not all(labels)


def recovery(selected: float | None, random: float | None, best: float | None) -> float | None:
    """Share of the random-to-oracle gap the selector closes; None when the gap is 0 or an input is missing."""
    if selected is None or random is None or best is None or abs(best - random) < _EPS:
        return None
    return (selected - random) / (best - random)


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson correlation; None when either side is constant (the correlation is undefined there)."""
    if len(xs) != len(ys):
        raise ValueError(f"pearson: {len(xs)} x values but {len(ys)} y values")
    if len(xs) < 2:
        return None
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx < _EPS or syy < _EPS:
        return None
    return sxy / math.sqrt(sxx * syy)


def judgment_credit(judgment: JudgmentRecord, labels: Sequence[bool]) -> float | None:
    """Credit of one ordered verdict on a mixed pair (exactly one passes): 1 if it names the passing one,
    0 if not or unparseable, 0.5 for an exact P = 0.5 (no preference); None for pairs that are not mixed."""
    first, second = judgment.order
    if labels[first] == labels[second]:
        return None
    if judgment.verdict not in ("A", "B") or judgment.probability is None:
        return 0.0
    if judgment.probability == 0.5:
        return 0.5
    named = first if judgment.verdict == "A" else second
    return 1.0 if labels[named] else 0.0


def preferred(judgment: JudgmentRecord) -> int | None:
    """The candidate one ordered judgment prefers, by its probability; None for an exact 0.5 (no preference)."""
    if judgment.probability is None or judgment.probability == 0.5:
        return None
    return judgment.order[0] if judgment.probability > 0.5 else judgment.order[1]


def position_consistency(judgments: Sequence[JudgmentRecord]) -> list[bool]:
    """For each match judged in both orders with both parseable: do both orders prefer the same candidate?

    Preference comes from the probability, not the letter (an exact 0.5 is reported as "A" but prefers nothing),
    so a judge answering 0.5 both ways is consistent and one that always says "A" with P > 0.5 is not."""
    by_match: dict[tuple[int, tuple[int, int]], list[JudgmentRecord]] = defaultdict(list)
    for judgment in judgments:
        first, second = judgment.pair  # a list once read back from JSON: the key must be a tuple
        by_match[(judgment.round, (first, second))].append(judgment)
    consistent = []
    for pair_judgments in by_match.values():
        orders = {tuple(j.order) for j in pair_judgments}
        if len(orders) != 2 or any(j.verdict not in ("A", "B") or j.probability is None for j in pair_judgments):
            continue
        consistent.append(len({preferred(j) for j in pair_judgments}) == 1)
    return consistent


@dataclass(frozen=True)
class ProblemStats:
    """One problem's rates, averaged over its draws (seeds)."""

    task_id: str
    selected: float
    random: float
    oracle: float


def problem_stats(records: Sequence[SelectionRecord]) -> list[ProblemStats]:
    by_task: dict[str, list[SelectionRecord]] = defaultdict(list)
    for record in records:
        by_task[record.task_id].append(record)
    stats = []
    for task_id in sorted(by_task):
        rows = by_task[task_id]
        stats.append(
            ProblemStats(
                task_id,
                selected=sum(r.selected for r in rows) / len(rows),
                random=sum(random_expected(r.labels) for r in rows) / len(rows),
                oracle=sum(oracle(r.labels) for r in rows) / len(rows),
            )
        )
    return stats


@dataclass(frozen=True)
class BootstrapCI:
    selected: tuple[float, float] | None
    recovery: tuple[float, float] | None
    recovery_undefined: int  # resamples where oracle == random (left out of the recovery interval)


def bootstrap_ci(
    problems: Sequence[ProblemStats], n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> BootstrapCI:
    """Percentile bootstrap over problems (with a fixed seed) for selected pass@1 and recovery."""
    if not problems or n_boot < 1:
        return BootstrapCI(None, None, 0)
    table = np.array([[p.selected, p.random, p.oracle] for p in problems], dtype=float)
    rng = np.random.default_rng(seed)
    samples = table[rng.integers(0, len(problems), size=(n_boot, len(problems)))].mean(axis=1)
    selected, random_, best = samples[:, 0], samples[:, 1], samples[:, 2]
    gap = best - random_
    defined = np.abs(gap) >= _EPS
    recoveries = (selected[defined] - random_[defined]) / gap[defined]
    tail = (1.0 - level) / 2 * 100
    return BootstrapCI(
        selected=_percentiles(selected, tail),
        recovery=_percentiles(recoveries, tail) if recoveries.size else None,
        recovery_undefined=int((~defined).sum()),
    )


def bootstrap_means(values: np.ndarray, n_boot: int, seed: int = 0) -> np.ndarray:
    """`n_boot` means of `values` resampled with replacement (one value per problem), with a fixed seed."""
    rng = np.random.default_rng(seed)
    return values[rng.integers(0, len(values), size=(n_boot, len(values)))].mean(axis=1)


def _percentiles(values: np.ndarray, tail: float) -> tuple[float, float]:
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def within_prompt_correlation(records: Sequence[SelectionRecord]) -> tuple[float | None, int]:
    """Mean over problems of the mean over draws of Pearson(score, label), on draws where both vary.

    Returns the correlation and the number of draws it rests on. This is the signal that matters for Best-of-N
    (ranking candidates of one problem); the global correlation also rewards telling easy problems from hard."""
    per_task: dict[str, list[float]] = defaultdict(list)
    for record in records:
        if record.scores is None or not is_mixed(record.labels):
            continue
        value = pearson(record.scores, [float(label) for label in record.labels])
        if value is not None:
            per_task[record.task_id].append(value)
    task_means = [sum(values) / len(values) for values in per_task.values()]
    return mean(task_means), sum(len(values) for values in per_task.values())


def global_correlation(records: Sequence[SelectionRecord]) -> float | None:
    """Pearson(score, label) pooled over every drawn candidate of every draw."""
    scores: list[float] = []
    labels: list[float] = []
    for record in records:
        if record.scores is not None:
            scores.extend(record.scores)
            labels.extend(float(label) for label in record.labels)
    return pearson(scores, labels)


def summarize(records: Sequence[SelectionRecord], n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Every metric of one group of records (one method, strategy, N and bucket)."""
    ok = [r for r in records if r.error is None]
    problems = problem_stats(ok)
    selected = mean(p.selected for p in problems)
    random_ = mean(p.random for p in problems)
    best = mean(p.oracle for p in problems)
    ci = bootstrap_ci(problems, n_boot, seed)
    mixed = [r for r in ok if is_mixed(r.labels)]
    credits = [c for r in ok for j in r.judgments if (c := judgment_credit(j, r.labels)) is not None]
    consistency = [c for r in ok for c in position_consistency(r.judgments)]
    matches = sum(r.matches for r in ok)
    within, within_draws = within_prompt_correlation(ok)
    return {
        "problems": len(problems),
        "draws": len(ok),
        "errors": len(records) - len(ok),
        "selected_pass1": selected,
        "selected_pass1_ci": list(ci.selected) if ci.selected else None,
        "random_pass1": random_,
        "oracle_pass1": best,
        "recovery": recovery(selected, random_, best),
        "recovery_ci": list(ci.recovery) if ci.recovery else None,
        "recovery_ci_undefined_resamples": ci.recovery_undefined,
        "top1_mixed": mean(r.selected for r in mixed),
        "mixed_draws": len(mixed),
        "pairwise_accuracy": mean(credits),
        "mixed_judgments": len(credits),
        "position_consistency": mean(float(c) for c in consistency),
        "matches_both_orders": len(consistency),
        "tie_rate": ties_rate(ok) if matches else None,
        **judge_decided(ok, matches),
        "executed_share": executed_share(ok),
        "score_label_corr_within": within,
        "score_label_corr_within_draws": within_draws,
        "score_label_corr_global": global_correlation(ok),
        "judge_calls_per_selection": mean(r.judge_calls for r in ok),
        "engine_calls_per_selection": mean(r.engine_calls for r in ok),
        "prompt_tokens_per_selection": mean(r.prompt_tokens for r in ok),
        "completion_tokens_per_selection": mean(r.completion_tokens for r in ok),
        "wall_s_per_selection": mean(r.wall_s for r in ok),
    }


def judge_decided(records: Sequence[SelectionRecord], matches: int) -> dict[str, float | None]:
    """Share of matches the judge decided, and of selections with at least one such match (None when the records
    predate the count, or there were no matches)."""
    if not matches or any(r.judge_decided is None for r in records):
        return {"judge_decided_matches": None, "judge_decided_selections": None}
    decided = [r.judge_decided or 0 for r in records]
    return {"judge_decided_matches": sum(decided) / matches,
            "judge_decided_selections": mean(float(count > 0) for count in decided)}


def ties_rate(records: Sequence[SelectionRecord]) -> float | None:
    """Share of tournament matches decided by the tie rule (merged P exactly 0.5)."""
    matches = sum(r.matches for r in records)
    return sum(r.ties for r in records) / matches if matches else None


def executed_share(records: Sequence[SelectionRecord]) -> float | None:
    """Share of selections whose candidates ran; None when a record does not say (judge-only methods)."""
    flags = [record.executed for record in records]
    if any(flag is None for flag in flags):
        return None
    return mean(float(bool(flag)) for flag in flags)
