"""The pair model and its encoding for the verdict-mode judge.

A pair is (problem, passing program, failing program). Each pair is shown in both orders, so a judge that
only learned "always A" gets exactly half of them wrong; both orders of one pair always travel in the same
batch. Each pair carries domain tags (source data set, difficulty bucket from the problem's pass rate,
policy model) that the bi-level reweighting learns weights over.

Where pairs come from is ``judge_training/sources/``: one module per training source behind one registry,
and the meta set (HumanEval ``meta`` pools, never the ``test`` split).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from daj.protocol import PROMPT_V1, Disagreement, JudgeMode, encode_prompt, render_prompt

DOMAIN_KEYS = ("source", "difficulty", "policy", "source+difficulty", "stage", "source+stage")
# Pipeline stages a pair stands for: which part of the service would have decided it (judge_training/evidence.py).
EXAMPLES_DIFFER = "examples-differ"
TIE_AFTER_EXAMPLES = "tie-after-examples"
NO_EVIDENCE = "no-evidence"
STAGES = (EXAMPLES_DIFFER, TIE_AFTER_EXAMPLES, NO_EVIDENCE)
# The judge prompt of code-only pairs (`data.prompt_version` in the config picks the version a run renders and
# writes into the adapter's metadata: the service judges an adapter with the prompt it names).
TRAINED_PROMPT_VERSION = PROMPT_V1


@dataclass(frozen=True)
class PairExample:
    """One unordered pair: ``chosen`` passes the hidden tests, ``rejected`` does not."""

    task_id: str
    problem: str
    chosen: str
    rejected: str
    source: str
    difficulty: str
    policy: str
    stage: str = NO_EVIDENCE  # the pipeline stage the pair stands for (judge_training/evidence.py)
    evidence: tuple[Disagreement, ...] = ()  # what execution showed, the passing program as A

    def domain(self, key: str) -> str:
        if key in ("source+difficulty", "source+stage"):
            return f"{self.source}:{getattr(self, key.split('+')[1])}"
        if key in ("source", "difficulty", "policy", "stage"):
            return str(getattr(self, key))
        raise ValueError(f"domain key must be one of {DOMAIN_KEYS}, got {key!r}")

    def shown(self, passing_first: bool) -> tuple[Disagreement, ...]:
        """The evidence as the prompt in that order shows it (A and B swap with the programs)."""
        return self.evidence if passing_first else tuple(item.swapped() for item in self.evidence)


@dataclass(frozen=True)
class EncodedPair:
    """Both orders of one pair, tokenised: ``ids[0]`` shows the passing program as A (label 0 = "A"),
    ``ids[1]`` shows it as B (label 1 = "B")."""

    pair: PairExample
    ids: tuple[list[int], list[int]]
    domain: int

    @property
    def labels(self) -> tuple[int, int]:
        return (0, 1)


def difficulty_bucket(pass_rate: float | None) -> str:
    """Coarse buckets so each domain keeps enough pairs to learn a weight for."""
    if pass_rate is None:
        return "unknown"
    if pass_rate <= 1 / 3 + 1e-9:
        return "hard"
    if pass_rate <= 2 / 3 + 1e-9:
        return "medium"
    return "easy"


def split_meta(pairs: Sequence[PairExample], eval_fraction: float) -> tuple[list[PairExample], list[PairExample]]:
    """By problem (never one problem on both sides): a stable hash of the task id picks the side."""
    from daj.pools import meta_half

    train: list[PairExample] = []
    held: list[PairExample] = []
    for pair in pairs:
        (held if meta_half(pair.task_id, eval_fraction) == "tuning" else train).append(pair)
    return train, held


# ---------------------------------------------------------------- encoding


def pair_prompt_ids(
    tokenizer: Any,
    pair: PairExample,
    passing_first: bool,
    mode: JudgeMode = JudgeMode.VERDICT,
    version: str = TRAINED_PROMPT_VERSION,
) -> list[int]:
    """Token ids of the pair's prompt in one order (the passing program as A, or as B), through daj.protocol,
    with the pair's evidence as that order shows it (a version without evidence ignores it)."""
    code_a, code_b = (pair.chosen, pair.rejected) if passing_first else (pair.rejected, pair.chosen)
    return encode_prompt(tokenizer, render_prompt(tokenizer, pair.problem, code_a, code_b, mode,
                                                  pair.shown(passing_first), version=version))


def encode_pairs(
    tokenizer: Any, pairs: Sequence[PairExample], domains: Sequence[str], domain_key: str, max_tokens: int,
    version: str = TRAINED_PROMPT_VERSION,
) -> tuple[list[EncodedPair], int]:
    """Render both orders through daj.protocol (`version`) and tokenise; drop pairs whose longer order exceeds
    ``max_tokens``. Returns the kept pairs and the number dropped."""
    index = {name: i for i, name in enumerate(domains)}
    kept: list[EncodedPair] = []
    for pair in pairs:
        first = pair_prompt_ids(tokenizer, pair, passing_first=True, version=version)
        second = pair_prompt_ids(tokenizer, pair, passing_first=False, version=version)
        if max(len(first), len(second)) <= max_tokens:
            kept.append(EncodedPair(pair, (first, second), index[pair.domain(domain_key)]))
    return kept, len(pairs) - len(kept)


def cap_per_domain(pairs: Sequence[PairExample], domain_key: str, cap: int, seed: int) -> list[PairExample]:
    """At most ``cap`` pairs per domain, chosen at random (keeps the run within its budget)."""
    rng = random.Random(seed)
    by_domain: dict[str, list[PairExample]] = defaultdict(list)
    for pair in pairs:
        by_domain[pair.domain(domain_key)].append(pair)
    out: list[PairExample] = []
    for name in sorted(by_domain):
        group = by_domain[name]
        rng.shuffle(group)
        out.extend(group[:cap])
    rng.shuffle(out)
    return out


def pairs_digest(pairs: Sequence[PairExample] | Sequence[EncodedPair]) -> str:
    """sha256 of the pairs' content, written into the adapter metadata so a run's data is identifiable."""
    digest = hashlib.sha256()
    for item in pairs:
        pair = item.pair if isinstance(item, EncodedPair) else item
        digest.update(json.dumps(asdict(pair), sort_keys=True).encode())
    return digest.hexdigest()


def batches(
    items: Sequence[EncodedPair], pairs_per_batch: int, seed: int, start_step: int = 0
) -> Iterator[list[EncodedPair]]:
    """Endless shuffled batches (epoch after epoch, reshuffled with a per-epoch seed). Deterministic in
    (seed, step) so a resumed run sees the same batches as an uninterrupted one."""
    if not items:
        raise ValueError("no training pairs to batch")
    per_epoch = max(1, len(items) // pairs_per_batch)
    step = start_step
    while True:
        epoch, offset = divmod(step, per_epoch)
        order = list(range(len(items)))
        random.Random(seed * 100003 + epoch).shuffle(order)
        chosen = order[offset * pairs_per_batch : (offset + 1) * pairs_per_batch]
        yield [items[i] for i in chosen]
        step += 1
