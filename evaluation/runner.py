"""Run an evaluation: load pools, draw, run every pending selection, cache each result, build the report.

Resume: every finished selection is appended (and flushed) to `records.jsonl` in the out dir, keyed by
(method, strategy, n, seed, task_id); a re-run skips those keys and only does what is missing. The out dir's
`run_config.json` pins what the records depend on (judge, prompt, pool files); a re-run with a different
judge into the same dir is refused instead of mixing results.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from daj.digest import file_sha256
from daj.jsonl import read_jsonl
from daj.models import DEFAULT_MODEL
from daj.pools import Pool, meta_half, read_pools
from evaluation.backends import ExecutionBackend, HttpBackend, InProcessBackend, JudgeBackend, JudgeOptions
from evaluation.methods import build_selector, needs_execution, needs_judge, selector_specs
from evaluation.records import SelectionRecord, record_key
from evaluation.sampling import Draw, ShortPool, make_draws

logger = logging.getLogger(__name__)

RECORDS_FILE = "records.jsonl"
RUN_CONFIG_FILE = "run_config.json"
RUNS_FILE = "runs.jsonl"  # one line per invocation: when, how long, how many new selections

BackendFactory = Callable[[], Awaitable[JudgeBackend]]


class EvalConfigError(ValueError):
    """The out dir holds records of another configuration, or the options contradict each other."""


@dataclass(frozen=True)
class EvalConfig:
    pools: tuple[Path, ...]
    out: Path
    ns: tuple[int, ...] = (4, 8, 16)
    strategies: tuple[str, ...] = ("knockout", "round_robin")
    seeds: int = 5
    methods: tuple[str, ...] = ("majority", "pointwise", "pairwise")
    model: str = DEFAULT_MODEL
    adapter: Path | None = None
    mode: str = "verdict"
    orders: str = "both"
    max_problems: int | None = None
    url: str | None = None
    concurrency: int = 8
    n_boot: int = 1000
    execution_baselines: Path | None = None
    base: bool = False  # the untrained base model, not the shipped judge
    meta_half: str | None = None  # only the problems of this half of the meta split (outer | tuning)

    @property
    def shipped(self) -> bool:
        """No model or adapter named: evaluate what `daj serve` serves by default (the shipped judge)."""
        return self.adapter is None and self.model == DEFAULT_MODEL and not self.base

    @property
    def judge_options(self) -> JudgeOptions:
        return JudgeOptions(mode=self.mode, orders=self.orders, adapter=self.adapter, shipped=self.shipped)

    def judge_adapter(self) -> Path | None:
        """The adapter the judge runs with: the one named, else the shipped default (None: the base model)."""
        from evaluation.backends import eval_settings

        settings = eval_settings(self.model, self.judge_options, 2)
        if self.adapter is not None or not (self.shipped and settings.default_adapter):
            return self.adapter
        return settings.adapters_dir / settings.default_adapter

    def fingerprint(self) -> dict[str, Any]:
        """What cached records depend on (not N, seeds, methods or problem count: those only add keys)."""
        from daj.lora import adapter_prompt_version
        from daj.probes import PROBES_VERSION
        from evaluation.backends import eval_settings
        from evaluation.pointwise import POINTWISE_PROMPT_VERSION
        from service.embedded import resolve_dtype

        settings = eval_settings(self.model, self.judge_options, 2)
        adapter = self.judge_adapter()
        # As the service renders: the adapter's own prompt version, else the setting's.
        prompt_version = (adapter_prompt_version(adapter) if adapter else None) or settings.prompt_version
        return {
            "pools": {str(path): file_sha256(path)[:16] for path in self.pools},
            "backend": self.url or "in-process",
            "model": self.model,
            "adapter": str(adapter.resolve()) if adapter else None,
            "adapter_hash": _adapter_hash(adapter),
            "mode": self.mode,
            "orders": self.orders,
            # The dtype changes verdicts in their last digits (bf16 rounding); a remote service chooses its own.
            "dtype": None if self.url else resolve_dtype(settings.dtype).dtype,
            "prompt_version": prompt_version,
            "pointwise_prompt_version": POINTWISE_PROMPT_VERSION,
            "selection": {
                "probes_version": PROBES_VERSION,
                **{name: getattr(settings, name) for name in SELECTION_SETTINGS},
            },
        }


# Runs pinned before the dtype was part of the configuration were served in bfloat16, the only dtype then.
LEGACY_DTYPE = "bfloat16"

SELECTION_SETTINGS = ("consensus_margin", "evidence_inputs", "execution_generated_inputs", "execution_case_s",
                      "execution_cpu_s", "execution_wall_s", "execution_output_chars", "execution_memory_mb",
                      "execution_budget_s")
"""The service settings (env DAJ_*) that change what an execution-grounded selection picks."""


def _adapter_hash(adapter: Path | None) -> str | None:
    if adapter is None:
        return None
    from daj.lora import adapter_content_hash

    return adapter_content_hash(adapter)


@dataclass
class LoadedPools:
    pools: list[Pool]
    unlabelled: list[str] = field(default_factory=list)  # task ids left out: some label is unknown


def load_pools(paths: Sequence[Path], max_problems: int | None = None, half: str | None = None) -> LoadedPools:
    """Read and validate every pool file (errors name file, line and field); keep fully labelled pools (of one
    half of the meta split when `half` is given)."""
    pools: list[Pool] = []
    unlabelled: list[str] = []
    origin: dict[str, Path] = {}
    for path in paths:
        for pool in read_pools(path):
            if pool.task_id in origin:
                raise EvalConfigError(f"{path}: task_id {pool.task_id!r} is also in {origin[pool.task_id]}")
            origin[pool.task_id] = path
            if half is not None and meta_half(pool.task_id) != half:
                continue
            if pool.labelled:
                pools.append(pool)
            else:
                unlabelled.append(pool.task_id)
    if unlabelled:
        logger.warning("%d pool(s) have unknown labels and are left out: %s", len(unlabelled), unlabelled[:5])
    if max_problems is not None:
        pools = pools[:max_problems]
    return LoadedPools(pools, unlabelled)


class ResultCache:
    """Append-only JSONL of finished selections; a line cut off by a kill is dropped with a warning."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[tuple[str, str, int, int, str], SelectionRecord] = {}
        if path.exists():
            self._load()

    def _load(self) -> None:
        lines = self.path.read_text(encoding="utf-8").splitlines()
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = SelectionRecord.from_dict(json.loads(line))
            except (json.JSONDecodeError, TypeError, KeyError) as exc:
                if lineno == len(lines):
                    logger.warning("%s:%d: dropping a partial last line (interrupted run): %s", self.path, lineno, exc)
                    continue
                raise EvalConfigError(f"{self.path}:{lineno}: not a selection record: {exc}") from exc
            self.records[record.key] = record

    def __contains__(self, key: object) -> bool:
        return key in self.records

    def get(self, key: tuple[str, str, int, int, str]) -> SelectionRecord | None:
        return self.records.get(key)

    def add(self, record: SelectionRecord) -> None:
        self.records[record.key] = record
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record.to_dict()) + "\n")


