"""How good the judge is at its real job, pair by pair: the ties the service sends it after the examples.

The pairs are those the service's judge meets on a pool (`judge_training.evidence.pool_pairs_as_served`: a
passing and a failing program of two different top-group clusters, shown with the inputs on which they
disagree). Each pair is judged in both orders, three ways:
- `evidence`: as the service shows it;
- `swapped`: the evidence of the other order (each input's two outputs exchanged, the programs left in place):
  a judge that reads the evidence flips its verdict, one that reads only the code does not;
- `removed`: no evidence at all (the code-only prompt the judge gets with execution off).
Reported per variant: accuracy over the ordered prompts, position consistency (both orders pick the same
program), accuracy when both orders are right, and the expected calibration error (ECE) of P(correct), since the
combine rule trusts the judge's probability; for `swapped`, how many verdicts flipped.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from daj.protocol import JudgeMode, verdict_from_logprobs
from judge_training.data import PairExample, pair_prompt_ids

VARIANTS = ("evidence", "swapped", "removed")
ECE_BINS = 10


@dataclass(frozen=True)
class JudgedPair:
    """P(A) of one pair's two orders (passing program first, then second) under each variant."""

    pair: PairExample
    p_a: dict[str, tuple[float, float]]


def variant_of(pair: PairExample, variant: str) -> PairExample:
    if variant == "evidence":
        return pair
    if variant == "swapped":
        return replace(pair, evidence=tuple(item.swapped() for item in pair.evidence))
    if variant == "removed":
        return replace(pair, evidence=())
    raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")


async def judge_pairs(engine: Any, adapter: Any, version: str, pairs: Sequence[PairExample],
                      concurrency: int = 8) -> list[JudgedPair]:
    """Every pair, both orders, every variant, through the engine's verdict scoring (the service's call)."""
    choice_ids = list(engine.choice_token_ids())
    gate = asyncio.Semaphore(concurrency)

    async def p_a(pair: PairExample, passing_first: bool, tag: str) -> float:
        ids = pair_prompt_ids(engine.tokenizer, pair, passing_first, JudgeMode.VERDICT, version)
        async with gate:
            logprobs = await engine.first_token_logprobs(tag, ids, choice_ids, adapter)
        verdict = verdict_from_logprobs(logprobs.get(choice_ids[0]), logprobs.get(choice_ids[1]))
        return 0.5 if verdict.p_a is None else verdict.p_a

    async def one(index: int, pair: PairExample) -> JudgedPair:
        scores: dict[str, tuple[float, float]] = {}
        for variant in VARIANTS:
            shown = variant_of(pair, variant)
            first, second = await asyncio.gather(p_a(shown, True, f"pairs-{index}-{variant}-1"),
                                                 p_a(shown, False, f"pairs-{index}-{variant}-2"))
            scores[variant] = (first, second)
        return JudgedPair(pair, scores)

    tasks = [asyncio.ensure_future(one(i, pair)) for i, pair in enumerate(pairs)]
    for future in tqdm(asyncio.as_completed(tasks), total=len(tasks), desc="judged pairs"):
        await future
    return [task.result() for task in tasks]


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], bins: int = ECE_BINS) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by how many answers fall in each."""
    total = len(confidences)
    if not total:
        return 0.0
    error = 0.0
    for low in range(bins):
        members = [i for i, c in enumerate(confidences)
                   if low / bins <= c < (low + 1) / bins or (low == bins - 1 and c == 1.0)]
        if members:
            accuracy = sum(correct[i] for i in members) / len(members)
            confidence = sum(confidences[i] for i in members) / len(members)
            error += len(members) / total * abs(accuracy - confidence)
    return error


def summarise(judged: Sequence[JudgedPair]) -> dict[str, Any]:
    """Per variant: accuracy, consistency, both-right, ECE of P(correct); flips of `swapped` against `evidence`."""
    out: dict[str, Any] = {"pairs": len(judged), "problems": len({j.pair.task_id for j in judged})}
    for variant in VARIANTS:
        # P(A) per order; A is the passing program in the first order only
        p_correct = [(first, 1.0 - second) for first, second in (item.p_a[variant] for item in judged)]
        right = [p > 0.5 for pair in p_correct for p in pair]  # the answer given is right iff P(correct) > .5
        confidences = [max(p, 1.0 - p) for pair in p_correct for p in pair]
        consistent = [(a > 0.5) == (b >= 0.5) for a, b in p_correct]  # the same program wins in both orders
        both = [a > 0.5 and b > 0.5 for a, b in p_correct]
        n, pairs = max(1, len(right)), max(1, len(p_correct))
        out[variant] = {
            "accuracy": sum(right) / n,
            "position_consistency": sum(consistent) / pairs,
            "both_orders_right": sum(both) / pairs,
            "ece": expected_calibration_error(confidences, right),
            "mean_p_correct": sum(p for pair in p_correct for p in pair) / n,
        }
    flips = [(plain > 0.5) != (swapped > 0.5) for item in judged
             for plain, swapped in zip(item.p_a["evidence"], item.p_a["swapped"], strict=True)]
    out["swapped"]["flipped"] = sum(flips) / max(1, len(flips))
    return out


def write(judged: Sequence[JudgedPair], summary: dict[str, Any], out: Path, header: dict[str, Any]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    records = out / "pairs.jsonl"
    with records.open("w", encoding="utf-8") as handle:
        for item in judged:
            handle.write(json.dumps({"task_id": item.pair.task_id, "source": item.pair.source,
                                     "evidence_items": len(item.pair.evidence), "p_a": item.p_a}) + "\n")
    report = out / "pairs_report.json"
    report.write_text(json.dumps({**header, **summary}, indent=1) + "\n")
    table = out / "pairs_report.md"
    lines = [f"# Judge on the pairs it meets after the examples: {header.get('pools')}", "",
             f"Adapter `{header.get('adapter')}`, prompt `{header.get('prompt_version')}`; "
             f"{summary['pairs']} pairs from {summary['problems']} problems, both orders each.", "",
             "| variant | accuracy | position consistency | both orders right | ECE | flipped |",
             "|---|---|---|---|---|---|"]
    for variant in VARIANTS:
        row = summary[variant]
        flipped = f"{row['flipped']:.3f}" if "flipped" in row else "-"
        lines.append(f"| {variant} | {row['accuracy']:.3f} | {row['position_consistency']:.3f} | "
                     f"{row['both_orders_right']:.3f} | {row['ece']:.3f} | {flipped} |")
    table.write_text("\n".join(lines) + "\n")
    return [records, report, table]
