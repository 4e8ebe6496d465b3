"""`daj eval` (and `python -m evaluation eval`): Best-of-N selection on labelled pools, with a report."""

from __future__ import annotations

import logging
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from daj.models import DEFAULT_MODEL
from daj.pools import META_HALVES

app = typer.Typer(help="Best-of-N evaluation of the judge and baselines on labelled pools.", no_args_is_help=True)


PoolFiles = Annotated[
    list[Path],
    typer.Option("--pools", help="Pool file(s), .jsonl or .jsonl.gz (repeatable).", exists=True, dir_okay=False),
]


def _check_meta_half(meta_half: str | None) -> None:
    if meta_half not in (None, *META_HALVES):
        raise typer.BadParameter(" or ".join(META_HALVES), param_hint="--meta-half")


@app.callback()
def _group() -> None:
    """Evaluation commands."""


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _ints(text: str, option: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in _csv(text))
    except ValueError as exc:
        raise typer.BadParameter(f"expected comma-separated integers, got {text!r}", param_hint=option) from exc
    if not values or min(values) < 2:
        raise typer.BadParameter("every N must be at least 2", param_hint=option)
    return values


@app.command("eval")
def eval_command(
    pools: PoolFiles,
    out: Annotated[Path, typer.Option(help="Output dir: records.jsonl (resume cache), report.json/.md, plots.")],
    n: Annotated[str, typer.Option("--n", help="Candidates per selection, comma-separated.")] = "4,8,16",
    strategy: Annotated[str, typer.Option(help="Tournaments: knockout,round_robin.")] = "knockout,round_robin",
    seeds: Annotated[int, typer.Option(min=1, help="Draws per problem and N (seeds 0..k-1).")] = 5,
    methods: Annotated[
        str,
        typer.Option(
            help="Methods: pairwise (judge only), exec+judge (the service's default pipeline), exec-filter, "
            "exec-filter-all, exec-cluster, pointwise, majority, first (the drawn candidate first in the pool: "
            "the first policy of a merged pool) (random and oracle always run)."
        ),
    ] = "majority,pointwise,pairwise",
    model: Annotated[
        str,
        typer.Option(help="Judge backbone: alias, local folder or hub id. With neither --model nor --adapter, the "
                     "shipped judge is evaluated as `daj serve` serves it (default adapter, merged on the CPU)."),
    ] = DEFAULT_MODEL,
    base: Annotated[
        bool, typer.Option("--base", help="The untrained base model instead of the shipped judge.")
    ] = False,
    adapter: Annotated[
        Path | None,
        typer.Option(
            help="Folder of a LoRA adapter (its parent is used as the adapters dir).", exists=True, file_okay=False
        ),
    ] = None,
    mode: Annotated[str, typer.Option(help="verdict | reasoning")] = "verdict",
    orders: Annotated[str, typer.Option(help="both | single")] = "both",
    max_problems: Annotated[int | None, typer.Option(min=1, help="Only the first K problems (quick runs).")] = None,
    url: Annotated[
        str | None, typer.Option(help="Judge through a running service (daj_client) instead of in-process.")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Selections in flight (the engine batches them).")] = 8,
    n_boot: Annotated[int, typer.Option(min=0, help="Bootstrap resamples for the CIs.")] = 1000,
    execution_baselines: Annotated[
        Path | None,
        typer.Option(help="Execution baselines JSON (default: execution_baselines.json next to the pools)."),
    ] = None,
    meta_half: Annotated[
        str | None,
        typer.Option(help="Only one half of the meta split: outer (the bi-level outer loop) or tuning (combine "
                     "rule, checkpoints, what ships)."),
    ] = None,
    false_fails: Annotated[
        bool,
        typer.Option("--false-fails", help="Instead of selecting: run every accepted program on daj's parsed "
                     "examples and report the share that fails them, naming each case (false_fails.json/.md)."),
    ] = False,
) -> None:
    """Draw N candidates per problem and seed (the same draws for every method), select, and report."""
    if false_fails:
        _false_fails(pools, out, max_problems)
        return
    from evaluation.report import build_report, write_report
    from evaluation.runner import EvalConfig, EvalConfigError, run_eval

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if mode not in ("verdict", "reasoning"):
        raise typer.BadParameter("verdict or reasoning", param_hint="--mode")
    if orders not in ("both", "single"):
        raise typer.BadParameter("both or single", param_hint="--orders")
    _check_meta_half(meta_half)
    config = EvalConfig(
        pools=tuple(pools),
        out=out,
        ns=_ints(n, "--n"),
        strategies=_csv(strategy),
        seeds=seeds,
        methods=_csv(methods),
        model=model,
        adapter=adapter,
        mode=mode,
        orders=orders,
        max_problems=max_problems,
        url=url,
        concurrency=concurrency,
        n_boot=n_boot,
        execution_baselines=execution_baselines or pools[0].parent / "execution_baselines.json",
        base=base,
        meta_half=meta_half,
    )
    try:
        outcome = run_eval(config)
    except (EvalConfigError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    report = build_report(outcome, command=_command_line())
    for path in write_report(report, out):
        typer.echo(f"wrote {path}")
    if outcome.short:
        typer.echo(
            f"warning: {len(outcome.short)} (pool, N) combinations had fewer than N candidates and were "
            "skipped; see short_pools in report.json",
            err=True,
        )


def _false_fails(pools: list[Path], out: Path, max_problems: int | None) -> None:
    from daj.pools import read_pools
    from evaluation.false_fails import false_fails, write_false_fails

    loaded = [pool for path in pools for pool in read_pools(path)][:max_problems]
    report = false_fails(loaded)
    for path in write_false_fails(report, out):
        typer.echo(f"wrote {path}")
    rate = report["false_fail_rate"]
    typer.echo(f"false fails: {report['false_fails']} of {report['checked_programs']} accepted programs"
               + (f" ({100 * rate:.2f}%)" if rate is not None else ""))


@app.command("compare")
def compare_command(
    run_a: Annotated[Path, typer.Argument(help="Out dir of a `daj eval` run (judge A).", file_okay=False)],
    run_b: Annotated[Path, typer.Argument(help="Out dir of a `daj eval` run on the same pools and seeds (B).")],
    out: Annotated[Path, typer.Option(help="Where compare.json and compare.md go.")],
    method: Annotated[str, typer.Option(help="Method whose selections are compared.")] = "pairwise",
    strategy: Annotated[str, typer.Option(help="Tournament of that method.")] = "knockout",
    n: Annotated[int, typer.Option("--n", min=2, help="Candidates per selection.")] = 8,
    n_boot: Annotated[int, typer.Option(min=1, help="Bootstrap resamples.")] = 10000,
    method_b: Annotated[
        str | None, typer.Option(help="Method of run B (default: --method); e.g. exec-cluster against exec+judge.")
    ] = None,
    strategy_b: Annotated[
        str | None, typer.Option(help="Strategy of run B (default: --strategy; '-' for none).")
    ] = None,
) -> None:
    """Paired bootstrap of the difference in selected pass@1 between two runs (or two methods) on the same draws."""
    from evaluation.compare import CompareError, load_records, paired_difference, write_comparison

    try:
        result = paired_difference(load_records(run_a), load_records(run_b), method, strategy, n, n_boot,
                                   method_b=method_b, strategy_b=strategy_b)
    except CompareError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    for path in write_comparison(result, out, run_a.name, run_b.name, _command_line()):
        typer.echo(f"wrote {path}")
    lo, hi = result.difference_ci
    typer.echo(f"A - B = {100 * result.difference:+.1f} points [{100 * lo:+.1f}, {100 * hi:+.1f}] over "
               f"{result.problems} problems")  # fmt: skip


@app.command("same")
def same_command(
    reference: Annotated[Path, typer.Argument(help="Out dir of the reference run (e.g. committed records).")],
    new: Annotated[Path, typer.Argument(help="Out dir of the new run on the same pools and draws.")],
    method: Annotated[str, typer.Option(help="Method whose selections are compared.")] = "pairwise",
    strategy: Annotated[str, typer.Option(help="Tournament of that method.")] = "knockout",
    n: Annotated[int, typer.Option("--n", min=2, help="Candidates per selection.")] = 8,
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds to compare.")] = "0",
    tolerance: Annotated[float, typer.Option(min=0.0, help="Largest |dP| allowed per judgment.")] = 1e-3,
) -> None:
    """Same picks, same verdicts and |dP| within the tolerance on every selection of the reference run (exit 1
    otherwise): the check that a refactor left the judge's behaviour alone."""
    from evaluation.compare import CompareError, load_records
    from evaluation.same import agreement

    try:
        seed_list = [int(part) for part in _csv(seeds)]
        result = agreement(load_records(reference), load_records(new), method, strategy, n, seed_list)
    except (CompareError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo("| selections | missing | same picks | judgments | same verdicts | max abs dP | abs dP of all judgments "
               "in both: median / p95 / max |")
    typer.echo("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    typer.echo(f"| {result.selections} | {result.missing} | {result.same_picks} | {result.judgments} | "
               f"{result.same_verdicts} | {result.max_dp:.2e} | {result.dp_quantile(0.5):.2e} / "
               f"{result.dp_quantile(0.95):.2e} / {result.dp_quantile(1.0):.2e} |")
    for line in result.differences:
        typer.echo(f"differs: {line}")
    holds = result.holds(tolerance)
    typer.echo("same behaviour" if holds else f"behaviour changed (tolerance {tolerance:g})")
    raise typer.Exit(0 if holds else 1)


@app.command("headroom")
def headroom_command(
    pools: PoolFiles,
    out: Annotated[Path, typer.Option(help="Output dir: report.md, report.json, headroom.png.")],
    n: Annotated[int, typer.Option("--n", min=2, help="Candidates per selection.")] = 8,
    seeds: Annotated[int, typer.Option(min=1, help="Draws per problem (seeds 0..k-1), as in `daj eval`.")] = 5,
    target: Annotated[float, typer.Option(help="Gain over exec-cluster to find the needed accuracy for, in "
                                                "points of pass@1.")] = 2.0,
    judged: Annotated[
        list[Path] | None,
        typer.Option("--judged", help="Out dir of an exec+judge `daj eval` run on the same draws (repeatable): "
                     "places that judge on the curve by its accuracy on mixed matches.", exists=True,
                     file_okay=False),
    ] = None,
    meta_half: Annotated[str | None, typer.Option(help="Only this half of the meta split: outer | tuning.")] = None,
    max_problems: Annotated[int | None, typer.Option(min=1, help="Only the first K problems (quick runs).")] = None,
    n_boot: Annotated[int, typer.Option(min=1, help="Bootstrap resamples.")] = 10000,
) -> None:
    """How much a judge could add to execution, and the accuracy on mixed matches it needs for a gain: the
    service's execution and combine rule with a simulated judge, exact over every outcome of the knockout."""
    import asyncio

    from evaluation.compare import CompareError, load_records
    from evaluation.headroom import collect, markdown, run_headroom
    from evaluation.runner import EvalConfigError, load_pools
    from evaluation.sampling import make_draws

    _check_meta_half(meta_half)
    try:
        loaded = load_pools(pools, max_problems, meta_half)
        judged_records = {run_dir: load_records(run_dir) for run_dir in judged or []}  # before the slow part
    except (EvalConfigError, CompareError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    draws, short = make_draws(loaded.pools, [n], range(seeds))
    if short:
        typer.echo(f"warning: {len(short)} pool(s) have fewer than {n} candidates and are skipped", err=True)
    outcomes = asyncio.run(collect(loaded.pools, draws, n))
    report = run_headroom(outcomes, out, target / 100, judged_records, _command_line(), n, n_boot)
    typer.echo(markdown(report))
    typer.echo(f"wrote {out / 'report.md'}, {out / 'report.json'}, {out / 'headroom.png'}")


@app.command("pairs")
def pairs_command(
    pools: Annotated[
        list[Path],
        typer.Option("--pools", help="Pool file(s) (merged per task): the ties of their top groups are judged.",
                     exists=True, dir_okay=False),
    ],
    out: Annotated[Path, typer.Option(help="Output dir: pairs.jsonl, pairs_report.json/.md.")],
    adapter: Annotated[
        Path | None,
        typer.Option(help="Folder of a LoRA adapter (default: the shipped judge, merged as `daj serve` does).",
                     exists=True, file_okay=False),
    ] = None,
    model: Annotated[str, typer.Option(help="Judge backbone (e.g. a merged export); with neither this nor --adapter, "
                                       "the shipped judge.")] = DEFAULT_MODEL,
    per_problem: Annotated[int, typer.Option(min=1, help="Pairs per problem, spread over cluster pairs.")] = 12,
    seed: Annotated[int, typer.Option(help="Seed of the pairs' draw.")] = 0,
    max_problems: Annotated[int | None, typer.Option(min=1, help="Only the first K problems.")] = None,
) -> None:
    """Accuracy, position consistency and calibration of the judge on the pairs it meets after the examples, with
    the evidence as shown, swapped between A and B, and removed."""
    import asyncio

    from daj.pools import merge_pools, read_pools
    from evaluation.backends import InProcessBackend, JudgeOptions
    from evaluation.judge_pairs import judge_pairs, summarise, write
    from judge_training.evidence import EvidenceSettings, RunStore, pool_pairs_as_served

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    groups = merge_pools([read_pools(path) for path in pools])[:max_problems]
    store = RunStore(out / "runs.jsonl")
    pairs, tally = pool_pairs_as_served(groups, EvidenceSettings(), per_problem, seed, "eval", store=store)
    typer.echo(f"{len(pairs)} pairs from {len(groups)} problems: {dict(tally)}")

    async def run() -> tuple[list, str, str]:
        shipped = adapter is None and model == DEFAULT_MODEL  # as `eval`: nothing named, the shipped judge
        backend = await InProcessBackend.start(model, JudgeOptions(adapter=adapter, shipped=shipped), 2)
        try:
            service = backend.service
            # the shipped judge is the adapter merged into the engine's weights: calls name it
            served = service.adapters.get(adapter.name) if adapter is not None else service.engine.merged_adapter
            version = (served.prompt_version if served is not None else None) or service.settings.prompt_version
            judged = await judge_pairs(service.engine, served, version, pairs)
            return judged, version, served.name if served is not None else model  # a merged export: its folder
        finally:
            await backend.close()

    judged, version, name = asyncio.run(run())
    summary = summarise(judged)
    header = {"pools": [str(p) for p in pools], "adapter": name, "prompt_version": version, "seed": seed,
              "per_problem": per_problem, "problems_by_outcome": dict(tally), "command": _command_line()}
    for path in write(judged, summary, out, header):
        typer.echo(f"wrote {path}")
    row = summary["evidence"]
    typer.echo(f"accuracy {row['accuracy']:.3f}, consistency {row['position_consistency']:.3f}, "
               f"ECE {row['ece']:.3f}; swapped flips {summary['swapped']['flipped']:.3f}; "
               f"removed accuracy {summary['removed']['accuracy']:.3f}")


def _command_line() -> str:
    program = "python -m evaluation" if sys.argv and sys.argv[0].endswith("__main__.py") else "daj"
    return " ".join([program, *(shlex.quote(arg) for arg in sys.argv[1:])])
