"""/rewards throughput on a GRPO-sized batch, against a plain per-test runner, on the same batch in one run.

    .venv/bin/python benchmarks/bench_rewards.py                       # 16 problems x 8 completions, 5 repeats
    .venv/bin/python benchmarks/bench_rewards.py --repeats 3 --out benchmarks/results/rewards.json

The batch: the first 16 MBPP+ problems (`../shared/data/evalplus/MbppPlus-OriginFmt.jsonl.gz`; MBPP is no part of
the judge's HumanEval meta or test splits), each with 8 completions: the reference program and up to 7 single-site
AST mutants of it (judge_training/sources/_mutation.py, as the training sources make them), padded with copies of
the reference (GRPO samples repeat), each in a fenced block with a line of prose, as a policy writes. Tests: the
problem's 3 MBPP asserts.

Side by side, on the same machine and cores:
- daj `/rewards` cold: a `daj serve` process (no judge needed: DAJ_BACKEND=remote pointed at nothing), every
  repeat with a fresh comment line in each program so no cached run helps;
- daj `/rewards` warm: the same batch again (every run cached);
- plain: one `python -c program+test` per test case, as open-r1's code reward does, on a pool of as many threads as
  the service has sandbox workers (the same cores).
And the sandbox's cost per run against its floor: a sandbox run of `pass`, `python -S -c pass`, `python -c pass`.

Prints a table; `--out` writes the numbers as JSON (with the CPU model). Targets (docs/rewards.md): cold >= 2x
the plain runner's completions per second per core; warm < 5% of cold; a sandbox run <= 2x `python -S -c pass`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from daj.completions import extract_code
from daj.hardware import machine_record, machine_summary
from daj.paths import repo_root
from daj.testing.redis_server import free_port
from judge_training.sources._mutation import ast_mutants

MBPP = repo_root().parent / "shared" / "data" / "evalplus" / "MbppPlus-OriginFmt.jsonl.gz"
WORKERS = 2  # the service's DAJ_EXECUTION_WORKERS default, and the plain runner's threads


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def build_batch(problems: int, group: int, seed: int = 0) -> list[dict]:  # type: ignore[type-arg]
    with gzip.open(MBPP, "rt") as lines:
        rows = [json.loads(line) for line in lines]
    rows.sort(key=lambda row: int(row["task_id"]))
    items = []
    for row in rows:
        tests = eval(row["test_list"]) if isinstance(row["test_list"], str) else row["test_list"]
        if row["test_imports"] not in ("[]", []) or not tests:
            continue
        rng = random.Random(f"{seed}:{row['task_id']}")
        reference = row["code"].replace("\r\n", "\n")
        programs = [reference, *(code for _, code in ast_mutants(reference, rng, group - 1))]
        programs += [reference] * (group - len(programs))
        items.append({"problem": f"{row['prompt']}\n{tests[0]}\n", "tests": tests,
                      "completions": [f"Here is the function.\n```python\n{code}\n```\n" for code in programs]})
        if len(items) == problems:
            break
    return items


def fresh(items: list[dict]) -> list[dict]:  # type: ignore[type-arg]
    tag = uuid.uuid4().hex
    return [{**item, "completions": [c.replace("```python\n", f"```python\n# {tag}\n", 1) for c in item["completions"]]}
            for item in items]


def start_service(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "DAJ_PORT": str(port), "DAJ_BACKEND": "remote", "DAJ_REMOTE_URL": "http://127.0.0.1:9",
           "DAJ_LOG_LEVEL": "warning", "DAJ_EXECUTION_WORKERS": str(WORKERS)}
    process = subprocess.Popen([sys.executable, "-m", "daj_cli", "serve"], env=env, stdout=log.open("w"),
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    probe = {"items": [{"problem": "def f(x):\n    return x\n", "entry_point": "f", "tests": ["assert f(1) == 1"],
                        "completions": ["def f(x):\n    return x\n"]}]}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.post(f"{url}/rewards", json=probe, timeout=10).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"the service did not answer /rewards: {log.read_text()[-2000:]}")


def daj_batch(url: str, items: list[dict]) -> tuple[float, dict]:  # type: ignore[type-arg]
    started = time.perf_counter()
    response = httpx.post(f"{url}/rewards", json={"items": items}, timeout=600)
    wall = time.perf_counter() - started
    response.raise_for_status()
    return wall, response.json()


def plain_completion(text: str, tests: list[str]) -> tuple[float, float]:
    """open-r1's way: each test case in its own `python -c`; (pass rate, seconds)."""
    started = time.perf_counter()
    code = extract_code(text).code or ""
    passed = 0
    for test in tests:
        try:
            done = subprocess.run([sys.executable, "-c", f"{code}\n\n{test}\n"], capture_output=True, timeout=10)
            passed += done.returncode == 0
        except subprocess.TimeoutExpired:
            pass
    return passed / len(tests), time.perf_counter() - started


