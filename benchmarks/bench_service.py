"""Service benchmark: judge calls, overhead vs the raw engine, cached-repeat latency, concurrency gain.

    .venv/bin/python benchmarks/bench_service.py                 # the default judge backbone (SmolLM2-135M)
    .venv/bin/python benchmarks/bench_service.py --model tiny    # the tiny test model (fast smoke run)

One process: a real vLLM engine (CPU) shared by two real services over HTTP on loopback, one with a
private redis-server as verdict cache and one with the in-process cache. Every cold selection uses a
fresh problem text, so neither the verdict cache nor vLLM's prefix cache carries over between runs.

- overhead: a selection through the service (HTTP, validation, rendering, tokenizing, cache, tournament)
  vs the raw engine (`AsyncLLM.generate`) fed the same token ids in the same rounds. Target <= 1.10x.
- repeat latency: the same request again, answered from the verdict cache. Target p50 < 20 ms.
- throughput: 16 concurrent clients vs one at a time, distinct selections. Target >= 3x.

All of it with `execution: off`: this measures the judge path; benchmarks/bench_execution.py measures the
execution-grounded pipeline against it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")

import httpx
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

PROBLEM = '''def running_max(numbers: list[int]) -> list[int]:
    """Return a list whose i-th element is the maximum of numbers[0..i].
    >>> running_max([1, 3, 2, 5, 4])
    [1, 3, 3, 5, 5]
    """
'''
VARIANTS = [
    "    out, best = [], None\n    for x in numbers:\n        best = x if best is None or x > best else best\n"
    "        out.append(best)\n    return out\n",
    "    return [max(numbers[: i + 1]) for i in range(len(numbers))]\n",
    "    out = []\n    for i, x in enumerate(numbers):\n        out.append(max(numbers[:i]))\n    return out\n",
    "    return sorted(numbers)\n",
    "    import itertools\n    return list(itertools.accumulate(numbers, max))\n",
    "    best = numbers[0]\n    out = []\n    for x in numbers:\n        best = max(best, x)\n"
    "        out.append(best)\n    return out\n",
    "    return [max(numbers)] * len(numbers)\n",
    "    out = []\n    m = float('-inf')\n    for x in numbers:\n        m = x if x > m else m\n"
    "        out.append(m)\n    return out\n",
]


def candidates(n: int, tag: str) -> list[str]:
    return [f"{PROBLEM}    # variant {k} {tag}\n{VARIANTS[k % len(VARIANTS)]}" for k in range(n)]


def problem(tag: str) -> str:
    return f"# run {tag}\n{PROBLEM}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def raw_engine_time(engine, rounds: list[list[list[int]]]) -> float:  # type: ignore[no-untyped-def]
    """Feed AsyncLLM the same token ids, round by round, each round all at once."""
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt

    ids = list(engine.choice_token_ids())
    params = SamplingParams(max_tokens=1, temperature=0.0, allowed_token_ids=ids, logprob_token_ids=ids, logprobs=2)

    async def one(prompt_ids: list[int]) -> None:
        async for _ in engine._llm.generate(TokensPrompt(prompt_token_ids=prompt_ids), params,
                                            request_id=uuid.uuid4().hex):
            pass

    started = time.perf_counter()
    for prompts in rounds:
        await asyncio.gather(*(one(p) for p in prompts))
    return time.perf_counter() - started


def service_rounds(engine, body: dict, response: dict) -> list[list[list[int]]]:  # type: ignore[no-untyped-def,type-arg]
    """The token ids of every judge call of a selection, grouped by round, as the service rendered them."""
    from daj.protocol import encode_prompt, render_prompt

    codes = body["candidates"]
    by_round: dict[int, list[list[int]]] = {}
    for match in response["matches"]:
        first, second = match["order"]
        prompt = render_prompt(engine.tokenizer, body["problem"], codes[first], codes[second], "verdict")
        by_round.setdefault(match["round"], []).append(encode_prompt(engine.tokenizer, prompt))
    return [by_round[k] for k in sorted(by_round)]


def bench_overhead(url: str, engine, loop_thread, sizes: list[int], repeats: int) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    rows = []
    for strategy in ("knockout", "round_robin"):
        for n in sizes:
            service_s, raw_s, calls = [], [], 0
            for _ in range(repeats):
                tag = uuid.uuid4().hex
                body = {"problem": problem(tag), "candidates": candidates(n, tag), "strategy": strategy,
                        "execution": "off"}
                started = time.perf_counter()
                response = httpx.post(f"{url}/select", json=body, timeout=1800).json()
                service_s.append(time.perf_counter() - started)
                calls = response["usage"]["judge_calls"]
                # Same prompt shapes and rounds, but a fresh tag of the same length, so the raw engine meets a
                # cold prefix cache just as the service did.
                fresh = uuid.uuid4().hex
                replay = {"problem": body["problem"].replace(tag, fresh),
                          "candidates": [c.replace(tag, fresh) for c in body["candidates"]]}
                raw_s.append(loop_thread.run(raw_engine_time(engine, service_rounds(engine, replay, response))))
            service, raw = statistics.median(service_s), statistics.median(raw_s)
            rows.append({"strategy": strategy, "n": n, "judge_calls": calls, "service_s": service, "raw_engine_s": raw,
                         "overhead": service / raw})
            print(f"  {strategy:11s} N={n:2d}: {calls:3d} calls, service {service:.2f} s, raw {raw:.2f} s")
    return rows


def bench_repeat_latency(url: str, samples: int) -> dict:  # type: ignore[type-arg]
    tag = uuid.uuid4().hex
    body = {"problem": problem(tag), "candidates": candidates(8, tag), "execution": "off"}
    httpx.post(f"{url}/select", json=body, timeout=600).raise_for_status()
    latencies = []
    with httpx.Client(timeout=60) as client:
        for _ in range(samples):
            started = time.perf_counter()
            response = client.post(f"{url}/select", json=body)
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.json()["usage"]["judge_calls"] == 0, "repeat was not served from the cache"
    return {"p50_ms": percentile(latencies, 0.5), "p99_ms": percentile(latencies, 0.99), "samples": samples}


def bench_throughput(url: str, selections: int, clients: int) -> dict:  # type: ignore[type-arg]
    def run_one(_: int) -> None:
        tag = uuid.uuid4().hex
        body = {"problem": problem(tag), "candidates": candidates(8, tag), "execution": "off"}
        httpx.post(f"{url}/select", json=body, timeout=1800).raise_for_status()

    started = time.perf_counter()
    for k in tqdm(range(selections), desc="sequential", leave=False):
        run_one(k)
    sequential = time.perf_counter() - started
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(tqdm(pool.map(run_one, range(selections)), total=selections, desc=f"{clients} clients", leave=False))
    concurrent = time.perf_counter() - started
    return {"selections": selections, "clients": clients, "sequential_per_s": selections / sequential,
            "concurrent_per_s": selections / concurrent, "speedup": sequential / concurrent}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct", help="alias, folder, or 'tiny'")
    parser.add_argument("--sizes", default="4,8,16")
    parser.add_argument("--repeats", type=int, default=1, help="cold selections per (strategy, N); median reported")
    parser.add_argument("--latency-samples", type=int, default=100)
    parser.add_argument("--throughput-selections", type=int, default=32)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"],
                        help="as DAJ_DTYPE: auto = bf16 where the CPU has it natively, else float32")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/service.json"))
    args = parser.parse_args()

    from daj.hardware import machine_record
    from daj.models import resolve_model
    from daj.testing.loop_thread import LoopThread
    from daj.testing.redis_server import RedisServer
    from daj.testing.tiny_model import build_tiny_model
    from service.engine.vllm_local import VllmEngine
    from service.settings import Settings
    from service.testing import start_service

    model = str(build_tiny_model()) if args.model == "tiny" else resolve_model(args.model)
    loop_thread = LoopThread()
    engine = VllmEngine(model, max_model_len=4096, kv_cache_gib=2, dtype=args.dtype)
    print(f"starting vLLM on {model} ...")
    loop_thread.run(engine.start())
    redis = RedisServer().start()
    settings = Settings(model=model, max_concurrent_requests=256, adapters_dir=Path("/nonexistent"))
    with_redis = start_service(loop_thread, settings.model_copy(update={"redis_url": redis.url}), engine)
    in_process = start_service(loop_thread, settings, engine)
    try:
        print("warm-up ...")
        for n in (4, 8, 16):
            tag = uuid.uuid4().hex
            httpx.post(f"{in_process.url}/select", json={"problem": problem(tag), "candidates": candidates(n, tag),
                                                        "strategy": "round_robin"}, timeout=1800)
        print("overhead vs raw engine ...")
        sizes = [int(s) for s in args.sizes.split(",")]
        overhead = bench_overhead(in_process.url, engine, loop_thread, sizes, args.repeats)
        print("repeat latency ...")
        latency = {"redis": bench_repeat_latency(with_redis.url, args.latency_samples),
                   "in_process": bench_repeat_latency(in_process.url, args.latency_samples)}
        print("throughput ...")
        throughput = bench_throughput(in_process.url, args.throughput_selections, args.clients)
    finally:
        with_redis.stop()
        in_process.stop()
        redis.close()
        loop_thread.run(engine.close())
        loop_thread.close()
    chosen = engine.dtype_choice
    report = {"model": args.model, "machine": machine_record(chosen.dtype if chosen else None),
              "dtype_reason": chosen.reason if chosen else None, "overhead": overhead, "repeat_latency": latency,
              "throughput": throughput}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print_tables(report)


def print_tables(report: dict) -> None:  # type: ignore[type-arg]
    console = Console()
    from daj.hardware import machine_summary

    console.print(f"{machine_summary(report['machine'])} ({report['dtype_reason']})")
    table = Table(title=f"Selections, cold cache ({report['model']})")
    for column in ("strategy", "N", "judge calls", "service s", "raw engine s", "overhead (<=1.10)"):
        table.add_column(column, justify="right")
    for row in report["overhead"]:
        table.add_row(row["strategy"], str(row["n"]), str(row["judge_calls"]), f"{row['service_s']:.2f}",
                      f"{row['raw_engine_s']:.2f}", f"{row['overhead']:.2f}x")
    console.print(table)
    table = Table(title="Repeat request (all verdicts cached), N=8 knockout")
    for column in ("cache", "p50 ms (<20)", "p99 ms", "samples"):
        table.add_column(column, justify="right")
    for name, row in report["repeat_latency"].items():
        table.add_row(name, f"{row['p50_ms']:.1f}", f"{row['p99_ms']:.1f}", str(row["samples"]))
    console.print(table)
    t = report["throughput"]
    table = Table(title=f"Throughput, {t['selections']} distinct N=8 knockout selections")
    for column in ("one at a time /s", f"{t['clients']} clients /s", "speedup (>=3x)"):
        table.add_column(column, justify="right")
    table.add_row(f"{t['sequential_per_s']:.2f}", f"{t['concurrent_per_s']:.2f}", f"{t['speedup']:.2f}x")
    console.print(table)


if __name__ == "__main__":
    main()
