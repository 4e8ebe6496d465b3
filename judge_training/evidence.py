"""Evidence pairs: a passing and a failing program of one problem, run on the probe set the service would build
for it, and shown to the judge as the service shows it (prompt v2: the inputs on which the two disagree, with
both outputs).

Everything that decides what the judge sees is the service's own code: `daj.probes.shapes.plan_probes` (examples,
generated inputs), `sandbox.probe_spec` and `sandbox.run_limits` (the same spec and limits, normalised outputs),
`daj.probes.group_candidates` and `daj.probes.disagreements` (checks first, at most K), and
`daj.protocol.render_prompt`. So a judge trained on these pairs reads at training time exactly the prompts it
is served. The one difference: the service builds the probe set from all N candidates of a selection, a pair
from its two programs (generated inputs depend on the problem and its examples, not on the candidates, unless
the statement has no signature).

Each pair is tagged with the pipeline stage it stands for:
- `examples-differ`: one of the two fails a visible example (the service's grouping decides such pairs; the
  judge meets them only when execution is off or nothing passes);
- `tie-after-examples`: both pass the same examples and differ only on generated inputs: the judge's real job.
Pairs whose programs behave the same on every probe, or that cannot run (no entry point, nothing to run), have
no evidence and are left out here (`no-evidence` pairs are the plain code-only pairs of `data.py`).

Two ways in: `with_evidence` runs the pairs of the training sources (a pair's two programs make its probe set),
`pool_pairs_as_served` runs whole pools (the meta and test splits' candidates) and keeps the pairs the service
would send to its judge: a passing and a failing program of two different top-group clusters. Each distinct
program runs once per probe set; `RunStore` keeps the runs on disk, so a rebuild runs only what is new.
"""

from __future__ import annotations

import json
import logging
import random
import sys
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from daj.probes import CandidateRun, ProbeLimits, ProbeSet, disagreements, group_candidates
from daj.probes.shapes import ShapeRequest, plan_probes
from daj.protocol import PROMPT_V2
from judge_training.data import (
    EXAMPLES_DIFFER,
    NO_EVIDENCE,
    STAGES,
    TIE_AFTER_EXAMPLES,
    PairExample,
    difficulty_bucket,
)
from sandbox import Limits, execute, probe_spec, run_key, run_limits

logger = logging.getLogger(__name__)

__all__ = ["EXAMPLES_DIFFER", "NO_EVIDENCE", "STAGES", "TIE_AFTER_EXAMPLES", "EvidenceSettings", "RunStore",
           "evidence_pair", "evidence_pairs", "pool_pairs_as_served", "with_evidence"]

EVIDENCE_PROMPT_VERSION = PROMPT_V2
SAME_BEHAVIOUR = "same behaviour on every probe"
RUN_BUDGET_S = 30.0  # the longest a whole program's run may take over its probes: the service's default budget


@dataclass(frozen=True)
class EvidenceSettings:
    """What shapes the evidence; the defaults are the service's (`DAJ_EXECUTION_*`, `DAJ_EVIDENCE_INPUTS`: a
    test keeps them equal)."""

    generated_inputs: int = 12
    evidence_inputs: int = 3
    case_seconds: float = 0.5
    output_chars: int = 200
    limits: Limits = field(default_factory=lambda: Limits(wall_seconds=10.0, cpu_seconds=5.0, memory_mb=1024))
    max_tests: int = 64  # the service's bound on caller tests, which sizes its probe budget

    def probe_limits(self) -> ProbeLimits:
        return ProbeLimits.for_selection(self.generated_inputs, self.max_tests)


class RunStore:
    """Runs of programs on probe sets, keyed as the service keys its execution cache (program, spec, harness,
    limits, interpreter); kept in one JSONL file when `path` is given, else in memory. Thread-safe."""

    def __init__(self, path: Path | None = None, python: str | None = None) -> None:
        self.path, self.python = path, python or sys.executable
        self._runs: dict[str, CandidateRun] = {}
        self._lock = threading.Lock()
        self.fresh = 0
        if path is not None and path.is_file():
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    if line.strip():
                        key, raw = json.loads(line)
                        self._runs[key] = CandidateRun.from_json(raw)

    def run(self, code: str, probe_set: ProbeSet, settings: EvidenceSettings) -> CandidateRun:
        spec = probe_spec(probe_set, settings.case_seconds, settings.output_chars)
        limits = run_limits(probe_set, settings.limits, settings.case_seconds, RUN_BUDGET_S)
        key = run_key(code, spec.digest(), limits, self.python)
        with self._lock:
            known = self._runs.get(key)
        if known is not None:
            return known
        result = CandidateRun.from_result(execute(code, spec, limits, self.python), len(probe_set.probes))
        with self._lock:
            self._runs[key] = result
            self.fresh += 1
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps([key, result.to_json()]) + "\n")
        return result


