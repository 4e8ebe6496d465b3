"""Paired comparison of two evaluation runs: did judge A select better than judge B on the same draws?
(Or of two methods of one run, e.g. `exec+judge` against `exec-cluster`: pass the run twice and name method B.)

Both runs must hold records for the same (method, strategy, N, seed, task) keys: `daj eval` draws with fixed
seeds, so two judges evaluated on the same pools with the same seeds saw exactly the same candidates. The
difference in selected pass@1 is taken per problem (mean over its draws), and its 95% CI comes from a
percentile bootstrap over problems that resamples the same problems for both judges (paired).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from evaluation.metrics import bootstrap_means
from evaluation.records import SelectionRecord
from evaluation.runner import RECORDS_FILE, ResultCache


class CompareError(ValueError):
    """The two runs cannot be compared (no shared draws for the chosen group)."""


@dataclass(frozen=True)
class PairedComparison:
    method: str
    strategy: str
    method_b: str
    strategy_b: str
    n: int
    problems: int
    draws: int
    pass1_a: float
    pass1_b: float
    difference: float  # a - b, in pass@1 (0..1)
    difference_ci: tuple[float, float]
    p_a_not_better: float  # share of bootstrap resamples where a - b <= 0
    problems_a_better: int
    problems_b_better: int


def load_records(run_dir: Path) -> list[SelectionRecord]:
    """Every record of a run, read by the run's own resume cache (a cut-off last line is dropped there)."""
    path = run_dir / RECORDS_FILE
    if not path.is_file():
        raise CompareError(f"{run_dir} has no {RECORDS_FILE}: run `daj eval --out {run_dir}` first")
    return list(ResultCache(path).records.values())


def _by_key(records: Sequence[SelectionRecord], method: str, strategy: str, n: int) -> dict[tuple, float]:
    return {
        (r.seed, r.task_id): r.selected
        for r in records
        if r.method == method and r.strategy == strategy and r.n == n and r.error is None
    }


def paired_difference(
    records_a: Sequence[SelectionRecord],
    records_b: Sequence[SelectionRecord],
    method: str = "pairwise",
    strategy: str = "knockout",
    n: int = 8,
    n_boot: int = 10000,
    seed: int = 0,
    method_b: str | None = None,
    strategy_b: str | None = None,
) -> PairedComparison:
    """Per-problem paired difference of selected pass@1 on the draws both runs share (B's method and strategy
    default to A's)."""
    method_b, strategy_b = method_b or method, strategy_b or strategy
    a, b = _by_key(records_a, method, strategy, n), _by_key(records_b, method_b, strategy_b, n)
    shared = sorted(set(a) & set(b))
    if not shared:
        against = f" against method={method_b} strategy={strategy_b}" if (method_b, strategy_b) != (method, strategy) \
            else ""
        raise CompareError(f"no shared draws for method={method} strategy={strategy} n={n}{against}")
    per_task: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for key in shared:
        per_task[key[1]].append((a[key], b[key]))
    table = np.array([np.mean(rows, axis=0) for _, rows in sorted(per_task.items())], dtype=float)
    diffs = table[:, 0] - table[:, 1]
    samples = bootstrap_means(diffs, n_boot, seed)
    low, high = np.percentile(samples, [2.5, 97.5])
    return PairedComparison(
        method=method,
        strategy=strategy,
        method_b=method_b,
        strategy_b=strategy_b,
        n=n,
        problems=len(diffs),
        draws=len(shared),
        pass1_a=float(table[:, 0].mean()),
        pass1_b=float(table[:, 1].mean()),
        difference=float(diffs.mean()),
        difference_ci=(float(low), float(high)),
        p_a_not_better=float((samples <= 0).mean()),
        problems_a_better=int((diffs > 1e-12).sum()),
        problems_b_better=int((diffs < -1e-12).sum()),
    )


def markdown(result: PairedComparison, name_a: str, name_b: str, command: str) -> str:
    pct = lambda x: f"{100 * x:.1f}"  # noqa: E731
    lo, hi = result.difference_ci
    return "\n".join(
        [
            "# Paired comparison",
            "",
            f"Command: `{command}`",
            "",
            f"A: {result.method} ({result.strategy}), B: {result.method_b} ({result.strategy_b}), N={result.n}: "
            f"{result.problems} problems, {result.draws} shared draws. Difference = A - B in selected pass@1 "
            "(points), 95% paired bootstrap CI over problems.",
            "",
            "| A | B | pass@1 A | pass@1 B | A - B [95% CI] | P(A - B <= 0) | problems A better / B better |",
            "|---|---|---|---|---|---|---|",
            f"| {name_a}: {result.method} | {name_b}: {result.method_b} | {pct(result.pass1_a)} | "
            f"{pct(result.pass1_b)} | "
            f"{pct(result.difference)} [{pct(lo)}, {pct(hi)}] | {result.p_a_not_better:.3f} | "
            f"{result.problems_a_better} / {result.problems_b_better} |",
            "",
        ]
    )


def write_comparison(result: PairedComparison, out: Path, name_a: str, name_b: str, command: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    data = {"a": name_a, "b": name_b, "command": command, **asdict(result)}
    json_path, md_path = out / "compare.json", out / "compare.md"
    json_path.write_text(json.dumps(data, indent=1) + "\n")
    md_path.write_text(markdown(result, name_a, name_b, command))
    return [json_path, md_path]
