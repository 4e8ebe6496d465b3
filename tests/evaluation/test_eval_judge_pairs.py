"""`evaluation pairs`: the judge on the ties it meets after the examples, with the evidence as shown, swapped and
removed. The summary is pure arithmetic (checked on hand-made probabilities); the command runs the real sandbox
and the real vLLM engine (tiny model + LoRA)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from daj.pools import Pool, write_pools
from daj.protocol import Disagreement
from daj.testing.programs import NO_SHORT, RIGHT, RIGHT_TOO, SETS, TOP_TWO_PROBLEM
from evaluation.cli import app
from evaluation.judge_pairs import JudgedPair, expected_calibration_error, summarise, variant_of
from judge_training.data import TIE_AFTER_EXAMPLES, PairExample

EVIDENCE = (Disagreement("f(1)", "1", "raise IndexError"),)


def judged(evidence: tuple[float, float], swapped: tuple[float, float], removed: tuple[float, float]) -> JudgedPair:
    pair = PairExample("T/1", "p", "good", "bad", "s", "easy", "x", TIE_AFTER_EXAMPLES, EVIDENCE)
    return JudgedPair(pair, {"evidence": evidence, "swapped": swapped, "removed": removed})


def test_variants_swap_or_drop_the_evidence_and_keep_the_programs() -> None:
    pair = judged((0.5, 0.5), (0.5, 0.5), (0.5, 0.5)).pair
    swapped = variant_of(pair, "swapped")
    assert (swapped.chosen, swapped.rejected) == (pair.chosen, pair.rejected)
    assert swapped.evidence[0].output_a == "raise IndexError" and swapped.evidence[0].output_b == "1"
    assert variant_of(pair, "removed").evidence == () and variant_of(pair, "evidence") == pair
    with pytest.raises(ValueError, match="variant"):
        variant_of(pair, "shuffled")


def test_the_three_variants_are_three_prompts(tiny_tokenizer) -> None:  # type: ignore[no-untyped-def]
    from evaluation.judge_pairs import VARIANTS
    from judge_training.data import pair_prompt_ids

    def prompt_ids(tokenizer, pair, passing_first, version):  # type: ignore[no-untyped-def]
        return pair_prompt_ids(tokenizer, pair, passing_first, version=version)

    pair = judged((0.5, 0.5), (0.5, 0.5), (0.5, 0.5)).pair
    for passing_first in (True, False):
        prompts = [prompt_ids(tiny_tokenizer, variant_of(pair, v), passing_first, "daj-pairwise-v2") for v in VARIANTS]
        assert len({tuple(ids) for ids in prompts}) == 3
    code_only = [prompt_ids(tiny_tokenizer, variant_of(pair, v), True, "daj-pairwise-v1") for v in VARIANTS]
    assert len({tuple(ids) for ids in code_only}) == 1  # a v1 judge is shown none of it


def test_summary_counts_accuracy_consistency_flips_and_calibration() -> None:
    # pair 1: right in both orders (P(A) 0.9 with the passing program first, 0.2 when it is second);
    # pair 2: always answers A (right in the first order, wrong in the second: inconsistent).
    items = [judged((0.9, 0.2), (0.1, 0.8), (0.6, 0.6)), judged((0.7, 0.7), (0.7, 0.7), (0.5, 0.5))]
    summary = summarise(items)
    row = summary["evidence"]
    assert row["accuracy"] == pytest.approx(3 / 4)
    assert row["position_consistency"] == pytest.approx(1 / 2) and row["both_orders_right"] == pytest.approx(1 / 2)
    assert summary["swapped"]["flipped"] == pytest.approx(2 / 4)  # pair 1 flipped both orders, pair 2 neither
    assert summary["removed"]["accuracy"] == pytest.approx(1 / 4)  # 0.6 > 0.5 right once; 0.5 is never right
    assert (summary["pairs"], summary["problems"]) == (2, 1)


def test_expected_calibration_error() -> None:
    assert expected_calibration_error([0.9, 0.9], [True, True]) == pytest.approx(0.1)
    assert expected_calibration_error([0.6, 0.6, 0.6, 0.6, 0.6], [True, True, True, False, False]) == pytest.approx(0)
    assert expected_calibration_error([1.0], [False]) == pytest.approx(1.0)
    assert expected_calibration_error([], []) == 0.0


@pytest.mark.engine
def test_pairs_command_on_the_real_engine(tiny_model_dir: Path, tiny_lora_dir: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAJ_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DAJ_PROMPT_VERSION", "daj-pairwise-v2")  # the tiny LoRA names no prompt: the setting's
    pools = tmp_path / "pools.jsonl"
    # RIGHT and RIGHT_TOO are one passing cluster; NO_SHORT and SETS two failing ones that pass the examples
    write_pools(pools, [Pool("T/1", TOP_TWO_PROBLEM, [RIGHT, NO_SHORT, RIGHT_TOO, SETS], [True, False, True, False],
                             "hand-made")])
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["pairs", "--pools", str(pools), "--out", str(out), "--model",
                                      str(tiny_model_dir), "--adapter", str(tiny_lora_dir)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "pairs_report.json").read_text())
    assert (report["pairs"], report["problems"]) == (4, 1)  # {RIGHT, RIGHT_TOO} x {NO_SHORT, SETS}
    assert report["adapter"] == tiny_lora_dir.name and report["prompt_version"] == "daj-pairwise-v2"
    records = [json.loads(line) for line in (out / "pairs.jsonl").read_text().splitlines()]
    assert all(r["evidence_items"] >= 1 for r in records)
    # The variants are different prompts (checked token for token in the test above); they reach the engine: the
    # tiny random model answers differently without the evidence, and differently for some swap (not every one:
    # its answer can be blind to which output sits on which line).
    assert all(r["p_a"]["removed"] != r["p_a"]["evidence"] for r in records)
    assert any(r["p_a"]["swapped"] != r["p_a"]["evidence"] for r in records)
    for variant in ("evidence", "swapped", "removed"):
        assert 0.0 <= report[variant]["accuracy"] <= 1.0 and 0.0 <= report[variant]["ece"] <= 1.0
    assert "| swapped |" in (out / "pairs_report.md").read_text()