def evidence_pair(pair: PairExample, settings: EvidenceSettings, store: RunStore | None = None) -> PairExample | str:
    """The pair with its stage and evidence (the passing program as A), or why it has none (a short reason)."""
    store = store or RunStore()
    codes = [pair.chosen, pair.rejected]
    plan = plan_probes(ShapeRequest.of(pair.problem, codes, limits=settings.probe_limits()))
    if plan.shape is None:
        return "no entry point"
    probe_set = plan.probe_set
    if probe_set is None:
        return "nothing to run"
    runs = [store.run(code, probe_set, settings) for code in codes]
    grouping = group_candidates(runs, probe_set)
    shown = tuple(disagreements(probe_set, grouping, runs[0], runs[1], settings.evidence_inputs))
    if not shown:
        return SAME_BEHAVIOUR
    passed = grouping.checks_passed
    stage = EXAMPLES_DIFFER if passed[0] != passed[1] else TIE_AFTER_EXAMPLES
    return replace(pair, stage=stage, evidence=shown)


def run_pairs(pairs: Sequence[PairExample], settings: EvidenceSettings, workers: int = 2,
              store: RunStore | None = None, desc: str = "evidence pairs",
              ) -> Iterator[tuple[PairExample, PairExample | str]]:
    """Each pair with its outcome (the pair with evidence, or why none), in input order; `workers` at once."""
    store = store or RunStore()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="evidence") as pool:
        results = pool.map(lambda pair: evidence_pair(pair, settings, store), pairs)
        yield from tqdm(zip(pairs, results, strict=True), total=len(pairs), desc=desc)


def _label(outcome: PairExample | str) -> str:
    return outcome.stage if isinstance(outcome, PairExample) else outcome


def evidence_pairs(pairs: Sequence[PairExample], settings: EvidenceSettings, workers: int = 2,
                   store: RunStore | None = None) -> tuple[list[PairExample], Counter[str]]:
    """Every pair that has evidence (in input order) and a tally of all outcomes (stages and reasons)."""
    tally: Counter[str] = Counter()
    kept: list[PairExample] = []
    for _, outcome in run_pairs(pairs, settings, workers, store):
        if isinstance(outcome, PairExample):
            kept.append(outcome)
        tally[_label(outcome)] += 1
    logger.info("evidence pairs: %s", dict(tally))
    return kept, tally


def with_evidence(pairs: Sequence[PairExample], settings: EvidenceSettings, no_evidence_share: float, seed: int,
                  workers: int = 2, store: RunStore | None = None) -> tuple[list[PairExample], Counter[str]]:
    """The training set of an evidence-trained judge: a `no_evidence_share` of the pairs (drawn with `seed`) stay
    code-only (`no-evidence`: the judge still serves execution-off requests), the rest are run and kept when
    they carry evidence. Returns the pairs in input order and the tally of every outcome."""
    rng = random.Random(seed)
    plain = [rng.random() < no_evidence_share for _ in pairs]
    outcomes = run_pairs([pair for pair, code_only in zip(pairs, plain, strict=True) if not code_only], settings,
                         workers, store)
    kept: list[PairExample] = []
    tally: Counter[str] = Counter()
    for pair, code_only in zip(pairs, plain, strict=True):
        outcome: PairExample | str = pair if code_only else next(outcomes)[1]
        tally[_label(outcome)] += 1
        if isinstance(outcome, PairExample):
            kept.append(outcome)
    logger.info("training pairs with evidence: %s", dict(tally))
    return kept, tally


