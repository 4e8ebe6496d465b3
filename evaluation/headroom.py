"""How much a judge could add to execution, and how accurate it must be to add it (`daj headroom`).

The judge only matters in a *mixed* match: one passing and one failing program. A match between two passing or
two failing programs cannot change whether the winner passes. For every draw this takes the service's own
execution and grouping (exactly what exec-cluster uses), seeds the knockout as the service does, and plays it
with a simulated judge that names the passing side of each mixed match with probability `accuracy`, sure of
itself (both orders agree, far from 0.5). Each match outcome then goes through the service's combine rule
(`with_consensus`) at one of two margins:

- `judge decides` (the service's rule for a judge that is sure, as the simulated one is): every match is the
  judge's;
- `consensus first` (margin 0.5: the rule for a judge that is never sure): the larger behaviour cluster wins, and
  the judge decides only between clusters of the same size.

Every outcome of the mixed matches is enumerated once per draw (at most 2^(players - 1) branches), each leaf
keeping how many mixed matches the judge got right and wrong, so pass@1 at any accuracy is an exact polynomial
in it, not a sample. A draw the service would not execute (no entry point, nothing told apart) falls back to the
judge alone, as the service does: the same simulated judge over the distinct candidates in request order.

What it answers: the highest pass@1 a judge can reach on top of this execution (accuracy 1), and the accuracy on
mixed matches a judge needs for a given gain over exec-cluster. `--judged` places real judges on that scale by
their measured accuracy on the mixed matches of their exec+judge records.
"""

from __future__ import annotations

import copy
import json
import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from daj.candidates import group_identical
from daj.pools import Pool
from daj.probes import Grouping
from evaluation.methods import exec_expected
from evaluation.metrics import bootstrap_means, oracle, problem_stats, random_expected
from evaluation.records import SelectionRecord
from evaluation.sampling import Draw

if TYPE_CHECKING:
    from service.embedded import Knockout, MatchOutcome

SURE = 0.95  # the simulated judge's probability for the side it names, in both orders
RULES = {"judge decides": 0.1, "consensus first": 0.5}  # rule name -> the combine rule's margin
ACCURACY_GRID = tuple(round(0.5 + 0.01 * k, 2) for k in range(51))


@dataclass(frozen=True)
class Leaf:
    """One way the mixed matches of a knockout can go: how many the judge got right and wrong, and the winner's
    expected pass (its cluster's members uniformly, as exec-cluster picks)."""

    right: int
    wrong: int
    value: float


@dataclass
class DrawOutcomes:
    """Everything the simulation needs from one draw: its leaves under each rule, and exec-cluster's pick."""

    task_id: str
    seed: int
    executed: bool
    consensus: float  # exec-cluster's expected pass (uniform pick where not executed)
    random: float
    oracle: float
    mixed_players: bool  # the players (top-group clusters, or distinct candidates) are not all alike
    leaves: dict[str, list[Leaf]] = field(default_factory=dict)

    def expected(self, rule: str, accuracy: float) -> float:
        return sum(accuracy**leaf.right * (1 - accuracy) ** leaf.wrong * leaf.value for leaf in self.leaves[rule])


def knockout_leaves(players: Sequence[int], labels: Sequence[bool], values: dict[int, float],
                    sizes: dict[int, int] | None, margin: float) -> list[Leaf]:
    """Every outcome of the knockout over `players` (in bracket order) under the simulated judge, which is right
    or wrong by the players' own `labels`; `values` is what each player's win is worth; `sizes` (the behaviour
    cluster of each player) turns the service's consensus rule on, None plays the judge alone."""
    from service.embedded import Knockout

    return list(_play(Knockout(players=list(players)), labels, values, sizes, margin, 0, 0))


def _play(tournament: Knockout, labels: Sequence[bool], values: dict[int, float], sizes: dict[int, int] | None,
          margin: float, right: int, wrong: int) -> Iterator[Leaf]:
    pairs = tournament.next_round()
    if pairs is None:
        yield Leaf(right, wrong, values[tournament.winner()])
        return
    choices = [_match_choices(tournament.round_index, pair, labels, sizes, margin) for pair in pairs]
    for combination in product(*choices):
        branch = copy.deepcopy(tournament)
        branch.record([outcome for outcome, _ in combination])
        judged = [verdict for _, verdict in combination if verdict is not None]
        yield from _play(branch, labels, values, sizes, margin, right + judged.count(True),
                         wrong + judged.count(False))


