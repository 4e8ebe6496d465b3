"""The `daj` command: `daj serve`, `daj models ...`, `daj pools merge` / `daj pools lcb`, `daj label` /
`daj sandbox ...`, `daj eval`, `daj compare`, `daj same`, `daj pairs`, `daj headroom`, `daj train`.

Each package owns its commands (the cli.py of sandbox/, evaluation/, judge_training/); they are mounted here,
the one place that imports every package (the layer on top, see the README's architecture).
Their modules import only typer at the top, so `daj --help` stays fast.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from evaluation import cli as evaluation_cli
from judge_training import cli as training_cli
from sandbox import cli as sandbox_cli

app = typer.Typer(help="daj: Best-of-N code selection with a trained pairwise judge.", no_args_is_help=True)
models_app = typer.Typer(help="Judge backbones: prepare the embedded default, list what is available.")
app.add_typer(models_app, name="models")
pools_app = typer.Typer(
    help="Pool files (one labelled problem per line): combine them, build LiveCodeBench's.", no_args_is_help=True
)
app.add_typer(pools_app, name="pools")
app.add_typer(sandbox_cli.app, name="sandbox")
app.command("label", help="Label programs by running their hidden tests in the sandbox (writes pools).")(
    sandbox_cli.label
)
app.command("eval", help="Best-of-N evaluation of the judge and baselines on labelled pools.")(
    evaluation_cli.eval_command
)
app.command("compare", help="Paired bootstrap of selected pass@1 between two `daj eval` runs on the same draws.")(
    evaluation_cli.compare_command
)
app.command("pairs", help="The judge on the ties it meets after the examples: evidence as shown, swapped, removed.")(
    evaluation_cli.pairs_command
)
app.command("same", help="Same picks and verdicts as a reference run on the same draws (a refactor's check).")(
    evaluation_cli.same_command
)
app.command("headroom", help="How much a judge could add to execution, and the accuracy it needs for a gain.")(
    evaluation_cli.headroom_command
)
app.command("train", help="Train the pairwise judge (LoRA) with bi-level data reweighting.")(training_cli.train)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default DAJ_HOST or 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default DAJ_PORT or 8000).")] = None,
    model: Annotated[str | None, typer.Option(help="Backbone: alias, local folder or hub id.")] = None,
) -> None:
    """Start the selection service (vLLM in-process unless DAJ_BACKEND=remote)."""
    import uvicorn

    from service.app import create_app
    from service.settings import Settings

    overrides: dict[str, Any] = {key: value for key, value in {"host": host, "port": port, "model": model}.items()
                                 if value}
    settings = Settings(**overrides)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level,
                timeout_graceful_shutdown=settings.shutdown_grace_s)


@app.command()
def executor(
    host: Annotated[str | None, typer.Option(help="Bind address (default DAJ_EXECUTOR_HOST or 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default DAJ_EXECUTOR_PORT or 8100).")] = None,
) -> None:
    """Start an executor: a stateless service that runs sandbox jobs for `daj serve` (DAJ_EXECUTOR_URLS)."""
    import uvicorn

    from executor.app import create_executor_app
    from executor.settings import ExecutorSettings

    overrides: dict[str, Any] = {key: value for key, value in {"executor_host": host, "executor_port": port}.items()
                                 if value}
    settings = ExecutorSettings(**overrides)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_executor_app(settings), host=settings.executor_host, port=settings.executor_port,
                log_level=settings.log_level)


@models_app.command("prepare")
def models_prepare(
    alias: Annotated[str, typer.Argument(help="Embedded model alias.")] = "smollm2-135m-instruct",
    cache_dir: Annotated[Path | None, typer.Option(help="Cache folder (default: DAJ_CACHE_DIR, ~/.cache/daj).")] = None,
) -> None:
    """Convert an embedded backbone into a transformers folder once (idempotent, fast when done)."""
    from daj.models import ModelNotAvailableError, prepare_embedded_model, prepared_folder

    already = prepared_folder(alias, cache_dir) if alias in _embedded() else None
    try:
        folder = already or prepare_embedded_model(alias, cache_dir)
    except ModelNotAvailableError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"{alias}: {folder}" + (" (cached)" if already else " (converted)"))


@pools_app.command("merge")
def pools_merge(
    out: Annotated[Path, typer.Option(help="Merged pool file (.jsonl or .jsonl.gz).")],
    inputs: Annotated[list[Path], typer.Argument(help="Pool files; candidates of one task are concatenated.")],
) -> None:
    """One pool per task with the candidates of every input (e.g. one program per policy model each)."""
    from daj.pools import PoolFormatError, merge_pools, read_pools, write_pools

    try:
        merged = merge_pools(read_pools(path) for path in inputs)
    except (PoolFormatError, ValueError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    count = write_pools(out, merged)
    sizes = sorted({len(pool.candidates) for pool in merged})
    typer.echo(f"wrote {out}: {count} pools, candidates per pool {sizes[0]}..{sizes[-1]}" if sizes else f"wrote {out}")


@pools_app.command("lcb")
def pools_lcb(
    out: Annotated[Path, typer.Option(help="Pool file (.jsonl or .jsonl.gz).")] = Path("data/pools/lcb_o1.jsonl.gz"),
    data: Annotated[
        Path, typer.Option(help="The LiveCodeBench submissions folder (o1-mini and o1-preview files).")
    ] = Path("../shared/data/livecodebench"),
) -> None:
    """One pool per LiveCodeBench problem: the o1-mini and the o1-preview program, with platform, difficulty, split
    (meta before 2024-09-01, test after) and label notes in `info` (docs/evaluation.md, LiveCodeBench pools)."""
    from daj.lcb import build_lcb_pools, summarize, summary_lines
    from daj.pools import write_pools

    try:
        pools = build_lcb_pools(data)
    except (OSError, ValueError, KeyError, IndexError) as exc:
        typer.echo(f"error: {data}: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(2) from exc
    count = write_pools(out, pools)
    typer.echo(f"wrote {out}: {count} pools")
    for line in summary_lines(summarize(pools)):
        typer.echo(line)


@models_app.command("list")
def models_list(cache_dir: Annotated[Path | None, typer.Option(help="Cache folder.")] = None) -> None:
    """Embedded backbones and whether each is prepared."""
    from daj.models import prepared_folder

    for alias, model in _embedded().items():
        folder = prepared_folder(alias, cache_dir)
        state = str(folder) if folder else "not prepared (daj models prepare)"
        typer.echo(f"{alias}\t{state}\t{model.description}")


def _embedded() -> dict:
    from daj.models import EMBEDDED_MODELS

    return EMBEDDED_MODELS


def main() -> None:
    app()


if __name__ == "__main__":
    main()
