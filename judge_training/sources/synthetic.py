"""``synthetic``: a toy task for tests, which a tiny random model learns in a few dozen steps; it brings its
own meta set, and stands alone (the config refuses mixing it with real sources)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from judge_training.data import PairExample
from judge_training.sources.base import Drawn, Source, SourceContext

NAME = "synthetic"
_TASKS = (
    ("add", "Return the sum of a and b.", "a + b", "a - b"),
    ("mul", "Return the product of a and b.", "a * b", "a + b"),
    ("big", "Return the larger of a and b.", "max(a, b)", "min(a, b)"),
    ("neg", "Return a minus b.", "a - b", "b - a"),
)


def synthetic_pairs(domains: Sequence[str], flipped: Sequence[str], per_domain: int, seed: int) -> list[PairExample]:
    """The right program is a fixed token pattern per problem. A domain in ``flipped`` has its labels swapped:
    the controlled shift the reweighting must learn to down-weight."""
    rng = random.Random(seed)
    pairs = []
    for domain in domains:
        for index in range(per_domain):
            name, doc, good, bad = rng.choice(_TASKS)
            problem = f'def {name}(a, b):\n    """{doc}"""\n'
            right, wrong = (f"def {name}(a, b):\n    return {expr}\n" for expr in (good, bad))
            if domain in flipped:
                right, wrong = wrong, right
            pairs.append(
                PairExample(f"synthetic/{domain}/{index}", problem, right, wrong, domain, "unknown", "synthetic")
            )
    return pairs


def _draw(ctx: SourceContext) -> Drawn:
    pairs = synthetic_pairs(ctx.synthetic_domains, ctx.synthetic_flipped, ctx.synthetic_pairs_per_domain, ctx.seed)
    return Drawn(pairs, {"synthetic_flipped": list(ctx.synthetic_flipped)})


def _meta(ctx: SourceContext) -> list[PairExample]:
    """One clean domain, on a seed of its own, so the meta pairs are not the training pairs."""
    return synthetic_pairs(["meta"], [], ctx.synthetic_pairs_per_domain, ctx.seed + 7)


SOURCE = Source(NAME, _draw, meta=_meta)
