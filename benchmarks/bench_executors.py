"""Executor replicas against in-process execution: sandbox runs per second on one batch, and the /select p50.

    .venv/bin/python benchmarks/bench_executors.py --out benchmarks/results/executors.json

Four configurations of one `daj serve` (judge: the tiny test model, so judge calls cost little and the same in
each), each with fresh caches: candidates run in-process (the default), or on 1, 2 or 3 `daj executor` processes
(DAJ_EXECUTOR_URLS, 2 workers each), all on this machine's cores. For each:
- throughput: the /rewards batch of benchmarks/bench_rewards.py (16 MBPP+ problems x 8 completions), cold, twice;
  sandbox runs per second = fresh runs / wall time;
- latency: /select with N = 8 (the same programs as candidates, `execution: required`), one per problem, cold,
  `--rounds` times (fresh programs each round); p50 and p95.
Targets (issue 26): report the flat part on a small box honestly (replicas share its cores: the per-core figure is
the sizing unit); a remote executor adds at most 10% to the /select p50 against in-process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rewards import build_batch, fresh, percentile

from daj.hardware import machine_record, machine_summary
from daj.testing.executors import ExecutorProcess
from daj.testing.processes import wait_until_ok
from daj.testing.redis_server import free_port
from daj.testing.tiny_model import build_tiny_model

TOKEN = "bench-executors"


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, env={**os.environ, **env}, stdout=log.open("w"), stderr=subprocess.STDOUT)


def configuration(replicas: int, model: Path, logs: Path) -> tuple[list[subprocess.Popen[bytes]], str]:
    executors = [ExecutorProcess(logs / f"executor-{replicas}-{n}.log", token=TOKEN) for n in range(replicas)]
    processes = [executor.process for executor in executors]
    urls = [executor.url for executor in executors]
    port = free_port()
    env = {"DAJ_PORT": str(port), "DAJ_MODEL": str(model), "DAJ_DEFAULT_ADAPTER": "", "DAJ_LOG_LEVEL": "warning",
           "DAJ_EXECUTOR_URLS": ",".join(urls), "DAJ_EXECUTOR_TOKEN": TOKEN,
           "DAJ_EXECUTION_WORKERS": "2"}
    log = logs / f"serve-{replicas}.log"
    service = start([sys.executable, "-m", "daj_cli", "serve"], env, log)
    processes.append(service)
    url = f"http://127.0.0.1:{port}"
    wait_until_ok(f"{url}/ready", 300, service, log)
    return processes, url


def measure(url: str, items: list[dict], rounds: int) -> dict[str, object]:  # type: ignore[type-arg]
    rates = []
    for _ in range(2):
        started = time.perf_counter()
        response = httpx.post(f"{url}/rewards", json={"items": fresh(items)}, timeout=600)
        wall = time.perf_counter() - started
        response.raise_for_status()
        rates.append(response.json()["usage"]["runs"] / wall)
    latencies = []
    for item in (item for _ in range(rounds) for item in fresh(items)):
        body = {"problem": item["problem"], "tests": item["tests"], "execution": "required",
                "candidates": [c.split("```python\n", 1)[1].rsplit("```", 1)[0] for c in item["completions"]]}
        started = time.perf_counter()
        response = httpx.post(f"{url}/select", json=body, timeout=600)
        latencies.append(time.perf_counter() - started)
        response.raise_for_status()
    return {"runs_per_s": statistics.median(rates), "select_p50_s": percentile(latencies, 0.5),
            "select_p95_s": percentile(latencies, 0.95)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", default="0,1,2,3", help="0 = in-process")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--rounds", type=int, default=1, help="/select passes over the 16 problems (fresh each time)")
    args = parser.parse_args()
    items = build_batch(16, 8)
    model = build_tiny_model()
    logs = Path("/tmp") / f"bench-executors-{uuid.uuid4().hex[:8]}"
    logs.mkdir()
    rows: dict[int, dict[str, object]] = {}
    for replicas in (int(r) for r in args.replicas.split(",")):
        processes, url = configuration(replicas, model, logs)
        try:
            rows[replicas] = measure(url, items, args.rounds)
        finally:
            for process in reversed(processes):
                process.terminate()
                process.wait(60)
        print(replicas, rows[replicas], flush=True)
    cores = os.cpu_count() or 1
    base = rows.get(0)
    table = Table(title=f"sandbox runs/s and /select p50 by executor replicas ({machine_summary(machine_record())})")
    for column in ("executors", "runs/s", "runs/s per core", "/select p50 (s)", "p95 (s)", "p50 vs in-process"):
        table.add_column(column, justify="right")
    for replicas, row in rows.items():
        ratio = f"{row['select_p50_s'] / base['select_p50_s']:.2f}x" if base else "-"  # type: ignore[operator]
        table.add_row("in-process" if replicas == 0 else str(replicas), f"{row['runs_per_s']:.1f}",
                      f"{row['runs_per_s'] / cores:.1f}", f"{row['select_p50_s']:.3f}",  # type: ignore[operator]
                      f"{row['select_p95_s']:.3f}", ratio)
    Console().print(table)
    if args.out:
        args.out.write_text(json.dumps({"machine": machine_record(), "cores": cores, "select_rounds": args.rounds,
                                        "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
