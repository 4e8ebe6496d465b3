"""The training command line (mounted as `daj train`; also `python -m judge_training train`)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Train the pairwise judge (LoRA) with bi-level data reweighting.", no_args_is_help=True)


@app.callback()
def _main() -> None:
    """Keeps `train` a named sub-command even while it is the only one."""


@app.command()
def train(
    config: Annotated[Path, typer.Option(help="YAML config, e.g. configs/default-cpu.yaml")],
    override: Annotated[
        list[str] | None, typer.Option("--set", help="section.key=value (YAML value), repeatable")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="continue from output.dir/checkpoint.pt if it exists (same config, steps may differ)")
    ] = False,
) -> None:
    """Train one adapter. The config is validated completely before anything is loaded."""
    from judge_training.config import ConfigError, load_config

    try:
        cfg = load_config(config, override or [])
    except ConfigError as exc:
        typer.echo(f"config error: {exc}", err=True)
        raise typer.Exit(2) from exc
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from judge_training.trainer import train as run_training

    try:
        metadata = run_training(cfg, resume=resume)
    except ConfigError as exc:  # --resume under a config other than the checkpoint's
        typer.echo(f"config error: {exc}", err=True)
        raise typer.Exit(2) from exc
    summary = {k: metadata[k] for k in ("final_domain_weights", "metrics", "seconds_per_step_median", "peak_rss_mib")}
    typer.echo(json.dumps(summary, indent=1))


@app.command()
def merge(
    adapter: Annotated[Path, typer.Option(help="peft adapter folder (with daj_adapter.json)", file_okay=False)],
    out: Annotated[Path, typer.Option(help="where the merged transformers folder goes")],
    base: Annotated[str | None, typer.Option(help="base model (default: the adapter's metadata)")] = None,
) -> None:
    """Fold the LoRA into the base weights: a plain model folder vLLM serves without LoRA kernels."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from daj.lora import MergeError, adapter_problem
    from judge_training.export import merge_adapter

    problem = adapter_problem(adapter)
    if problem:
        typer.echo(f"error: {adapter} is not a usable peft adapter folder: {problem}", err=True)
        raise typer.Exit(2)
    try:
        info = merge_adapter(adapter, out, base)
    except MergeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"wrote {out} ({info['merged_tensors']} merged tensors, base {info['merged_base']})")


@app.command()
def evidence(
    config: Annotated[Path, typer.Option(help="YAML config whose data sources (and meta pool) are surveyed")],
    per_source: Annotated[int, typer.Option(min=1, help="pairs drawn per source")] = 100,
    seed: Annotated[int, typer.Option(help="seed of the draw")] = 0,
    workers: Annotated[int, typer.Option(min=1, help="pairs run at once in the sandbox")] = 2,
    out: Annotated[Path | None, typer.Option(help="also write the rows as JSON here")] = None,
) -> None:
    """How many pairs of each source carry execution evidence: run a sample of them on the probe set the service
    would build and count the stages (examples-differ, tie-after-examples) and why the rest have none."""
    from rich.console import Console
    from rich.table import Table

    from judge_training.builder import meta_pairs, real_pairs
    from judge_training.config import ConfigError, load_config
    from judge_training.evidence import STAGES, EvidenceSettings, sample_per_source, survey

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        typer.echo(f"config error: {exc}", err=True)
        raise typer.Exit(2) from exc
    info: dict[str, object] = {}
    pairs = real_pairs(cfg.data, info) + meta_pairs(cfg.data, info)
    rows = survey(sample_per_source(pairs, per_source, seed), EvidenceSettings(), workers)
    reasons = sorted({key for row in rows for key in row} - {"source", "pairs", *STAGES})
    table = Table(title=f"evidence per source ({per_source} pairs drawn per source, seed {seed})")
    for column in ("source", "pairs", *STAGES[:2], *reasons):
        table.add_column(column, justify="left" if column == "source" else "right")
    for row in rows:
        table.add_row(row["source"], str(row["pairs"]), *(str(row.get(c, 0)) for c in (*STAGES[:2], *reasons)))
    Console(width=160).print(table)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"config": str(config), "per_source": per_source, "seed": seed, "rows": rows},
                                  indent=1) + "\n")