def pool_pairs_as_served(pools: Sequence[Any], settings: EvidenceSettings, per_problem: int, seed: int,
                         source: str, workers: int = 2, store: RunStore | None = None,
                         ) -> tuple[list[PairExample], Counter[str]]:
    """The pairs the service's judge meets on these pools: every distinct labelled program of a pool runs on the
    pool's probe set (built from all of them, as a selection builds it from its N), and a pair is a passing and
    a failing program of two different top-group clusters (they tie on the checks and differ on some input),
    at most `per_problem` per pool, spread over the cluster pairs. Tallies problems by outcome."""
    store = store or RunStore()
    rng = random.Random(seed)
    plans = [plan for pool in pools if (plan := _pool_plan(pool, settings)) is not None]
    jobs = [(code, probe_set) for _, _, codes, probe_set in plans for code in codes]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="evidence") as executor:
        list(tqdm(executor.map(lambda job: store.run(job[0], job[1], settings), jobs), total=len(jobs),
                  desc=f"runs ({source})"))
    pairs: list[PairExample] = []
    tally: Counter[str] = Counter(unplanned=len(pools) - len(plans))
    for pool, labels, codes, probe_set in plans:
        runs = [store.run(code, probe_set, settings) for code in codes]
        found = _served_pairs(pool, labels, codes, probe_set, runs, settings, per_problem, rng, source)
        tally["with pairs" if found else "no tie between a passing and a failing cluster"] += 1
        pairs += found
    return pairs, tally


def _pool_plan(pool: Any, settings: EvidenceSettings) -> tuple[Any, list[bool], list[str], ProbeSet] | None:
    labelled: dict[str, bool] = {}
    for code, passed in zip(pool.candidates, pool.passed, strict=True):
        if passed is not None:
            labelled.setdefault(code, bool(passed))
    codes = list(labelled)
    if not any(labelled.values()) or all(labelled.values()):
        return None  # no passing or no failing program: no pair to judge
    probe_set = plan_probes(ShapeRequest.of(pool.problem, codes, limits=settings.probe_limits())).probe_set
    if probe_set is None:
        return None
    return pool, [labelled[code] for code in codes], codes, probe_set


def _served_pairs(pool: Any, labels: list[bool], codes: list[str], probe_set: ProbeSet, runs: list[CandidateRun],
                  settings: EvidenceSettings, per_problem: int, rng: random.Random, source: str) -> list[PairExample]:
    grouping = group_candidates(runs, probe_set)
    if not grouping.informative:
        return []
    options = []
    for good_cluster in grouping.top_clusters:
        for bad_cluster in grouping.top_clusters:
            good = [i for i in grouping.clusters[good_cluster] if labels[i]]
            bad = [i for i in grouping.clusters[bad_cluster] if not labels[i]]
            if good_cluster != bad_cluster and good and bad:
                options.append([(g, b) for g in good for b in bad])
    chosen: list[tuple[int, int]] = []
    for combos in options:
        rng.shuffle(combos)
    while len(chosen) < per_problem and any(options):  # round robin over cluster pairs: spread, not one pair
        for combos in options:
            if combos and len(chosen) < per_problem:
                chosen.append(combos.pop())
    difficulty = difficulty_bucket(pool.pass_rate)
    pairs = []
    for g, b in chosen:
        shown = tuple(disagreements(probe_set, grouping, runs[g], runs[b], settings.evidence_inputs))
        if shown:
            pairs.append(PairExample(pool.task_id, pool.problem, codes[g], codes[b], source, difficulty,
                                     pool.source, TIE_AFTER_EXAMPLES, shown))
    return pairs


def sample_per_source(pairs: Sequence[PairExample], per_source: int, seed: int) -> list[PairExample]:
    """Up to `per_source` pairs of each source, drawn with `seed` (all of a source when it has fewer)."""
    by_source: dict[str, list[PairExample]] = {}
    for pair in pairs:
        by_source.setdefault(pair.source, []).append(pair)
    rng = random.Random(seed)
    return [pair for source in sorted(by_source)
            for pair in (rng.sample(by_source[source], per_source) if len(by_source[source]) > per_source
                         else by_source[source])]


def survey(pairs: Sequence[PairExample], settings: EvidenceSettings, workers: int = 2,
           store: RunStore | None = None) -> list[dict[str, Any]]:
    """Per source: how many pairs were run, and how many ended in each stage or reason (one row per source)."""
    outcomes: dict[str, Counter[str]] = {}
    for pair, outcome in run_pairs(pairs, settings, workers, store, desc="evidence survey"):
        outcomes.setdefault(pair.source, Counter())[_label(outcome)] += 1
    return [{"source": source, "pairs": sum(tally.values()), **dict(tally)}
            for source, tally in sorted(outcomes.items())]