def _match_choices(round_index: int, pair: tuple[int, int], labels: Sequence[bool], sizes: dict[int, int] | None,
                   margin: float) -> list[tuple[MatchOutcome, bool | None]]:
    """The outcomes of one match, each with whether the judge was right (None: not a mixed match)."""
    first, second = pair
    if labels[first] == labels[second]:
        return [(_outcome(round_index, pair, first, sizes, margin), None)]
    passing, failing = (first, second) if labels[first] else (second, first)
    return [(_outcome(round_index, pair, passing, sizes, margin), True),
            (_outcome(round_index, pair, failing, sizes, margin), False)]


def _outcome(round_index: int, pair: tuple[int, int], named: int, sizes: dict[int, int] | None,
             margin: float) -> MatchOutcome:
    """The match as the service decides it when a sure judge names `named`, in both orders."""
    from service.embedded import OrderedVerdict, merge_orders, with_consensus

    first, second = pair
    p_first = SURE if named == first else 1.0 - SURE
    verdicts = [OrderedVerdict(first, second, p_first), OrderedVerdict(second, first, 1.0 - p_first)]
    outcome = merge_orders(round_index, pair, verdicts)
    if sizes is None:
        return outcome
    return with_consensus(outcome, verdicts, (sizes[first], sizes[second]), margin)


def draw_outcomes(draw: Draw, pool: Pool, grouping: Grouping | None) -> DrawOutcomes:
    """The leaves of one draw under each rule, from the service's grouping (None: the service would not run
    them, and the judge alone decides)."""
    from service.embedded import seeded_order

    labels = [bool(pool.passed[i]) for i in draw.indices]
    codes = [pool.candidates[i] for i in draw.indices]
    if grouping is None:
        players = sorted(set(group_identical(codes)))
        leaves = knockout_leaves(players, labels, {p: float(labels[p]) for p in players}, None, 0.0)
        random = random_expected(labels)
        return DrawOutcomes(draw.task_id, draw.seed, False, random, random, oracle(labels),
                            len({labels[p] for p in players}) > 1, {rule: leaves for rule in RULES})
    players = seeded_order(grouping.players())
    sizes = {player: grouping.size(player) for player in players}
    # Members of one behaviour cluster can still differ on the hidden tests: a win is worth the cluster's pass
    # rate, as exec-cluster's uniform pick among its members is.
    values = {player: _cluster_pass_rate(grouping, labels, player) for player in players}
    return DrawOutcomes(
        draw.task_id, draw.seed, True, exec_expected("exec-cluster", grouping, labels), random_expected(labels),
        oracle(labels), len({labels[p] for p in players}) > 1,
        {rule: knockout_leaves(players, labels, values, sizes, margin) for rule, margin in RULES.items()},
    )


def _cluster_pass_rate(grouping: Grouping, labels: Sequence[bool], player: int) -> float:
    members = grouping.clusters[grouping.cluster_of[player]]
    return sum(labels[c] for c in members) / len(members)


async def collect(pools: Sequence[Pool], draws: Sequence[Draw], max_candidates: int) -> list[DrawOutcomes]:
    """Run (or read from the execution cache) every draw's candidates, as exec-cluster does."""
    from evaluation.backends import ExecutionBackend

    by_id = {pool.task_id: pool for pool in pools}
    backend = await ExecutionBackend.start(max_candidates)
    try:
        found = []
        for draw in tqdm(draws, desc="draws", unit="draw"):
            pool = by_id[draw.task_id]
            grouping = await backend.group(pool.problem, [pool.candidates[i] for i in draw.indices])
            found.append(draw_outcomes(draw, pool, grouping))
        return found
    finally:
        await backend.close()


# ---- what the simulation says -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    rule: str
    accuracy: float
    pass1: float
    gain: float  # over exec-cluster, per-problem means
    gain_ci: tuple[float, float]


def per_problem(outcomes: Sequence[DrawOutcomes], value: Any) -> np.ndarray:
    """Mean over a problem's draws of `value(draw)`, one entry per problem (sorted by task id)."""
    grouped: dict[str, list[float]] = defaultdict(list)
    for item in outcomes:
        grouped[item.task_id].append(value(item))
    return np.array([np.mean(grouped[task]) for task in sorted(grouped)], dtype=float)


def simulated(outcomes: Sequence[DrawOutcomes], rule: str, accuracy: float) -> np.ndarray:
    """Per-problem pass@1 of the simulated judge at this accuracy under this rule."""
    return per_problem(outcomes, lambda item: item.expected(rule, accuracy))