def plain_batch(items: list[dict]) -> tuple[float, list[float], list[float]]:  # type: ignore[type-arg]
    jobs = [(c, item["tests"]) for item in items for c in item["completions"]]
    started = time.perf_counter()
    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(lambda job: plain_completion(*job), jobs))
    return time.perf_counter() - started, [r for r, _ in results], [s for _, s in results]


def floor_runs(repeats: int) -> dict[str, float]:
    """Median seconds of: a sandbox run of `pass` (one probe), `python -S -c pass`, `python -c pass`."""
    from sandbox import Limits, execute, probes

    def timed(action) -> float:  # type: ignore[no-untyped-def]
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            action()
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    spec = probes([{"kind": "check", "call": "f()", "expected": None}], "f", case_seconds=1.0)
    return {
        "sandbox_run_s": timed(lambda: execute("def f():\n    pass\n", spec, Limits(), sys.executable)),
        "python_S_pass_s": timed(lambda: subprocess.run([sys.executable, "-S", "-c", "pass"], check=True)),
        "python_pass_s": timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=16)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    items = build_batch(args.problems, args.group)
    completions = sum(len(item["completions"]) for item in items)
    cores = os.cpu_count() or 1
    floor = floor_runs(20)
    log = Path("/tmp") / f"bench-rewards-{uuid.uuid4().hex[:8]}.log"
    process, url = start_service(log)
    cold, warm, plain, plain_each = [], [], [], []
    agree = 0
    try:
        for _ in tqdm(range(args.repeats), desc="repeats"):
            batch = fresh(items)
            wall, first = daj_batch(url, batch)
            cold.append(wall)
            wall, again = daj_batch(url, batch)
            warm.append(wall)
            assert again["rewards"] == first["rewards"] and again["usage"]["runs"] == 0
            wall, rates, each = plain_batch(batch)
            plain.append(wall)
            plain_each.extend(each)
            # daj's pass rate also counts the statement's example (MBPP puts its first assert in the prompt), so the
            # fractions differ; whether a completion passes everything must not.
            agree = sum((a == 1.0) == (b == 1.0) for a, b in zip(first["rewards"], rates, strict=True))
    finally:
        process.terminate()
        process.wait(30)
    per_core = {name: completions / statistics.median(times) / cores
                for name, times in (("cold", cold), ("warm", warm), ("plain", plain))}
    result = {
        "machine": machine_record(), "cores": cores, "workers": WORKERS, "completions": completions,
        "problems": len(items), "repeats": args.repeats,
        "wall_s": {"cold": cold, "warm": warm, "plain": plain},
        "completions_per_s_per_core": per_core,
        "cold_vs_plain": per_core["cold"] / per_core["plain"],
        "warm_over_cold": statistics.median(warm) / statistics.median(cold),
        "plain_per_completion_s": {"p50": percentile(plain_each, 0.5), "p95": percentile(plain_each, 0.95)},
        "same_all_pass_as_plain": f"{agree}/{completions}",
        "floor": floor, "sandbox_over_python_S": floor["sandbox_run_s"] / floor["python_S_pass_s"],
    }
    table = Table(title=f"/rewards, {len(items)} MBPP+ problems x {args.group} completions, {cores} cores "
                        f"({machine_summary(result['machine'])})")
    for column in ("method", "batch p50 (s)", "batch p95 (s)", "completions/s/core", "vs plain"):
        table.add_column(column, justify="right")
    for name, times in (("daj cold", cold), ("daj warm", warm), ("plain python -c per test", plain)):
        key = name.split()[1] if name.startswith("daj") else "plain"
        table.add_row(name, f"{percentile(times, 0.5):.2f}", f"{percentile(times, 0.95):.2f}",
                      f"{per_core[key]:.1f}", f"{per_core[key] / per_core['plain']:.2f}x")
    console = Console()
    console.print(table)
    console.print(f"warm / cold: {result['warm_over_cold']:.1%}; completions that pass all (or not) for both daj "
                  f"and the plain runner: {result['same_all_pass_as_plain']}")
    console.print(f"sandbox run of `pass` {floor['sandbox_run_s'] * 1000:.0f} ms, python -S -c pass "
                  f"{floor['python_S_pass_s'] * 1000:.0f} ms, python -c pass {floor['python_pass_s'] * 1000:.0f} ms: "
                  f"{result['sandbox_over_python_S']:.1f}x the floor")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
