"""The report of a run: `report.json` (every number), `report.md` (the tables), and PNG plots."""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from daj.pools import Pool
from evaluation.metrics import difficulty_bucket, recovery, summarize
from evaluation.records import SelectionRecord
from evaluation.runner import RunOutcome, read_invocations

logger = logging.getLogger(__name__)

BASELINE_ROW_KEYS = ("random", "oracle")
INFO_BREAKDOWNS = ("platform", "difficulty", "split", "labels")
"""Fields of a pool's `info` the report breaks results down by (`labels` is derived: `artifact` when some candidate
has a label note, else `clean`). `difficulty` is the data set's own rating, not the pass-rate bucket."""
INFO_VALUE_ORDER = {
    "difficulty": ("easy", "medium", "hard"),
    "split": ("meta", "test"),
    "labels": ("clean", "artifact"),
}


def group_records(records: Sequence[SelectionRecord]) -> dict[tuple[str, str, int], list[SelectionRecord]]:
    groups: dict[tuple[str, str, int], list[SelectionRecord]] = defaultdict(list)
    for record in records:
        groups[(record.method, record.strategy, record.n)].append(record)
    return groups


def _ordered_groups(outcome: RunOutcome) -> list[tuple[tuple[str, str, int], list[SelectionRecord]]]:
    """Records per (method, strategy, N): by N, then in the order the methods ran."""
    groups = group_records(outcome.records)
    order = {spec: position for position, spec in enumerate(outcome.specs)}
    keys = sorted(groups, key=lambda k: (k[2], order.get((k[0], k[1]), 99)))
    return [(key, groups[key]) for key in keys]


def result_rows(outcome: RunOutcome) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows per (method, strategy, N) over all problems, and per difficulty bucket."""
    bucket_of = {pool.task_id: difficulty_bucket(pool.pass_rate or 0.0) for pool in outcome.pools}
    results, by_difficulty = [], []
    for (method, strategy, n), records in _ordered_groups(outcome):
        head = {"method": method, "strategy": strategy, "n": n}
        results.append({**head, "bucket": "all", **summarize(records, outcome.config.n_boot)})
        for bucket in ("hard", "medium", "easy"):
            subset = [r for r in records if bucket_of[r.task_id] == bucket]
            if subset:
                by_difficulty.append({**head, "bucket": bucket, **summarize(subset, outcome.config.n_boot)})
    return results, by_difficulty


def info_value(pool: Pool, name: str) -> str | None:
    """A pool's value for one breakdown of INFO_BREAKDOWNS, or None when its info does not say."""
    if name == "labels":
        notes = pool.info.get("label_notes")
        return None if notes is None else ("artifact" if any(notes) else "clean")
    value = pool.info.get(name)
    return None if value is None else str(value)


def info_values(pools: Sequence[Pool]) -> dict[str, dict[str, str]]:
    """For each breakdown some pool's info gives: task_id -> value (pools that do not say are left out)."""
    values: dict[str, dict[str, str]] = {}
    for name in INFO_BREAKDOWNS:
        of = {pool.task_id: value for pool in pools if (value := info_value(pool, name)) is not None}
        if of:
            values[name] = of
    return values


def _value_order(name: str, values: set[str]) -> list[str]:
    known = [value for value in INFO_VALUE_ORDER.get(name, ()) if value in values]
    return known + sorted(values - set(known))


def info_counts(pools: Sequence[Pool]) -> dict[str, dict[str, int]]:
    """Problems per value of each breakdown (report.json `info_breakdowns`)."""
    counts = {}
    for name, of in info_values(pools).items():
        tally = Counter(of.values())
        counts[name] = {value: tally[value] for value in _value_order(name, set(tally))}
    return counts


def info_rows(outcome: RunOutcome) -> list[dict[str, Any]]:
    """Rows per (method, strategy, N) and per value of each INFO_BREAKDOWNS field the pools' info gives, with the
    columns of the main results (empty when no pool carries info)."""
    values = info_values(outcome.pools)
    rows = []
    for (method, strategy, n), records in _ordered_groups(outcome):
        head = {"method": method, "strategy": strategy, "n": n}
        for name, of in values.items():
            for value in _value_order(name, set(of.values())):
                subset = [r for r in records if of.get(r.task_id) == value]
                if subset:
                    rows.append({**head, "by": name, "value": value, **summarize(subset, outcome.config.n_boot)})
    return rows