def open_out_dir(config: EvalConfig) -> ResultCache:
    """Create the out dir, or check that its cached records belong to this configuration."""
    config.out.mkdir(parents=True, exist_ok=True)
    pinned = config.out / RUN_CONFIG_FILE
    fingerprint = config.fingerprint()
    if pinned.exists():
        previous = json.loads(pinned.read_text())
        previous.setdefault("dtype", LEGACY_DTYPE)
        if previous != fingerprint:
            changed = sorted(k for k in fingerprint.keys() | previous.keys() if previous.get(k) != fingerprint.get(k))
            raise EvalConfigError(
                f"{config.out} holds results of another configuration (differs in {changed}); "
                "use another --out or delete it"
            )
    else:
        pinned.write_text(json.dumps(fingerprint, indent=1) + "\n")
    return ResultCache(config.out / RECORDS_FILE)


@dataclass
class RunOutcome:
    """Everything the report needs."""

    config: EvalConfig
    pools: list[Pool]
    draws: list[Draw]
    short: list[ShortPool]
    unlabelled: list[str]
    records: list[SelectionRecord]
    specs: list[tuple[str, str]]
    new_selections: int
    wall_s: float
    notes: list[str]


def default_backend_factory(config: EvalConfig) -> BackendFactory:
    async def factory() -> JudgeBackend:
        if config.url:
            return HttpBackend(config.url, config.judge_options)
        return await InProcessBackend.start(config.model, config.judge_options, max(config.ns),
                                            require_execution="exec+judge" in config.methods)

    return factory


