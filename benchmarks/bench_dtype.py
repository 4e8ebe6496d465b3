"""The judge in float32 against bfloat16 on this CPU, side by side: engine start, one judge call, a knockout.

    .venv/bin/python benchmarks/bench_dtype.py                       # float32 and bfloat16, this CPU as it is
    .venv/bin/python benchmarks/bench_dtype.py --isa avx2            # the same CPU limited to AVX2 kernels
    .venv/bin/python benchmarks/bench_dtype.py --dtypes float32 --problems 2   # a quicker run

For each dtype, one real vLLM engine serving the shipped judge exactly as `daj serve` does (the default adapter
merged on the CPU, `DAJ_DTYPE` set), one after the other, never two at once:
- start: seconds from `engine.start()` to ready, in this process (imports already paid by the first dtype);
- judge call: one verdict call on a real pair prompt of the meta split (~500 tokens), cold prefix cache, median
  of `--calls`;
- knockout: `/select` with N = 8 candidates of the meta split, `execution: off` (the judge alone, both orders),
  cold caches, median wall time over `--problems` problems and its seconds per judge call.

`--isa avx2` caps oneDNN and ATen at AVX2 (`ONEDNN_MAX_CPU_ISA=AVX2`, `ATEN_CPU_CAPABILITY=avx2`) in this process
and the engine's: how the judge runs on a CPU without AVX-512 and native bf16 (AMD EPYC before Zen 4, many cloud
VMs), on whatever machine runs the benchmark. The result records the CPU, its flags, the cores, the dtype and
the versions of vLLM and torch (`daj.hardware.machine_record`). Problems come from the `meta` split, never `test`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

ISA_CAPS = {"avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--isa", choices=sorted(ISA_CAPS), default=None, help="cap the kernels' instruction set")
    parser.add_argument("--pools", type=Path, default=Path("data/pools/humaneval_codegen16b_meta.jsonl.gz"))
    parser.add_argument("--problems", type=int, default=3, help="cold N = 8 knockouts per dtype")
    parser.add_argument("--calls", type=int, default=5, help="cold single judge calls per dtype")
    parser.add_argument("--out", type=Path, default=None, help="default benchmarks/results/dtype[-ISA].json")
    args = parser.parse_args()
    if "test" in args.pools.name:
        parser.error("benchmark on the meta split: the test split is for evaluation only")
    if args.isa:
        os.environ.update(ISA_CAPS[args.isa])  # before torch is imported, here and in the engine's processes
    out = args.out or Path(f"benchmarks/results/dtype{'-' + args.isa if args.isa else ''}.json")

    from daj.hardware import machine_record
    from daj.pools import read_pools

    pools = [p for p in read_pools(args.pools) if len(p.candidates) >= 8][: max(args.problems, 1)]
    rows = [measure(dtype, pools[: args.problems], args.calls) for dtype in args.dtypes.split(",")]
    report = {"isa_cap": args.isa, "machine": machine_record(), "pools": str(args.pools), "rows": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print_table(report)


def measure(dtype: str, pools: list, calls: int) -> dict:  # type: ignore[type-arg]
    import httpx
    from tqdm import tqdm

    from daj.hardware import machine_record
    from daj.protocol import JudgeMode, encode_prompt, render_prompt
    from daj.testing.loop_thread import LoopThread
    from evaluation.sampling import draw_indices
    from service.app import build_engine
    from service.engine.base import JudgeCall
    from service.settings import Settings
    from service.testing import start_service

    settings = Settings(dtype=dtype, max_concurrent_requests=64)
    loop_thread = LoopThread()
    engine = build_engine(settings)
    print(f"{dtype}: starting vLLM ({settings.model}, adapter {settings.default_adapter}) ...", file=sys.stderr)
    started = time.perf_counter()
    loop_thread.run(engine.start())
    start_s = time.perf_counter() - started
    service = start_service(loop_thread, settings, engine)
    adapter = service.app.state.daj.selection.adapters.merged
    try:
        pool = pools[0]
        warm = {"problem": pool.problem, "candidates": pool.candidates[:2], "execution": "off"}
        httpx.post(f"{service.url}/select", json=warm, timeout=600).raise_for_status()
        call_s, prompt_tokens = [], 0
        for _ in tqdm(range(calls), desc=f"{dtype} judge calls", leave=False):
            tag = uuid.uuid4().hex  # a new first line: nothing of the prompt is in the prefix cache
            text = render_prompt(engine.tokenizer, f"# {tag}\n{pool.problem}", pool.candidates[0], pool.candidates[1],
                                 JudgeMode.VERDICT)
            ids = encode_prompt(engine.tokenizer, text)
            prompt_tokens = len(ids)
            call = JudgeCall(tag, ids, JudgeMode.VERDICT, votes=1, max_tokens=1, temperature=0.0, adapter=adapter)
            begun = time.perf_counter()
            loop_thread.run(engine.judge(call))
            call_s.append(time.perf_counter() - begun)
        knockouts = []
        for pool in tqdm(pools, desc=f"{dtype} knockouts", leave=False):
            tag = uuid.uuid4().hex
            codes = [f"# {tag}\n{pool.candidates[i]}" for i in draw_indices(pool.task_id, len(pool.candidates), 8, 0)]
            body = {"problem": pool.problem, "candidates": codes, "execution": "off", "strategy": "knockout"}
            begun = time.perf_counter()
            response = httpx.post(f"{service.url}/select", json=body, timeout=1800)
            response.raise_for_status()
            knockouts.append({"task_id": pool.task_id, "wall_s": time.perf_counter() - begun,
                              "judge_calls": response.json()["usage"]["judge_calls"]})
    finally:
        service.stop()
        loop_thread.run(engine.close())
        loop_thread.close()
    walls = [k["wall_s"] for k in knockouts]
    total_calls = sum(k["judge_calls"] for k in knockouts)
    chosen = engine.dtype_choice
    return {"dtype": dtype, "reason": chosen.reason if chosen else None, "machine": machine_record(dtype),
            "start_s": start_s, "prompt_tokens": prompt_tokens, "judge_call_s": statistics.median(call_s),
            "judge_call_all_s": call_s, "knockout_n8_s": statistics.median(walls),
            "knockout_s_per_call": sum(walls) / total_calls if total_calls else None,
            "knockout_judge_calls": total_calls / len(knockouts), "knockouts": knockouts}


def print_table(report: dict) -> None:  # type: ignore[type-arg]
    from rich.console import Console
    from rich.table import Table

    from daj.hardware import machine_summary

    cap = f"; kernels capped at {report['isa_cap']}" if report["isa_cap"] else ""
    table = Table(title=f"Judge by dtype on {machine_summary(report['machine'])}{cap}")
    for column in ("dtype", "engine start s", "judge call s", "prompt tokens", "knockout N=8 s", "calls",
                   "s / call"):
        table.add_column(column, justify="right")
    for row in report["rows"]:
        per_call = row["knockout_s_per_call"]
        table.add_row(row["dtype"], f"{row['start_s']:.1f}", f"{row['judge_call_s']:.2f}", str(row["prompt_tokens"]),
                      f"{row['knockout_n8_s']:.2f}", f"{row['knockout_judge_calls']:.1f}",
                      f"{per_call:.2f}" if per_call is not None else "-")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
