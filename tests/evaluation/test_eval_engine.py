"""The in-process path on a real vLLM engine (tiny model + a LoRA adapter): `eval` builds the engine and the
SelectionService itself, exactly as `daj eval` does, on a hand-made 3-problem pool."""

from __future__ import annotations

from pathlib import Path

import pytest
from _eval_fakes import make_pool, read_report
from typer.testing import CliRunner

from daj.pools import write_pools
from evaluation.cli import app


@pytest.mark.engine
def test_in_process_eval_with_the_tiny_model(tiny_model_dir: Path, tiny_lora_dir: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # A fresh cache dir: the evaluation's verdict cache lives on disk, and verdicts left by an earlier run would
    # make this one call the engine less (its token and wall-time columns are checked below).
    monkeypatch.setenv("DAJ_CACHE_DIR", str(tmp_path / "cache"))
    pools = tmp_path / "pools.jsonl"
    write_pools(
        pools,
        [
            make_pool("T/0", [True, False, False, False], name="f"),
            make_pool("T/1", [False, True, True, False], name="g"),
            make_pool("T/2", [True, False, False], name="h"),  # too small for N=4: reported, skipped there
        ],
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "--pools",
            str(pools),
            "--out",
            str(out),
            "--model",
            str(tiny_model_dir),
            "--adapter",
            str(tiny_lora_dir),  # the pairwise judge runs with LoRA (pointwise always on the bare backbone)
            "--n",
            "2,4",
            "--strategy",
            "knockout,round_robin",
            "--seeds",
            "1",
            "--methods",
            "majority,pointwise,pairwise",
            "--n-boot",
            "100",
        ],
    )
    assert result.exit_code == 0, result.output
    report = read_report(out)
    assert report["config"]["adapter"] == str(tiny_lora_dir)
    rows = {(r["method"], r["strategy"], r["n"]): r for r in report["results"]}
    assert set(rows) == {(m, "-", n) for m in ("random", "oracle", "majority", "pointwise") for n in (2, 4)} | {
        ("pairwise", s, n) for s in ("knockout", "round_robin") for n in (2, 4)
    }
    assert report["short_pools"]["items"] == [{"task_id": "T/2", "n": 4, "size": 3}]
    knockout, round_robin = rows[("pairwise", "knockout", 4)], rows[("pairwise", "round_robin", 4)]
    assert knockout["problems"] == 2 and knockout["errors"] == 0
    assert knockout["judge_calls_per_selection"] == 6.0  # 3 matches x 2 orders, distinct candidates
    assert round_robin["judge_calls_per_selection"] == 12.0  # 6 pairs x 2 orders
    assert rows[("pointwise", "-", 4)]["judge_calls_per_selection"] == 4.0
    assert knockout["prompt_tokens_per_selection"] > 0 and knockout["wall_s_per_selection"] > 0
    assert knockout["random_pass1"] == pytest.approx((0.25 + 0.5) / 2)  # N=4 draws are the whole pools
    assert knockout["oracle_pass1"] == 1.0
    for row in (knockout, round_robin):
        assert 0.0 <= row["selected_pass1"] <= 1.0
        assert row["selected_pass1_ci"][0] <= row["selected_pass1"] <= row["selected_pass1_ci"][1]
        assert row["position_consistency"] is not None and 0.0 <= row["pairwise_accuracy"] <= 1.0
        assert row["recovery"] == pytest.approx((row["selected_pass1"] - 0.375) / (1.0 - 0.375))
    assert (out / "report.md").is_file() and (out / "pass_at_1_vs_n.png").is_file()