def run_eval(config: EvalConfig, backend_factory: BackendFactory | None = None) -> RunOutcome:
    """Do every selection not yet in the out dir's cache, then return all records of this configuration."""
    started = time.perf_counter()
    notes: list[str] = []
    loaded = load_pools(config.pools, config.max_problems, config.meta_half)
    draws, short = make_draws(loaded.pools, config.ns, range(config.seeds))
    for item in short:
        logger.warning("%s has %d candidates, fewer than N=%d: skipped for that N", item.task_id, item.size, item.n)
    methods = list(config.methods)
    if config.url and "pointwise" in methods:
        methods.remove("pointwise")
        notes.append("pointwise left out: the service has no pointwise endpoint (run it in-process, without --url)")
        logger.warning(notes[-1])
    specs = selector_specs(methods, config.strategies)
    cache = open_out_dir(config)
    position = {pool.task_id: index for index, pool in enumerate(loaded.pools)}
    # Problem by problem, so an interrupted run leaves whole problems done (a smaller --max-problems reuses them).
    by_problem = sorted(draws, key=lambda d: (position[d.task_id], d.seed, d.n))
    pending = [
        (spec, draw)
        for draw in by_problem
        for spec in specs
        if record_key(spec[0], spec[1], draw.n, draw.seed, draw.task_id) not in cache
    ]
    factory = backend_factory or default_backend_factory(config)
    pools_by_id = {pool.task_id: pool for pool in loaded.pools}
    total = len(specs) * len(draws)
    asyncio.run(_execute(pending, pools_by_id, cache, factory, config.concurrency, total, max(config.ns)))
    records = [cache.get(record_key(m, s, d.n, d.seed, d.task_id)) for m, s in specs for d in draws]
    wall_s = time.perf_counter() - started
    log_invocation(config.out, wall_s, len(pending))
    found = [r for r in records if r is not None]
    return RunOutcome(config, loaded.pools, draws, short, loaded.unlabelled, found, specs, len(pending), wall_s, notes)


def log_invocation(out: Path, wall_s: float, new_selections: int) -> None:
    """Keep the history, so a report built over several resumed runs still says what the records cost."""
    entry = {
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_s": round(wall_s, 2),
        "new_selections": new_selections,
    }
    with (out / RUNS_FILE).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")


def read_invocations(out: Path) -> list[dict[str, Any]]:
    path = out / RUNS_FILE
    return read_jsonl(path) if path.exists() else []


async def _execute(
    pending: list[tuple[tuple[str, str], Draw]],
    pools: dict[str, Pool],
    cache: ResultCache,
    factory: BackendFactory,
    concurrency: int,
    total: int,
    max_candidates: int = 32,
) -> None:
    """Run pending selections, `concurrency` at a time (so the engine batches them), caching each at once."""
    backend = await factory() if any(needs_judge(method) for (method, _), _ in pending) else None
    executor = None
    if any(needs_execution(method) for (method, _), _ in pending):
        executor = await ExecutionBackend.start(max_candidates)
    try:
        selectors = {
            spec: build_selector(spec[0], spec[1], backend, executor) for spec in {spec for spec, _ in pending}
        }
        gate = asyncio.Semaphore(max(1, concurrency))
        with tqdm(total=total, initial=total - len(pending), desc="selections", unit="sel") as bar:

            async def one(spec: tuple[str, str], draw: Draw) -> None:
                async with gate:
                    record = await selectors[spec].select(pools[draw.task_id], draw)
                cache.add(record)
                bar.update()

            async with asyncio.TaskGroup() as group:
                for spec, draw in pending:
                    group.create_task(one(spec, draw))
    finally:
        if backend is not None:
            await backend.close()
        if executor is not None:
            await executor.close()