def execution_baseline_rows(path: Path | None, pool_files: Sequence[Path], ns: Sequence[int]) -> list[dict[str, Any]]:
    """Rows from the sandbox's execution baselines (read, not recomputed), if they were made on these pools."""
    if path is None or not path.is_file():
        return []
    table = json.loads(path.read_text())
    made_on = Path(str(table.get("pools", ""))).name
    if made_on not in {p.name for p in pool_files}:
        logger.warning("%s was computed on %s, not on %s: left out", path, made_on, [p.name for p in pool_files])
        return []
    rows = []
    for n in ns:
        row = table["results"].get(f"N={n}")
        if row is None:
            continue
        for name, value in row.items():
            if name in BASELINE_ROW_KEYS:
                continue
            rows.append(
                {
                    "method": f"exec:{name}",
                    "strategy": "-",
                    "n": n,
                    "selected_pass1": value,
                    "random_pass1": row.get("random"),
                    "oracle_pass1": row.get("oracle"),
                    "recovery": recovery(value, row.get("random"), row.get("oracle")),
                    "problems": table.get("problems"),
                    "seeds": table.get("seeds"),
                    "source": str(path),
                }
            )
    return rows


def build_report(outcome: RunOutcome, command: str) -> dict[str, Any]:
    config = outcome.config
    results, by_difficulty = result_rows(outcome)
    short_by_n = Counter(item.n for item in outcome.short)
    errors = [
        f"{r.method}/{r.strategy} n={r.n} seed={r.seed} {r.task_id}: {r.error}" for r in outcome.records if r.error
    ]
    buckets = Counter(difficulty_bucket(pool.pass_rate or 0.0) for pool in outcome.pools)
    return {
        "command": command,
        "config": {
            "pools": [str(p) for p in config.pools],
            "ns": list(config.ns),
            "strategies": list(config.strategies),
            "seeds": config.seeds,
            "methods": list(config.methods),
            "model": config.model,
            "adapter": _shown_path(config.judge_adapter()),
            "mode": config.mode,
            "orders": config.orders,
            "max_problems": config.max_problems,
            "url": config.url,
            "concurrency": config.concurrency,
            "n_boot": config.n_boot,
        },
        "problems": len(outcome.pools),
        "task_ids": [pool.task_id for pool in outcome.pools],
        "difficulty_buckets": {name: buckets.get(name, 0) for name in ("hard", "medium", "easy")},
        "draws": len(outcome.draws),
        "short_pools": {
            "count": len(outcome.short),
            "by_n": {str(n): c for n, c in sorted(short_by_n.items())},
            "items": [{"task_id": s.task_id, "n": s.n, "size": s.size} for s in outcome.short],
        },
        "unlabelled_pools": outcome.unlabelled,
        "errors": {"count": len(errors), "items": errors[:50]},
        "notes": outcome.notes,
        "new_selections": outcome.new_selections,
        "wall_s": round(outcome.wall_s, 2),
        "invocations": read_invocations(config.out),
        "results": results,
        "results_by_difficulty": by_difficulty,
        "info_breakdowns": info_counts(outcome.pools),
        "results_by_info": info_rows(outcome),
        "execution_baselines": execution_baseline_rows(config.execution_baselines, config.pools, config.ns),
    }


def _shown_path(path: Path | None) -> str | None:
    """Relative to the working directory when inside it (reports are committed: no machine paths)."""
    if path is None:
        return None
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# ---- markdown -------------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def _ci(ci: Sequence[float] | None, scale: float = 100, digits: int = 1) -> str:
    return "" if not ci else f" [{scale * ci[0]:.{digits}f}, {scale * ci[1]:.{digits}f}]"


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _name(row: dict[str, Any]) -> str:
    return row["method"] if row["strategy"] == "-" else f"{row['method']} ({row['strategy']})"


