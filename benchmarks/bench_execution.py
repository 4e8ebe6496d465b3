"""Execution-grounded /select against the judge-only knockout: wall time and judge calls, N = 8, cold caches.

    .venv/bin/python benchmarks/bench_execution.py                  # 24 problems of the HumanEval meta split
    .venv/bin/python benchmarks/bench_execution.py --problems 8     # a quicker run
    .venv/bin/python benchmarks/bench_execution.py --pools data/pools/lcb_o1.jsonl.gz --n 2 --problems 40 \
        --out benchmarks/results/execution-lcb.json                 # stdin and LeetCode programs, N = 2

One process, one real vLLM engine serving the shipped judge exactly as `daj serve` does (the default adapter,
merged on the CPU), one real service over HTTP on loopback. Each problem's 8 candidates (the first draw of the
evaluation, seed 0) are sent twice, once with `execution: auto` (the default pipeline) and once with
`execution: off` (the judge alone), in alternating order. Every request gets a fresh comment line in each
candidate, so neither the execution cache, the verdict cache nor vLLM's prefix cache carries over: every
number is a cold selection. Target: execution-grounded p50 and p95 <= 0.5x the judge-only knockout.
Problems come from the `meta` split, never `test`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

import httpx
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

MODES = ("auto", "off")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def fresh(codes: list[str]) -> list[str]:
    tag = uuid.uuid4().hex
    return [f"# cold {tag}\n{code}" for code in codes]


def run(url: str, pools: list, n: int) -> dict[str, list[dict]]:  # type: ignore[type-arg]
    from evaluation.sampling import draw_indices

    rows: dict[str, list[dict]] = {mode: [] for mode in MODES}  # type: ignore[type-arg]
    for position, pool in enumerate(tqdm(pools, desc="problems")):
        codes = [pool.candidates[i] for i in draw_indices(pool.task_id, len(pool.candidates), n, 0)]
        order = MODES if position % 2 == 0 else MODES[::-1]
        for mode in order:
            body = {"problem": pool.problem, "candidates": fresh(codes), "execution": mode}
            started = time.perf_counter()
            response = httpx.post(f"{url}/select", json=body, timeout=1800)
            wall = time.perf_counter() - started
            response.raise_for_status()
            result = response.json()
            rows[mode].append({"task_id": pool.task_id, "wall_s": wall, "judge_calls": result["usage"]["judge_calls"],
                               "execution": result["execution"]["status"],
                               "execution_ms": result["execution"]["elapsed_ms"]})
    return rows


def summary(rows: list[dict]) -> dict[str, float]:  # type: ignore[type-arg]
    walls = [r["wall_s"] for r in rows]
    return {"p50_s": percentile(walls, 0.5), "p95_s": percentile(walls, 0.95), "mean_s": statistics.mean(walls),
            "judge_calls": statistics.mean(r["judge_calls"] for r in rows),
            "executed": sum(r["execution"] == "ran" for r in rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pools", type=Path, default=Path("data/pools/humaneval_codegen16b_meta.jsonl.gz"))
    parser.add_argument("--problems", type=int, default=24)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"],
                        help="as DAJ_DTYPE: auto = bf16 where the CPU has it natively, else float32")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/execution.json"))
    args = parser.parse_args()
    if "test" in args.pools.name:
        parser.error("benchmark on the meta split: the test split is for evaluation only")

    from daj.hardware import machine_record
    from daj.pools import read_pools
    from daj.testing.loop_thread import LoopThread
    from service.app import build_engine
    from service.settings import Settings
    from service.testing import start_service

    pools = [p for p in read_pools(args.pools)  # pools that carry a split (LiveCodeBench): its meta part only
             if len(p.candidates) >= args.n and p.info.get("split", "meta") == "meta"][: args.problems]
    settings = Settings(max_concurrent_requests=64, dtype=args.dtype)
    loop_thread = LoopThread()
    engine = build_engine(settings)
    print(f"starting vLLM ({settings.model}, adapter {settings.default_adapter}) ...")
    loop_thread.run(engine.start())
    service = start_service(loop_thread, settings, engine)
    try:
        warm = fresh([pools[0].candidates[0], pools[0].candidates[1]])
        httpx.post(f"{service.url}/select", json={"problem": pools[0].problem, "candidates": warm}, timeout=600)
        rows = run(service.url, pools, args.n)
    finally:
        service.stop()
        loop_thread.run(engine.close())
        loop_thread.close()
    chosen = engine.dtype_choice
    report = {"pools": str(args.pools), "n": args.n, "problems": len(pools), "model": settings.model,
              "adapter": settings.default_adapter, "machine": machine_record(chosen.dtype if chosen else None),
              "dtype_reason": chosen.reason if chosen else None, "rows": rows,
              "summary": {mode: summary(rows[mode]) for mode in MODES}}
    report["ratio_p50"] = report["summary"]["auto"]["p50_s"] / report["summary"]["off"]["p50_s"]
    report["ratio_p95"] = report["summary"]["auto"]["p95_s"] / report["summary"]["off"]["p95_s"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print_table(report)


def print_table(report: dict) -> None:  # type: ignore[type-arg]
    from daj.hardware import machine_summary

    table = Table(title=f"/select wall time, N={report['n']}, {report['problems']} problems, cold caches; "
                        f"{machine_summary(report['machine'])}")
    for column in ("pipeline", "p50 s", "p95 s", "mean s", "judge calls / selection", "executed"):
        table.add_column(column, justify="right")
    names = {"auto": "execution + judge (default)", "off": "judge only (knockout)"}
    for mode in MODES:
        row = report["summary"][mode]
        table.add_row(names[mode], f"{row['p50_s']:.2f}", f"{row['p95_s']:.2f}", f"{row['mean_s']:.2f}",
                      f"{row['judge_calls']:.1f}", f"{row['executed']}/{report['problems']}")
    table.add_row("ratio (target <= 0.5x)", f"{report['ratio_p50']:.2f}x", f"{report['ratio_p95']:.2f}x", "", "", "")
    Console().print(table)


if __name__ == "__main__":
    main()
