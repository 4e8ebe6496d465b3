"""Start-up of `daj serve` as a user meets it: time to /health, to the first selection execution decides, to /ready,
where the time went, and how long a SIGTERM takes. A first start (empty compile caches) and a second one.

    .venv/bin/python benchmarks/bench_startup.py                     # first and second start, this checkout
    .venv/bin/python benchmarks/bench_startup.py --repo /tmp/old --out benchmarks/results/startup-before.json

Each start is a real `daj serve` subprocess (the shipped judge, the embedded backbone, DAJ_DTYPE=auto) with its own
cache folder: the converted backbone is linked in (as `make serve` prepares it), so the merged adapter and the
compiled graphs start empty; TMPDIR is private too, since torch keeps some compiled headers under it. The second
start reuses both. While the server starts, the benchmark polls /health, posts a selection that execution decides
(one behaviour cluster passes the examples) until it is answered, and polls /ready. The phases come from /ready's
`startup_s` and from vLLM's own log lines (weights, init with warm-up and compilation). `--repo` runs the server from
another checkout (e.g. the commit before a change) with this checkout's virtual environment.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

PROBLEM = '''def top_two(xs: list[int]) -> list[int]:
    """The two largest numbers, largest first.
    >>> top_two([1, 5, 3])
    [5, 3]
    >>> top_two([2, 2, 1])
    [2, 2]
    """
'''
DECIDED = {"problem": PROBLEM, "candidates": ["def top_two(xs):\n    return sorted(xs, reverse=True)[:2]\n",
                                             "def top_two(xs):\n    return sorted(xs)[:2]\n"]}
VLLM_LINES = {
    "vllm_weights": re.compile(r"Loading weights took ([\d.]+) seconds"),
    "vllm_init_with_warm_up": re.compile(r"init engine \(profile, create kv cache, warmup model\) took ([\d.]+) s"),
}


def one_start(repo: Path, cache_dir: Path, tmpdir: Path, port: int, log_path: Path, timeout_s: float) -> dict:  # type: ignore[type-arg]
    env = {**os.environ, "DAJ_CACHE_DIR": str(cache_dir), "TMPDIR": str(tmpdir), "DAJ_PORT": str(port),
           "DAJ_LOG_LEVEL": "info", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(repo)}
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "daj_cli", "serve"], cwd=repo, env=env,
                               stdout=log_path.open("w"), stderr=subprocess.STDOUT)
    result: dict = {"health_s": None, "execution_answer_s": None, "ready_s": None}  # type: ignore[type-arg]
    try:
        with httpx.Client(timeout=30) as client:
            while time.monotonic() - started < timeout_s and process.poll() is None:
                elapsed = time.monotonic() - started
                try:
                    if result["health_s"] is None and client.get(f"{base}/health").status_code == 200:
                        result["health_s"] = elapsed
                    if result["health_s"] is not None and result["execution_answer_s"] is None:
                        answer = client.post(f"{base}/select", json=DECIDED)
                        if answer.status_code == 200:
                            result["execution_answer_s"] = time.monotonic() - started
                            result["answer_reason"] = answer.json()["winner"]["reason"]
                    ready = client.get(f"{base}/ready")
                    if ready.status_code == 200:
                        result["ready_s"] = time.monotonic() - started
                        result["ready"] = ready.json()
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        stop_sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        result["sigterm_exit_s"] = time.monotonic() - stop_sent
    finally:
        if process.poll() is None:
            process.kill()
    log = log_path.read_text(errors="replace")
    for name, pattern in VLLM_LINES.items():
        found = pattern.findall(log)
        result[name] = float(found[-1]) if found else None
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="checkout to run `daj serve` from")
    parser.add_argument("--starts", type=int, default=2, help="1 = first start only; 2 = first and second")
    parser.add_argument("--timeout", type=float, default=400.0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/startup.json"))
    args = parser.parse_args()

    from daj.hardware import machine_record
    from daj.models import models_dir
    from daj.testing.redis_server import free_port

    work = Path(tempfile.mkdtemp(prefix="daj-bench-startup-"))
    cache_dir, tmpdir = work / "cache", work / "tmp"
    cache_dir.mkdir()
    tmpdir.mkdir()
    (cache_dir / "models").symlink_to(models_dir().resolve(), target_is_directory=True)
    runs = []
    try:
        for index in range(args.starts):
            name = "first" if index == 0 else "second"
            print(f"{name} start ...", file=sys.stderr)
            row = one_start(args.repo.resolve(), cache_dir, tmpdir, free_port(), work / f"{name}.log", args.timeout)
            runs.append({"start": name, **row})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    dtype = next((r["ready"].get("dtype") for r in runs if r.get("ready")), None)
    commit = subprocess.run(["git", "-C", str(args.repo), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    changed = subprocess.run(["git", "-C", str(args.repo), "status", "--porcelain", "--untracked-files=no"],
                             capture_output=True, text=True).stdout.strip()
    report = {"repo_commit": commit + ("+uncommitted changes" if changed else ""), "machine": machine_record(dtype),
              "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print_table(report)


def print_table(report: dict) -> None:  # type: ignore[type-arg]
    from rich.console import Console
    from rich.table import Table

    from daj.hardware import machine_summary

    table = Table(title=f"daj serve start-up at {report['repo_commit']} on {machine_summary(report['machine'])}")
    columns = ("start", "/health s", "execution answer s", "/ready s", "tokenizer s", "vLLM weights s",
               "vLLM init + warm-up s", "engine s", "our warm-up s", "SIGTERM -> exit s")
    for column in columns:
        table.add_column(column, justify="right")

    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    for run in report["runs"]:
        phases = (run.get("ready") or {}).get("startup_s", {})
        table.add_row(run["start"], cell(run["health_s"]), cell(run["execution_answer_s"]), cell(run["ready_s"]),
                      cell(phases.get("tokenizer")), cell(run["vllm_weights"]), cell(run["vllm_init_with_warm_up"]),
                      cell(phases.get("engine")), cell(phases.get("warm_up")), cell(run.get("sigterm_exit_s")))
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