def markdown(report: dict[str, Any]) -> str:
    config = report["config"]
    judge = f"{config['model']}" + (f" + adapter {config['adapter']}" if config["adapter"] else " (no adapter)")
    judge += f", mode {config['mode']}, orders {config['orders']}"
    if not {"pairwise", "pointwise", "exec+judge"} & set(config["methods"]):
        judge = "none (baselines only)"
    lines = [
        "# Best-of-N evaluation",
        "",
        f"Command: `{report['command']}`",
        "",
        f"Pools: {', '.join(config['pools'])}; {report['problems']} problems "
        f"(hard {report['difficulty_buckets']['hard']}, medium {report['difficulty_buckets']['medium']}, "
        f"easy {report['difficulty_buckets']['easy']}){_subset(report)}, {config['seeds']} seed(s), paired draws. "
        f"Judge: {judge}. Wall time: {_wall(report)}.",
        "",
        "Rates in %; [95% bootstrap CI over problems]. recovery = (selected - random) / (oracle - random), "
        "'—' where undefined (oracle == random) or not applicable.",
        "",
        "judge decided: share of matches, and of selections with at least one match, that the judge decided "
        "(not consensus or the tie rule). executed: share of selections whose candidates ran (the rest fell back: "
        "the judge alone for exec+judge, a uniform pick for the exec-* methods).",
        "",
        "| method | N | pass@1 | random | oracle | recovery | top-1 mixed | pair acc. | pos. cons. | ties "
        "| judge decided (matches / selections) | executed | corr within / global | judge calls | tokens | s/sel |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["results"]:
        tokens = (row["prompt_tokens_per_selection"] or 0) + (row["completion_tokens_per_selection"] or 0)
        lines.append(
            f"| {_name(row)} | {row['n']} | {_pct(row['selected_pass1'])}{_ci(row['selected_pass1_ci'])} "
            f"| {_pct(row['random_pass1'])} | {_pct(row['oracle_pass1'])} "
            f"| {_num(row['recovery'])}{_ci(row['recovery_ci'], 1, 2)} | {_pct(row['top1_mixed'])} "
            f"| {_pct(row['pairwise_accuracy'])} | {_pct(row['position_consistency'])} | {_pct(row['tie_rate'])} "
            f"| {_pct(row.get('judge_decided_matches'))} / {_pct(row.get('judge_decided_selections'))} "
            f"| {_pct(row.get('executed_share'))} "
            f"| {_num(row['score_label_corr_within'])} / {_num(row['score_label_corr_global'])} "
            f"| {_num(row['judge_calls_per_selection'], 1)} | {tokens:.0f} | {_num(row['wall_s_per_selection'])} |"
        )
    lines += _difficulty_table(report) + _info_table(report) + _execution_table(report) + _notes(report)
    return "\n".join(lines) + "\n"


def _subset(report: dict[str, Any]) -> str:
    """Say which problems a --max-problems run covers: a prefix of the file is not a random sample."""
    if report["config"]["max_problems"] is None or not report["task_ids"]:
        return ""
    ids = report["task_ids"]
    return f", the first {len(ids)} of the file ({ids[0]} .. {ids[-1]}, --max-problems)"


def _wall(report: dict[str, Any]) -> str:
    runs = [run for run in report["invocations"] if run["new_selections"]]
    total = sum(run["wall_s"] for run in runs)
    return (
        f"{total:.0f} s over {len(runs)} invocation(s) that computed selections "
        f"(this one: {report['wall_s']:.0f} s, {report['new_selections']} new selections)"
    )


def _difficulty_table(report: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "## By difficulty (pool pass rate: hard < 0.3 <= medium < 0.7 <= easy)",
        "",
        "| method | N | bucket | problems | pass@1 | random | oracle | recovery |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report["results_by_difficulty"]:
        lines.append(
            f"| {_name(row)} | {row['n']} | {row['bucket']} | {row['problems']} "
            f"| {_pct(row['selected_pass1'])}{_ci(row['selected_pass1_ci'])} | {_pct(row['random_pass1'])} "
            f"| {_pct(row['oracle_pass1'])} | {_num(row['recovery'])} |"
        )
    return lines


def _info_table(report: dict[str, Any]) -> list[str]:
    rows = report.get("results_by_info") or []
    if not rows:
        return []
    counts = "; ".join(f"{name}: " + ", ".join(f"{value} {count}" for value, count in values.items())
                       for name, values in report.get("info_breakdowns", {}).items())  # fmt: skip
    lines = [
        "",
        "## By pool info (the pools' `info`: platform, the data set's difficulty, split; labels: `artifact` when "
        "some candidate of the problem has a label note, else `clean`)",
        "",
        f"Problems: {counts}.",
        "",
        "| method | N | by | value | problems | pass@1 | random | oracle | recovery |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {_name(row)} | {row['n']} | {row['by']} | {row['value']} | {row['problems']} "
            f"| {_pct(row['selected_pass1'])}{_ci(row['selected_pass1_ci'])} | {_pct(row['random_pass1'])} "
            f"| {_pct(row['oracle_pass1'])} | {_num(row['recovery'])}{_ci(row['recovery_ci'], 1, 2)} |"
        )
    return lines


def _execution_table(report: dict[str, Any]) -> list[str]:
    rows = report["execution_baselines"]
    if not rows:
        return ["", "Execution baselines: none found for these pools."]
    source = rows[0]
    lines = [
        "",
        f"## Execution baselines (read from {source['source']}: {source['problems']} problems, "
        f"{source['seeds']} seeds, same draw scheme; not recomputed)",
        "",
        "| method | N | pass@1 | random | oracle | recovery |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['method']} | {row['n']} | {_pct(row['selected_pass1'])} | {_pct(row['random_pass1'])} "
            f"| {_pct(row['oracle_pass1'])} | {_num(row['recovery'])} |"
        )
    return lines


def _notes(report: dict[str, Any]) -> list[str]:
    lines = ["", "## Notes", ""]
    short = report["short_pools"]
    lines.append(f"- Pools with fewer than N candidates (skipped for that N): {short['count']} {short['by_n'] or ''}")
    lines.append(f"- Pools left out for unknown labels: {len(report['unlabelled_pools'])}")
    lines.append(f"- Selections refused by the service (excluded): {report['errors']['count']}")
    lines += [f"- {note}" for note in report["notes"]]
    return lines


# ---- plots ----------------------------------------------------------------------------------------------


def plot(report: dict[str, Any], out: Path) -> list[Path]:
    """pass@1 vs N per method (random and oracle as CI bands) and judge calls vs N."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in report["results"]:
        by_name[_name(row)].append(row)
    paths = [out / "pass_at_1_vs_n.png", out / "judge_calls_vs_n.png"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, rows in by_name.items():
        ns = [r["n"] for r in rows]
        values, lows, highs = _pass_band(rows)
        if name in BASELINE_ROW_KEYS:
            color = "grey" if name == "random" else "black"
            ax.plot(ns, values, "--", color=color, label=name)
            ax.fill_between(ns, lows, highs, color=color, alpha=0.15)
            continue
        errors = [
            [v - lo for v, lo in zip(values, lows, strict=True)],
            [hi - v for v, hi in zip(values, highs, strict=True)],
        ]
        ax.errorbar(ns, values, yerr=errors, marker="o", capsize=3, label=name)
    _axes(ax, "selected pass@1 (%)", report)
    fig.savefig(paths[0], dpi=120, bbox_inches="tight")
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, rows in by_name.items():
        if any(r["judge_calls_per_selection"] for r in rows):
            ax.plot([r["n"] for r in rows], [r["judge_calls_per_selection"] for r in rows], marker="o", label=name)
    _axes(ax, "judge calls per selection", report)
    fig.savefig(paths[1], dpi=120, bbox_inches="tight")
    plt.close(fig)
    return paths


def _pass_band(rows: list[dict[str, Any]]) -> tuple[list[float], list[float], list[float]]:
    """pass@1 and its CI in %, per row (a missing CI collapses onto the value)."""
    values = [100 * (r["selected_pass1"] or 0.0) for r in rows]
    cis = [r["selected_pass1_ci"] or [v / 100, v / 100] for r, v in zip(rows, values, strict=True)]
    return values, [100 * ci[0] for ci in cis], [100 * ci[1] for ci in cis]


def _axes(ax: Any, ylabel: str, report: dict[str, Any]) -> None:
    ns = sorted({row["n"] for row in report["results"]})
    ax.set_xscale("log", base=2)
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.set_xlabel("N (candidates per problem)")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{report['problems']} problems, {report['config']['seeds']} seeds, {report['config']['model']}")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def write_report(report: dict[str, Any], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "report.md").write_text(markdown(report))
    return [out / "report.json", out / "report.md", *plot(report, out)]
