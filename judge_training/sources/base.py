"""What every training-data source implements (`Source`), and the one context all of them draw from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from judge_training.data import PairExample
from judge_training.sources._mbpp import LdbSeeds, load_seeds


@dataclass(frozen=True)
class SourceContext:
    """Everything a source may read: where the data lives, the config's per-source knobs, the seed. Built once
    per data build (judge_training/builder.py) and shared by its sources. Each source seeds its own
    ``random.Random`` from ``seed``, so adding or dropping a source never changes another source's pairs."""

    data_dir: Path
    pools_dir: Path  # sandbox re-run pools (`ldb_mbpp_<model>.jsonl.gz`) that relabel the LDB programs
    seed: int = 0
    mutants_per_problem: int = 2
    truncations_per_problem: int = 2
    visible_tests: bool = False  # LDB statements carry their visible test (evidence builds need something to run)
    synthetic_domains: tuple[str, ...] = ()
    synthetic_flipped: tuple[str, ...] = ()
    synthetic_pairs_per_domain: int = 32
    workers: int = 2  # sandbox processes that confirm mutants and truncations fail

    @cached_property
    def ldb(self) -> LdbSeeds:
        """The LDB MBPP programs and pass rates: read once, however many MBPP sources of the build ask."""
        return load_seeds(self.data_dir, self.pools_dir, self.visible_tests)


@dataclass(frozen=True)
class Drawn:
    """A source's pairs, and what it reports about drawing them (adapter metadata, under these keys)."""

    pairs: list[PairExample]
    info: dict[str, Any] = field(default_factory=dict)


def no_files(data_dir: Path) -> list[Path]:
    return []


@dataclass(frozen=True)
class Source:
    """One training-data source: its config name, how it draws its pairs, which data files it reads (their
    sha256 goes into the adapter metadata, so a run's inputs are identifiable).

    ``meta`` is for a toy source that brings its own meta set (`synthetic`: a tiny test model cannot learn
    HumanEval). Such a source stands alone (the config refuses mixing it with others), and its pairs stay
    code-only even in an evidence build."""

    name: str
    draw: Callable[[SourceContext], Drawn]
    files: Callable[[Path], list[Path]] = no_files
    meta: Callable[[SourceContext], list[PairExample]] | None = None
