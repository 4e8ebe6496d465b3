"""``label`` / ``baselines`` / ``run`` commands (mounted as ``daj label ...``; or ``python -m sandbox ...``)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from daj.jsonl import read_jsonl
from sandbox.cache import ResultCache
from sandbox.limits import Limits
from sandbox.runner import Sandbox

app = typer.Typer(help="Sandboxed execution: label programs by running hidden tests.", no_args_is_help=True)

DATA_DIR = Path("../shared/data")
OUT_DIR = Path("data/pools")
TEST_POOL = "humaneval_codegen16b_test.jsonl.gz"


def _sandbox(workers: int | None, cpu: float, wall: float, cache_dir: Path | None, no_cache: bool) -> Sandbox:
    limits = Limits(wall_seconds=wall, cpu_seconds=cpu)
    cache = False if no_cache else ResultCache(cache_dir) if cache_dir else True
    return Sandbox(limits=limits, workers=workers, cache=cache)


@app.command()
def label(
    source: Annotated[str, typer.Argument(help="codet (CodeGen-16B HumanEval samples), ldb, or samples")],
    data_dir: Annotated[Path, typer.Option(help="the shared data folder (read-only)")] = DATA_DIR,
    out: Annotated[Path, typer.Option(help="output folder (codet, ldb) or pool file (samples)")] = OUT_DIR,
    samples: Annotated[Path | None, typer.Option(help="JSONL(.gz): task_id + program|completion")] = None,
    benchmark: Annotated[str, typer.Option(help="for samples: humaneval, humaneval+, mbpp, mbpp+")] = "humaneval",
    sample_source: Annotated[str, typer.Option(help="for samples: the pool's `source` text")] = "unknown",
    workers: Annotated[int | None, typer.Option(help="parallel sandboxes (default: cpu count)")] = None,
    cpu: Annotated[float, typer.Option(help="CPU seconds per program (stops busy loops)")] = Limits.cpu_seconds,
    wall: Annotated[
        float, typer.Option(help="wall-clock seconds per program (blocked/sleeping)")
    ] = Limits.wall_seconds,
    cache_dir: Annotated[Path | None, typer.Option(help="result cache (default $DAJ_CACHE_DIR/sandbox)")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="do not read or write the result cache")] = False,
) -> None:
    """Run hidden tests on raw samples and write labelled pools (gzip JSONL)."""
    from sandbox import labels

    sandbox = _sandbox(workers, cpu, wall, cache_dir, no_cache)
    start = time.monotonic()
    if source == "codet":
        summary = _label_codet(sandbox, data_dir, out)
    elif source == "ldb":
        summary = _label_ldb(sandbox, data_dir, out)
    elif source == "samples":
        if samples is None:
            raise typer.BadParameter("--samples is required for source 'samples'")
        groups = labels.sample_groups(read_jsonl(samples), benchmark, data_dir)
        labelled = labels.label_groups(sandbox, groups, sample_source)
        labels.write_pools(out, labelled.pools)
        summary = {
            "pools": len(labelled.pools),
            "mean_pass_rate": labelled.mean_pass_rate(),
            "statuses": labelled.status_counts(),
            "out": str(out),
        }
    else:
        raise typer.BadParameter(f"unknown source {source!r}: codet, ldb, samples")
    summary["seconds"] = round(time.monotonic() - start, 1)
    typer.echo(json.dumps(summary, indent=1))


def _label_codet(sandbox: Sandbox, data_dir: Path, out: Path) -> dict:
    from sandbox import labels

    labelled = labels.label_groups(sandbox, labels.codet_groups(data_dir), labels.CODET_SOURCE, desc="codet")
    paths = labels.write_split(labelled.pools, data_dir, out, "humaneval_codegen16b")
    n = sum(len(p.candidates) for p in labelled.pools)
    by_split = {name: _mean_rate(labels.read_pools_safe(path)) for name, path in paths.items()}
    return {
        "programs": n,
        "mean_pass_rate": labelled.mean_pass_rate(),
        "mean_pass_rate_by_split": by_split,
        "statuses": labelled.status_counts(),
        "files": {k: str(v) for k, v in paths.items()},
    }


def _label_ldb(sandbox: Sandbox, data_dir: Path, out: Path) -> dict:
    from daj.pools import write_pools
    from sandbox import labels

    report = {}
    for dataset, models in labels.LDB_MODELS.items():
        for model in models:
            groups = labels.ldb_groups(data_dir, dataset, model)
            labelled = labels.label_groups(
                sandbox, groups, f"LDB seed program of {model} (1 per problem)", desc=f"ldb {dataset} {model}"
            )
            agreement = labels.ldb_agreement(labelled, labels.ldb_rows(data_dir, dataset, model))
            agreement["statuses"] = labelled.status_counts()
            report[f"{dataset}/{model}"] = agreement
            stem = f"ldb_{dataset}_{model}"
            if dataset == "humaneval":
                labels.write_split(labelled.pools, data_dir, out, stem)
            else:
                write_pools(out / f"{stem}.jsonl.gz", labelled.pools)
    (out / "ldb_agreement.json").write_text(json.dumps(report, indent=1) + "\n")
    return {
        k: {x: v[x] for x in ("n", "agree", "agreement", "ldb_pass_rate", "rerun_pass_rate")} for k, v in report.items()
    }


def _mean_rate(pools) -> float:
    rates = [p.pass_rate for p in pools if p.pass_rate is not None]
    return sum(rates) / len(rates) if rates else float("nan")


@app.command()
def baselines(
    data_dir: Annotated[Path, typer.Option(help="the shared data folder (read-only)")] = DATA_DIR,
    pools: Annotated[Path, typer.Option(help="labelled pool file")] = OUT_DIR / TEST_POOL,
    out: Annotated[Path, typer.Option()] = OUT_DIR / "execution_baselines.json",
    markdown: Annotated[Path | None, typer.Option(help="also write the markdown table here")] = None,
    workers: Annotated[int | None, typer.Option()] = None,
    cache_dir: Annotated[Path | None, typer.Option()] = None,
) -> None:
    """Execution-only selectors (docstring examples, CodeT dual agreement) vs random and oracle."""
    from sandbox import baselines as bl

    # ~60 snippets per program; per-case alarms (0.5 s, at most 3 timeouts) do the real limiting
    sandbox = _sandbox(workers, 19.0, 20.0, cache_dir, False)
    table = bl.run_baselines(sandbox, data_dir, pools)
    out.write_text(json.dumps(table, indent=1) + "\n")
    text = bl.markdown_table(table)
    if markdown:
        markdown.write_text(text)
    typer.echo(text)


@app.command()
def run(
    program: Annotated[Path, typer.Argument(help="a Python file")],
    task_id: Annotated[str, typer.Argument(help="e.g. HumanEval/0")],
    data_dir: Annotated[Path, typer.Option()] = DATA_DIR,
    cpu: Annotated[float, typer.Option()] = Limits.cpu_seconds,
    wall: Annotated[float, typer.Option()] = Limits.wall_seconds,
) -> None:
    """Run one program file against a HumanEval problem's hidden tests (uncached) and print the result."""
    from sandbox import labels

    problem = labels.humaneval_problems(data_dir)[task_id]
    result = _sandbox(1, cpu, wall, None, True).run(program.read_text(), labels.humaneval_spec(problem))
    typer.echo(json.dumps(result.to_dict(), indent=1))
