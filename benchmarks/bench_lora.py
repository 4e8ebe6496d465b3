"""LoRA vs merged weights on one vLLM engine: seconds per judge call with the adapter and without it.

    .venv/bin/python benchmarks/bench_lora.py                           # adapters/default on SmolLM2-135M
    .venv/bin/python benchmarks/bench_lora.py --adapter adapters/uniform --calls 8

The engine is started once with LoRA enabled; the same verdict-mode calls (fresh problem text per batch, so
the prefix cache never helps) run through the adapter and through the bare base model. The base model stands
in for the merged export (`python -m judge_training merge`): same architecture, same shapes, no LoRA kernels.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")

from rich.console import Console
from rich.table import Table

PROBLEM = 'def running_max(numbers: list[int]) -> list[int]:\n    """Return the running maximum."""\n'
CODE_A = (
    "    out, m = [], float('-inf')\n    for x in numbers:\n        m = max(m, x)\n        out.append(m)\n"
    "    return out\n"
)
CODE_B = "    return sorted(numbers)\n"


async def timed_calls(engine, adapter, calls: int) -> float:  # type: ignore[no-untyped-def]
    """Seconds for ``calls`` concurrent verdict calls (one round of a tournament)."""
    from daj.protocol import JudgeMode, encode_prompt, render_prompt
    from service.engine.base import JudgeCall

    tag = uuid.uuid4().hex
    jobs = []
    for index in range(calls):
        problem = f"# {tag} {index}\n{PROBLEM}"
        prompt = render_prompt(engine.tokenizer, problem, problem + CODE_A, problem + CODE_B, JudgeMode.VERDICT)
        call = JudgeCall(f"{tag}-{index}", encode_prompt(engine.tokenizer, prompt), JudgeMode.VERDICT, 1, 1, 0.0,
                         adapter)  # fmt: skip
        jobs.append(engine.judge(call))
    started = time.perf_counter()
    await asyncio.gather(*jobs)
    return time.perf_counter() - started


async def run(model: str, adapter_dir: Path, calls: int, repeats: int) -> list[tuple[str, float]]:
    from daj.models import resolve_model
    from service.engine.base import Adapter, adapter_content_hash
    from service.engine.vllm_local import VllmEngine

    engine = VllmEngine(resolve_model(model), max_model_len=4096, kv_cache_gib=2)
    await engine.start()
    adapter = Adapter(adapter_dir.name, adapter_dir.resolve(), adapter_content_hash(adapter_dir), 1)
    try:
        await timed_calls(engine, adapter, 2)  # warm-up: LoRA load and first-batch shapes
        await timed_calls(engine, None, 2)
        rows = []
        for label, chosen in (("base weights (= merged export)", None), (f"LoRA adapter {adapter_dir}", adapter)):
            best = min([await timed_calls(engine, chosen, calls) for _ in range(repeats)])
            rows.append((label, best / calls))
        return rows
    finally:
        await engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--adapter", type=Path, default=Path("adapters/default"))
    parser.add_argument("--calls", type=int, default=8, help="concurrent verdict calls per measurement")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    rows = asyncio.run(run(args.model, args.adapter, args.calls, args.repeats))
    table = Table(title=f"{args.calls} concurrent verdict calls, best of {args.repeats}")
    for column in ("weights", "s per call", "vs base"):
        table.add_column(column)
    for label, seconds in rows:
        table.add_row(label, f"{seconds:.3f}", f"{seconds / rows[0][1]:.1f}x")
    Console().print(table)


if __name__ == "__main__":
    main()