def bootstrap_mean_ci(values: np.ndarray, n_boot: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """Percentile 95% interval of the mean over problems, resampled as `daj compare` resamples."""
    low, high = np.percentile(bootstrap_means(values, n_boot, seed), [2.5, 97.5])
    return float(low), float(high)


def curve(outcomes: Sequence[DrawOutcomes], rule: str, accuracies: Sequence[float] = ACCURACY_GRID,
          n_boot: int = 10_000) -> list[Point]:
    consensus = per_problem(outcomes, lambda item: item.consensus)
    points = []
    for accuracy in accuracies:
        selected = simulated(outcomes, rule, accuracy)
        diffs = selected - consensus
        points.append(Point(rule, accuracy, float(selected.mean()), float(diffs.mean()),
                            bootstrap_mean_ci(diffs, n_boot)))
    return points


def needed_accuracy(points: Sequence[Point], target: float) -> tuple[float | None, float | None]:
    """The lowest accuracy whose mean gain reaches `target`, and the lowest whose gain CI excludes 0 and whose
    mean reaches `target` (None: not within the grid)."""
    mean_ok = next((p.accuracy for p in points if p.gain >= target - 1e-12), None)
    ci_ok = next((p.accuracy for p in points if p.gain >= target - 1e-12 and p.gain_ci[0] > 0), None)
    return mean_ok, ci_ok


def mixed_match_accuracy(records: Sequence[SelectionRecord]) -> tuple[float | None, int]:
    """A real judge's accuracy on the mixed matches it was shown in exec+judge records: each match's orders merged
    as the service merges them (mean probability), before the combine rule; an exact 0.5 counts half."""
    from service.embedded import OrderedVerdict, merge_orders

    credits = []
    for record in records:
        by_match: dict[tuple[int, tuple[int, int]], list[OrderedVerdict]] = defaultdict(list)
        for judgment in record.judgments:
            verdict = OrderedVerdict(judgment.order[0], judgment.order[1], judgment.probability)
            by_match[(judgment.round, judgment.pair)].append(verdict)
        for (round_index, pair), verdicts in by_match.items():
            if record.labels[pair[0]] == record.labels[pair[1]]:
                continue
            merged = merge_orders(round_index, pair, verdicts)
            credits.append(0.5 if merged.decided_by == "tie_rule" else float(record.labels[merged.winner]))
    return (sum(credits) / len(credits) if credits else None), len(credits)


@dataclass
class HeadroomReport:
    problems: int
    draws: int
    executed: int
    mixed_draws: dict[str, int]  # executed / not executed draws whose players are not all alike
    random: float
    oracle: float
    exec_cluster: float
    target: float
    curves: dict[str, list[Point]]
    needed: dict[str, tuple[float | None, float | None]]
    judges: list[dict[str, Any]]
    command: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def build_report(outcomes: Sequence[DrawOutcomes], target: float,
                 judges: list[dict[str, Any]], command: str, n_boot: int = 10_000) -> HeadroomReport:
    curves = {rule: curve(outcomes, rule, n_boot=n_boot) for rule in RULES}
    for judge in judges:
        if judge["accuracy"] is not None:
            for rule in RULES:
                judge[f"simulated pass@1 ({rule})"] = float(simulated(outcomes, rule, judge["accuracy"]).mean())
    return HeadroomReport(
        problems=len({item.task_id for item in outcomes}),
        draws=len(outcomes),
        executed=sum(item.executed for item in outcomes),
        mixed_draws={"executed": sum(item.executed and item.mixed_players for item in outcomes),
                     "not executed": sum(not item.executed and item.mixed_players for item in outcomes)},
        random=float(per_problem(outcomes, lambda item: item.random).mean()),
        oracle=float(per_problem(outcomes, lambda item: item.oracle).mean()),
        exec_cluster=float(per_problem(outcomes, lambda item: item.consensus).mean()),
        target=target,
        curves=curves,
        needed={rule: needed_accuracy(points, target) for rule, points in curves.items()},
        judges=judges,
        command=command,
    )


def markdown(report: HeadroomReport, shown: Sequence[float] = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0)
             ) -> str:
    def pct(value: float) -> str:
        return f"{100 * value:.1f}"

    lines = [
        "# How much a judge could add to execution",
        "",
        f"Command: `{report.command}`",
        "",
        f"{report.problems} problems, {report.draws} draws ({report.executed} executed). Draws whose judged players "
        f"are not all alike (the judge can matter): {report.mixed_draws['executed']} executed, "
        f"{report.mixed_draws['not executed']} not executed. random {pct(report.random)}, exec-cluster "
        f"{pct(report.exec_cluster)}, oracle {pct(report.oracle)}.",
        "",
        "A simulated judge names the passing side of each mixed match with probability `accuracy`, sure of itself; "
        "the service's execution, grouping, seeding, knockout and combine rule do the rest (evaluation/headroom.py "
        "says how). Gain = pass@1 - exec-cluster on the same draws, in points, [paired 95% bootstrap CI over "
        "problems].",
        "",
        "| accuracy | " + " | ".join(f"{rule}: pass@1 | gain" for rule in report.curves) + " |",
        "|---|" + "---|---|" * len(report.curves),
    ]
    for accuracy in shown:
        cells = []
        for points in report.curves.values():
            point = next(p for p in points if math.isclose(p.accuracy, accuracy))
            low, high = point.gain_ci
            cells.append(f"{pct(point.pass1)} | {100 * point.gain:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]")
        lines.append(f"| {accuracy:.2f} | " + " | ".join(cells) + " |")
    lines += ["", f"Accuracy on mixed matches needed for a gain of +{100 * report.target:.1f} points:", ""]
    for rule, (mean_ok, ci_ok) in report.needed.items():
        lines.append(f"- {rule}: mean gain reached at {_accuracy_text(mean_ok)}; with the CI excluding 0 at "
                     f"{_accuracy_text(ci_ok)}.")
    if report.judges:
        lines += ["", "Real judges, by their accuracy on the mixed matches of their exec+judge records (orders "
                  "merged, before the combine rule):", "",
                  "| judge | mixed matches | accuracy | exec+judge pass@1 (measured) | "
                  + " | ".join(f"simulated ({rule})" for rule in report.curves) + " |",
                  "|---|---|---|---|" + "---|" * len(report.curves)]
        for judge in report.judges:
            accuracy = judge["accuracy"]
            simulated = " | ".join(
                pct(judge[f"simulated pass@1 ({rule})"]) if accuracy is not None else "—" for rule in report.curves)
            measured = pct(judge["pass1"]) if judge["pass1"] is not None else "—"
            lines.append(f"| {judge['name']} | {judge['matches']} | "
                         f"{pct(accuracy) if accuracy is not None else '—'} | {measured} | {simulated} |")
    return "\n".join(lines) + "\n"


