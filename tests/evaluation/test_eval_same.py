"""`daj same` on the committed records of the shipped judge: itself agrees; any changed pick, verdict or
probability beyond the tolerance, or a missing selection, is reported and exits 1."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evaluation.cli import app
from evaluation.compare import load_records
from evaluation.records import SelectionRecord
from evaluation.same import agreement

COMMITTED = Path(__file__).resolve().parents[2] / "docs/results/default-judge_humaneval-test"


def _write_run(records: list[SelectionRecord], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "records.jsonl").open("w") as handle:
        for record in records:
            handle.write(json.dumps(record.to_dict()) + "\n")
    return folder


@pytest.fixture(scope="module")
def seed0() -> list[SelectionRecord]:
    records = [r for r in load_records(COMMITTED) if r.method == "pairwise" and r.seed == 0]
    assert len(records) == 123 and all(r.judgments for r in records[:5])
    return records


def test_a_run_agrees_with_itself(seed0: list[SelectionRecord]) -> None:
    result = agreement(seed0, seed0, "pairwise", "knockout", 8, [0])
    assert result.selections == 123 and result.same_picks == 123 and result.max_dp == 0.0
    assert result.judgments == result.same_verdicts > 123 and result.holds(1e-3)


def test_a_probability_moved_beyond_the_tolerance_is_a_change(seed0: list[SelectionRecord]) -> None:
    first = seed0[0]
    judgment = first.judgments[0]
    moved = dataclasses.replace(judgment, probability=(judgment.probability or 0.0) + 2e-3)
    changed = [dataclasses.replace(first, judgments=[moved, *first.judgments[1:]]), *seed0[1:]]
    result = agreement(seed0, changed, "pairwise", "knockout", 8, [0])
    assert result.same_picks == 123 and result.max_dp == pytest.approx(2e-3)
    assert not result.holds(1e-3) and result.holds(3e-3)
    assert len(result.dps) == result.judgments and result.dp_quantile(1.0) == pytest.approx(2e-3)
    assert result.dp_quantile(0.5) == 0.0  # one judgment of over a thousand moved


def test_the_drift_of_changed_verdicts_counts_too(seed0: list[SelectionRecord]) -> None:
    """A verdict that flips (a float32 run against a bf16 one near P = 0.5) is a change, and its |dP| is in the
    drift distribution even though it is not in max_dp, which covers the verdicts that stayed the same."""
    first = seed0[0]
    judgment = first.judgments[0]
    flipped = dataclasses.replace(judgment, verdict="B" if judgment.verdict == "A" else "A",
                                  probability=1.0 - (judgment.probability or 0.0))
    result = agreement(seed0, [dataclasses.replace(first, judgments=[flipped, *first.judgments[1:]]), *seed0[1:]],
                       "pairwise", "knockout", 8, [0])
    assert result.same_verdicts == result.judgments - 1 and result.max_dp == 0.0
    assert result.dp_quantile(1.0) == pytest.approx(abs(1.0 - 2 * (judgment.probability or 0.0)))


def test_a_changed_pick_verdict_or_missing_selection_is_reported(seed0: list[SelectionRecord],
                                                                  tmp_path: Path) -> None:
    first, second = seed0[0], seed0[1]
    flipped = dataclasses.replace(first.judgments[0], verdict="B" if first.judgments[0].verdict == "A" else "A")
    changed = [dataclasses.replace(first, picked=(first.picked or 0) + 1, judgments=[flipped, *first.judgments[1:]]),
               *seed0[2:]]  # the second selection is missing
    reference, new = _write_run(seed0, tmp_path / "ref"), _write_run(changed, tmp_path / "new")
    ran = CliRunner().invoke(app, ["same", str(reference), str(new), "--seeds", "0"])
    assert ran.exit_code == 1, ran.output
    assert "| 122 | 1 | 121 |" in ran.output and f"{first.task_id} seed 0: picked" in ran.output
    assert f"{second.task_id} seed 0: not in the new run" in ran.output and "behaviour changed" in ran.output
    same = CliRunner().invoke(app, ["same", str(reference), str(reference)])
    assert same.exit_code == 0 and "same behaviour" in same.output


def test_an_extra_judge_call_or_a_new_error_is_a_change(seed0: list[SelectionRecord]) -> None:
    first, second = seed0[0], seed0[1]
    extra = dataclasses.replace(first, judgments=[*first.judgments, first.judgments[0]])
    errored = dataclasses.replace(second, error="engine failed")
    result = agreement(seed0, [extra, errored, *seed0[2:]], "pairwise", "knockout", 8, [0])
    assert result.missing == 1 and result.judgments == result.same_verdicts + 1 and not result.holds(1e-3)
    both_errored = [dataclasses.replace(r, error="sandbox down") for r in seed0[:3]]
    assert agreement(both_errored, both_errored, "pairwise", "knockout", 8, [0]).holds(1e-3)
