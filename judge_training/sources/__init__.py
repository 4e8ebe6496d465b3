"""Where the judge's training pairs come from: one module per source, all behind one registry.

Never the HumanEval ``test`` split. Each source module defines ``SOURCE = Source(name, draw, files)``
(``base.py``): ``draw(ctx)`` returns the source's pairs and what it reports about them, ``files(data_dir)`` the
data files it reads. Shared pieces live in the underscored modules: ``_mbpp`` (LDB programs, their labels and
pass rates, MBPP+ problems), ``_mutation`` (single-site AST mutants), ``_confirm`` (the sandbox confirms a
broken copy fails). ``meta`` loads the meta set, which is not a training source.

To add a source: write its module here and add its ``SOURCE`` to ``_BUILD_ORDER`` below; the config accepts
its name from then on (``SOURCE_NAMES``).

This package must not import ``judge_training.config``: the config takes its allowed names from here.
"""

from __future__ import annotations

from collections.abc import Sequence

from judge_training.sources import (
    bigcodebench_mutant,
    ldb_mbpp,
    ldb_mbpp_mutant,
    mbppplus_mutant,
    mbppplus_truncation,
    synthetic,
)
from judge_training.sources.base import Drawn, Source, SourceContext

# Pairs are drawn in this order whatever order a config lists its sources in, so a run's pair list (and its
# digest, and every seeded draw over it downstream) depends on which sources it uses, not on how it lists them.
_BUILD_ORDER = (
    ldb_mbpp.SOURCE,
    mbppplus_mutant.SOURCE,
    ldb_mbpp_mutant.SOURCE,
    bigcodebench_mutant.SOURCE,
    mbppplus_truncation.SOURCE,
    synthetic.SOURCE,
)
SOURCES: dict[str, Source] = {source.name: source for source in _BUILD_ORDER}
SOURCE_NAMES: tuple[str, ...] = tuple(sorted(SOURCES))  # what a config may list in `data.sources`


class UnknownSourceError(ValueError):
    """A source name the registry does not hold; the message lists the ones it does."""


def get_source(name: str) -> Source:
    if name not in SOURCES:
        raise UnknownSourceError(f"unknown data source {name!r}; allowed sources: {', '.join(SOURCE_NAMES)}")
    return SOURCES[name]


def chosen_sources(names: Sequence[str]) -> list[Source]:
    """The named sources, in build order (each once); an unknown name raises `UnknownSourceError`."""
    wanted = {get_source(name).name for name in names}
    return [source for source in _BUILD_ORDER if source.name in wanted]


__all__ = [
    "SOURCES",
    "SOURCE_NAMES",
    "Drawn",
    "Source",
    "SourceContext",
    "UnknownSourceError",
    "chosen_sources",
    "get_source",
]
