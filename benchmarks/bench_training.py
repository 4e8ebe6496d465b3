"""Training cost: seconds per step and peak memory, plain (uniform weights) vs bi-level reweighting.

Two ways to get the table:

    # summarise finished runs from their train.jsonl (what the committed judge actually cost)
    .venv/bin/python benchmarks/bench_training.py --from-runs runs/uniform runs/reweighted

    # or measure now: a few steps of each mode on the default config (plain, first-order, second-order)
    .venv/bin/python benchmarks/bench_training.py --steps 6

In a bi-level run only every ``reweight.outer_every``-th step carries the outer (hypergradient) step, so the
table splits those steps from the plain ones and gives the amortised mean as well.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

MODES = {
    "plain (uniform)": ["reweight.mode=uniform"],
    "bi-level, first order": ["reweight.mode=bilevel", "reweight.hypergrad=first_order", "reweight.outer_every=1"],
    "bi-level, second order": ["reweight.mode=bilevel", "reweight.hypergrad=second_order", "reweight.outer_every=1"],
}


def summarise(run_dir: Path) -> dict[str, float | int | str]:
    """Median seconds of plain and outer steps, the amortised mean, and peak RSS, from one run's log."""
    steps = [json.loads(line) for line in (run_dir / "train.jsonl").read_text().splitlines() if line.strip()]
    if len(steps) > 3:
        steps = steps[1:]  # the first step pays for lazy initialisation (allocator, kernels)
    plain = [s["seconds"] for s in steps if s["meta_loss"] is None]
    outer = [s["seconds"] for s in steps if s["meta_loss"] is not None]
    return {
        "run": str(run_dir),
        "steps": len(steps),
        "plain_s": statistics.median(plain) if plain else float("nan"),
        "outer_s": statistics.median(outer) if outer else float("nan"),
        "mean_s": statistics.fmean(s["seconds"] for s in steps),
        "peak_rss_gib": max(s["peak_rss_mib"] for s in steps) / 1024,
    }


def measure(config: Path, steps: int) -> list[dict[str, float | int | str]]:
    rows = []
    for name, overrides in MODES.items():
        with tempfile.TemporaryDirectory() as tmp:
            sets = [*overrides, f"train.steps={steps + 1}", f"output.dir={tmp}/run", "output.export_dir=''",
                    "output.eval_before=false", "output.eval_after=false", "output.plot=false",
                    "reweight.outer_start=0"]  # fmt: skip
            command = [sys.executable, "-m", "judge_training", "train", "--config", str(config)]
            for item in sets:
                command += ["--set", item]
            subprocess.run(command, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
            rows.append({**summarise(Path(tmp) / "run"), "run": name})
    return rows


def table(rows: list[dict[str, float | int | str]]) -> str:
    # the reference is the first run without outer steps (the uniform baseline)
    plain = next((float(r["plain_s"]) for r in rows if math.isnan(float(r["outer_s"]))), None)
    lines = [
        "| run | steps | plain step s | outer step s | mean s/step | mean vs plain | peak RSS GiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = f"{float(row['mean_s']) / plain:.2f}x" if plain else "-"
        cells = [row["run"], row["steps"], f"{float(row['plain_s']):.2f}", f"{float(row['outer_s']):.2f}",
                 f"{float(row['mean_s']):.2f}", ratio, f"{float(row['peak_rss_gib']):.2f}"]  # fmt: skip
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from-runs", nargs="+", type=Path, help="run dirs with a train.jsonl")
    parser.add_argument("--config", type=Path, default=REPO / "configs/default-cpu.yaml")
    parser.add_argument("--steps", type=int, default=6, help="steps per mode when measuring")
    args = parser.parse_args()
    rows = [summarise(d) for d in args.from_runs] if args.from_runs else measure(args.config, args.steps)
    print(table(rows))


if __name__ == "__main__":
    main()