def _accuracy_text(value: float | None) -> str:
    return f"accuracy {value:.2f}" if value is not None else "no accuracy up to 1.00"


def plot(report: HeadroomReport, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for rule, points in report.curves.items():
        ax.plot([p.accuracy for p in points], [100 * p.pass1 for p in points], label=f"judge + execution: {rule}")
    ax.axhline(100 * report.exec_cluster, color="grey", label="exec-cluster (no judge)")
    ax.axhline(100 * (report.exec_cluster + report.target), color="grey", linestyle="--",
               label=f"exec-cluster +{100 * report.target:.1f}")
    ax.axhline(100 * report.oracle, color="black", linestyle=":", label="oracle")
    for judge in report.judges:
        if judge["accuracy"] is not None:
            ax.axvline(judge["accuracy"], color="tab:red", alpha=0.4)
            ax.text(judge["accuracy"], 0.98, judge["name"], transform=ax.get_xaxis_transform(), rotation=90,
                    fontsize=7, va="top", ha="right", color="tab:red")
    ax.set_xlabel("judge accuracy on mixed matches (simulated)")
    ax.set_ylabel("pass@1 (%)")
    ax.set_title("What a judge could add to execution")
    ax.legend(fontsize=8, loc="lower right")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def run_headroom(outcomes: Sequence[DrawOutcomes], out: Path, target: float,
                 judged: dict[Path, list[SelectionRecord]], command: str, n: int,
                 n_boot: int = 10_000) -> HeadroomReport:
    """Write report.md, report.json and headroom.png under `out`; `judged`: the records of exec+judge runs, by
    their out dir (only their selections on these draws count)."""
    drawn = {(item.task_id, item.seed) for item in outcomes}
    judges = []
    for run_dir, run_records in judged.items():
        records = [r for r in run_records if r.method == "exec+judge" and r.n == n and (r.task_id, r.seed) in drawn]
        accuracy, matches = mixed_match_accuracy(records)
        stats = problem_stats(records)
        pass1 = float(np.mean([problem.selected for problem in stats])) if stats else None
        judges.append({"name": run_dir.name, "accuracy": accuracy, "matches": matches, "pass1": pass1,
                       "records": len(records)})
    report = build_report(outcomes, target, judges, command, n_boot)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(markdown(report))
    (out / "report.json").write_text(report.to_json() + "\n")
    plot(report, out / "headroom.png")
    return report


