"""Evidence pairs: a passing and a failing program of one problem, run on the probe set the service would build
for it, and shown to the judge as the service shows it (prompt v2: the inputs on which the two disagree, with
both outputs).

Everything that decides what the judge sees is the service's own code: `daj.probes.build_probe_set` (examples,
generated inputs), `sandbox.run_on_probes` (the same `probes`-mode spec, normalised outputs),
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
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from daj.probes import ProbeLimits, build_probe_set, disagreements, group_candidates, infer_entry_point
from daj.protocol import PROMPT_V2, Disagreement, JudgeMode
from judge_training.data import PairExample, pair_prompt_ids
from sandbox import Limits, run_on_probes

logger = logging.getLogger(__name__)

EXAMPLES_DIFFER = "examples-differ"
TIE_AFTER_EXAMPLES = "tie-after-examples"
NO_EVIDENCE = "no-evidence"
STAGES = (EXAMPLES_DIFFER, TIE_AFTER_EXAMPLES, NO_EVIDENCE)
EVIDENCE_PROMPT_VERSION = PROMPT_V2


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


@dataclass(frozen=True)
class EvidencePair:
    """A pair and what execution showed: `evidence` with the passing program as A (swap it for the other
    order)."""

    pair: PairExample
    stage: str
    entry_point: str
    evidence: tuple[Disagreement, ...]

    def shown(self, passing_first: bool) -> tuple[Disagreement, ...]:
        return self.evidence if passing_first else tuple(item.swapped() for item in self.evidence)


def evidence_pair(pair: PairExample, settings: EvidenceSettings, python: str | None = None) -> EvidencePair | str:
    """The pair with its evidence, or why it has none (a short reason, for the tally)."""
    codes = [pair.chosen, pair.rejected]
    entry = infer_entry_point(pair.problem, codes)
    if entry.name is None:
        return "no entry point"
    probe_set = build_probe_set(pair.problem, codes, entry, limits=settings.probe_limits())
    if probe_set is None or not probe_set.probes:
        return "nothing to run"
    runs = [run_on_probes(code, probe_set, settings.limits, settings.case_seconds, settings.output_chars, python)
            for code in codes]
    grouping = group_candidates(runs, probe_set)
    shown = tuple(disagreements(probe_set, grouping, runs[0], runs[1], settings.evidence_inputs))
    if not shown:
        return "same behaviour on every probe"
    passed = grouping.checks_passed
    stage = EXAMPLES_DIFFER if passed[0] != passed[1] else TIE_AFTER_EXAMPLES
    return EvidencePair(pair, stage, entry.name, shown)


def run_pairs(pairs: Sequence[PairExample], settings: EvidenceSettings, workers: int = 2, python: str | None = None,
              desc: str = "evidence pairs") -> Iterator[tuple[PairExample, EvidencePair | str]]:
    """Each pair with its outcome (evidence, or why none), in input order; `workers` pairs run at once."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="evidence") as pool:
        results = pool.map(lambda pair: evidence_pair(pair, settings, python), pairs)
        yield from tqdm(zip(pairs, results, strict=True), total=len(pairs), desc=desc)


def evidence_pairs(pairs: Sequence[PairExample], settings: EvidenceSettings, workers: int = 2,
                   python: str | None = None) -> tuple[list[EvidencePair], Counter[str]]:
    """Every pair that has evidence (in input order) and a tally of all outcomes (stages and reasons)."""
    tally: Counter[str] = Counter()
    kept: list[EvidencePair] = []
    for _, outcome in run_pairs(pairs, settings, workers, python):
        if isinstance(outcome, EvidencePair):
            kept.append(outcome)
        tally[_label(outcome)] += 1
    logger.info("evidence pairs: %s", dict(tally))
    return kept, tally


def _label(outcome: EvidencePair | str) -> str:
    return outcome.stage if isinstance(outcome, EvidencePair) else outcome


def evidence_prompt_ids(tokenizer: Any, item: EvidencePair, passing_first: bool,
                        mode: JudgeMode = JudgeMode.VERDICT) -> list[int]:
    """Token ids of the pair's prompt in one order, with its evidence, as the service renders it (v2)."""
    return pair_prompt_ids(tokenizer, item.pair, passing_first, mode, item.shown(passing_first),
                           EVIDENCE_PROMPT_VERSION)


def sample_per_source(pairs: Sequence[PairExample], per_source: int, seed: int) -> list[PairExample]:
    """Up to `per_source` pairs of each source, drawn with `seed` (all of a source when it has fewer)."""
    by_source: dict[str, list[PairExample]] = {}
    for pair in pairs:
        by_source.setdefault(pair.source, []).append(pair)
    rng = random.Random(seed)
    return [pair for source in sorted(by_source)
            for pair in (rng.sample(by_source[source], per_source) if len(by_source[source]) > per_source
                         else by_source[source])]


def survey(pairs: Sequence[PairExample], settings: EvidenceSettings, workers: int = 2) -> list[dict[str, Any]]:
    """Per source: how many pairs were run, and how many ended in each stage or reason (one row per source)."""
    outcomes: dict[str, Counter[str]] = {}
    for pair, outcome in run_pairs(pairs, settings, workers, desc="evidence survey"):
        outcomes.setdefault(pair.source, Counter())[_label(outcome)] += 1
    return [{"source": source, "pairs": sum(tally.values()), **dict(tally)}
            for source, tally in sorted(outcomes.items())]
