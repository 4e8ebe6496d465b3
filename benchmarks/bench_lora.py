"""LoRA vs merged weights in vLLM: seconds per judge call, and whether the two paths give the same verdicts.

    .venv/bin/python benchmarks/bench_lora.py                           # adapters/default on SmolLM2-135M
    .venv/bin/python benchmarks/bench_lora.py --adapter adapters/uniform --calls 8

Two engines, one after the other. The first has LoRA enabled: the same verdict-mode calls (fresh problem text
per batch, so the prefix cache never helps) run through the adapter and through the bare base model. The
second is what the service starts on CPU (`DAJ_MERGE_DEFAULT_ADAPTER=auto`): the adapter folded into the base
weights by `daj.lora`, LoRA off. It judges exactly the prompts the LoRA path judged, so the table also shows
how far apart their P(A) are and how often they pick the same candidate.
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


async def timed_calls(engine, adapter, calls: int, tag: str) -> tuple[float, list[float]]:  # type: ignore[no-untyped-def]
    """Seconds for ``calls`` concurrent verdict calls (one round of a tournament), and their P(A)."""
    from daj.protocol import JudgeMode, encode_prompt, render_prompt
    from service.engine.base import JudgeCall

    jobs = []
    for index in range(calls):
        problem = f"# {tag} {index}\n{PROBLEM}"
        prompt = render_prompt(engine.tokenizer, problem, problem + CODE_A, problem + CODE_B, JudgeMode.VERDICT)
        call = JudgeCall(f"{tag}-{index}", encode_prompt(engine.tokenizer, prompt), JudgeMode.VERDICT, 1, 1, 0.0,
                         adapter)  # fmt: skip
        jobs.append(engine.judge(call))
    started = time.perf_counter()
    results = await asyncio.gather(*jobs)
    return time.perf_counter() - started, [result.verdict.p_a for result in results]


async def best_of(engine, adapter, calls: int, tags: list[str]) -> tuple[float, list[float]]:  # type: ignore[no-untyped-def]
    """Best seconds per call over the repeats (one tag each), and every P(A) in tag order."""
    await timed_calls(engine, adapter, 2, f"warm-up-{uuid.uuid4().hex}")  # LoRA load, first-batch shapes
    timings, probabilities = [], []
    for tag in tags:
        seconds, p_a = await timed_calls(engine, adapter, calls, tag)
        timings.append(seconds / calls)
        probabilities += p_a
    return min(timings), probabilities


async def run(model: str, adapter_dir: Path, calls: int, repeats: int, cache_dir: Path) -> dict:  # type: ignore[type-arg]
    from daj.lora import Adapter, adapter_content_hash
    from daj.models import resolve_model
    from service.engine.vllm_local import VllmEngine

    adapter = Adapter(adapter_dir.name, adapter_dir.resolve(), adapter_content_hash(adapter_dir), 1)
    tags = [uuid.uuid4().hex for _ in range(repeats)]
    rows = {}
    engine = VllmEngine(resolve_model(model), max_model_len=4096, kv_cache_gib=2)
    await engine.start()
    try:
        rows["base weights, LoRA engine"] = await best_of(engine, None, calls, [uuid.uuid4().hex for _ in tags])
        rows[f"LoRA adapter {adapter_dir}"] = await best_of(engine, adapter, calls, tags)
    finally:
        await engine.close()
    merged = VllmEngine(resolve_model(model), max_model_len=4096, kv_cache_gib=2, merged_adapter=adapter,
                        merge_cache_dir=cache_dir)
    await merged.start()
    try:
        rows["merged at service start-up"] = await best_of(merged, adapter, calls, tags)
    finally:
        await merged.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--adapter", type=Path, default=Path("adapters/default"))
    parser.add_argument("--calls", type=int, default=8, help="concurrent verdict calls per measurement")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--cache-dir", type=Path, default=None, help="where the merged weights go (default: the "
                        "service's cache folder)")
    args = parser.parse_args()
    from daj.paths import default_cache_dir

    rows = asyncio.run(run(args.model, args.adapter, args.calls, args.repeats, args.cache_dir or default_cache_dir()))
    table = Table(title=f"{args.calls} concurrent verdict calls, best of {args.repeats}")
    for column in ("weights", "s per call", "vs merged"):
        table.add_column(column)
    merged_seconds, merged_p = rows["merged at service start-up"]
    for label, (seconds, _) in rows.items():
        table.add_row(label, f"{seconds:.3f}", f"{seconds / merged_seconds:.1f}x")
    Console().print(table)
    lora_p = rows[f"LoRA adapter {args.adapter}"][1]
    gaps = [abs(a - b) for a, b in zip(merged_p, lora_p, strict=True)]
    same = sum((a > 0.5) == (b > 0.5) for a, b in zip(merged_p, lora_p, strict=True))
    Console().print(f"merged vs LoRA on the same {len(gaps)} prompts: mean |dP(A)| {sum(gaps) / len(gaps):.4f}, "
                    f"max {max(gaps):.4f}, same verdict {same}/{len(gaps)}")


if __name__ == "__main__":
    main()
