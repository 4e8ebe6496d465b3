"""``mbppplus_truncation``: the MBPP+ canonical solution against prefixes of it (cut at a line or mid-line) and
against run-ons (the solution followed by a cut-off example ``assert``) that the sandbox confirms fail: the
failure modes of sampled programs that stop early or keep writing into a token limit, common among the
CodeGen-16B failures on HumanEval. Prefixes are shorter than the passing program and run-ons longer, so
length does not give the answer away (on the meta split the passing program is the shorter one in 59% of
pairs; a judge that learned "longer wins" from prefixes alone did worse than chance there)."""

from __future__ import annotations

import random
from pathlib import Path

from judge_training.data import PairExample
from judge_training.sources._confirm import Plan, confirmed_failures
from judge_training.sources._mbpp import mbpp_files, mbpp_plus_problems
from judge_training.sources.base import Drawn, Source, SourceContext

NAME = "mbppplus_truncation"


def truncations(source: str, rng: random.Random, limit: int) -> list[tuple[str, str]]:
    """Up to ``limit`` distinct (kind, program) prefixes of ``source`` that stop before its end.

    They imitate how sampled programs really fail when a decoder stops early: ``cut_lines`` keeps whole
    lines (a block left without its body, or a function that falls off its end and returns None),
    ``cut_mid`` stops mid-line as a token limit does. The text is kept as written (no re-printing), so
    the passing program and its truncation differ only in the missing tail.
    """
    lines = source.rstrip().splitlines()
    body_starts = next((i + 1 for i, line in enumerate(lines) if line.lstrip().startswith("def ")), 1)
    sites = [("cut_lines", i) for i in range(body_starts, len(lines))]
    sites += [("cut_mid", i) for i in range(body_starts, len(lines)) if len(lines[i].strip()) > 1]
    rng.shuffle(sites)
    seen = {source.rstrip()}
    out: list[tuple[str, str]] = []
    for kind, cut in sites:
        text = _cut(lines, kind, cut, rng).rstrip() + "\n"
        if text.strip() and text.rstrip() not in seen:
            seen.add(text.rstrip())
            out.append((kind, text))
        if len(out) >= limit:
            break
    return out


def _cut(lines: list[str], kind: str, cut: int, rng: random.Random) -> str:
    """The lines before ``cut``; for ``cut_mid`` also part of line ``cut`` (at least one character past its
    indentation, never all of it)."""
    if kind == "cut_lines":
        return "\n".join(lines[:cut])
    partial = lines[cut]
    indent = len(partial) - len(partial.lstrip())
    return "\n".join([*lines[:cut], partial[: rng.randint(indent + 1, len(partial) - 1)]])


def run_ons(source: str, continuation: str, rng: random.Random, limit: int) -> list[tuple[str, str]]:
    """Up to ``limit`` programs that are ``source`` followed by a cut-off prefix of ``continuation`` (e.g. the
    problem's own example ``assert``): a sampler that finished the function, kept writing, and hit its token
    limit mid-statement. Here the failing program is the *longer* one, which balances ``truncations``, where
    it is the shorter, so program length alone never tells the two apart."""
    body = continuation.strip()
    if len(body) < 4:
        return []
    stops = list(range(3, len(body) - 1))
    rng.shuffle(stops)
    base = source.rstrip()
    return [("run_on", f"{base}\n\n{body[:stop].rstrip()}\n") for stop in sorted(stops[:limit])]


def _example_assert(prompt: str) -> str:
    return next((line.strip() for line in prompt.splitlines() if line.strip().startswith("assert ")), "")


def truncation_pairs(
    data_dir: Path, rates: dict[int, float], per_problem: int, seed: int, workers: int = 2
) -> tuple[list[PairExample], dict[str, int]]:
    """Canonical MBPP+ solution vs its truncations that the sandbox confirms FAIL (and whose canonical passes)."""
    from sandbox import evalplus_io

    rng = random.Random(seed + 1)  # its own stream: the MBPP+ mutants draw from `seed`
    plans: list[Plan] = []
    for problem in mbpp_plus_problems(data_dir):
        canonical = problem["canonical_solution"].rstrip() + "\n"
        cuts = truncations(canonical, rng, per_problem) + run_ons(
            canonical, _example_assert(problem["prompt"]), rng, per_problem
        )
        plans.append((problem, canonical, cuts, evalplus_io(problem, base_only=True)))
    return confirmed_failures(plans, rates, workers, NAME, "truncation")


def _draw(ctx: SourceContext) -> Drawn:
    pairs, stats = truncation_pairs(ctx.data_dir, ctx.ldb.rates, ctx.truncations_per_problem, ctx.seed, ctx.workers)
    return Drawn(pairs, {"truncation_stats": stats})


SOURCE = Source(NAME, _draw, mbpp_files)
