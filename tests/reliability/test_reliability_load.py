"""A bounded load test on loopback: mixed N and strategies, half repeats, Redis restarted mid-run.

Every response must be a 200 whose winner is one of *its own* candidates (ids are unique per request), with
zero 5xx. Latency percentiles and throughput are printed (`-s`), and written to $DAJ_LOAD_REPORT_DIR if set:
    DAJ_LOAD_REPORT_DIR=benchmarks/results .venv/bin/python -m pytest tests/reliability/test_reliability_load.py -s
"""

from __future__ import annotations

import json
import os
import random
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from daj.testing.redis_server import RedisServer

pytestmark = [pytest.mark.engine, pytest.mark.redis]

PROBLEM = 'def clamp(x, lo, hi):\n    """Clamp x into [lo, hi]."""\n'
EXPRESSIONS = ["max(lo, min(x, hi))", "min(max(x, lo), hi)", "x", "lo", "hi", "max(x, lo)", "min(x, hi)", "x + 1"]


@dataclass
class Outcome:
    status: int
    latency_s: float
    winner_ok: bool
    judge_calls: int
    cache_hits: int


def _body(rng: random.Random, tag: str) -> dict:  # type: ignore[type-arg]
    n = rng.choice([2, 3, 4, 6, 8])
    ids = [f"{tag}-{k}" for k in range(n)]
    codes = [f"def clamp(x, lo, hi):\n    # {tag}\n    return {EXPRESSIONS[k % len(EXPRESSIONS)]}\n" for k in range(n)]
    return {"problem": PROBLEM, "candidates": [{"id": i, "code": c} for i, c in zip(ids, codes, strict=True)],
            "strategy": rng.choice(["knockout", "round_robin"]), "orders": rng.choice(["both", "single"])}


def _one(client: httpx.Client, url: str, body: dict) -> Outcome:  # type: ignore[type-arg]
    started = time.perf_counter()
    response = client.post(f"{url}/select", json=body)
    latency = time.perf_counter() - started
    if response.status_code != 200:
        return Outcome(response.status_code, latency, False, 0, 0)
    result = response.json()
    own_ids = {c["id"] for c in body["candidates"]}
    ranking_ids = {r["id"] for r in result["ranking"]}
    winner_ok = result["winner"]["id"] in own_ids and ranking_ids == own_ids
    return Outcome(200, latency, winner_ok, result["usage"]["judge_calls"], result["usage"]["cache_hits"])


def run_load(url: str, selections: int, clients: int, redis: RedisServer | None, seed: int = 7) -> list[Outcome]:
    rng = random.Random(seed)
    fresh = [_body(rng, uuid.uuid4().hex[:12]) for _ in range(selections // 2)]
    bodies = fresh + [rng.choice(fresh) for _ in range(selections - len(fresh))]  # half are repeats
    rng.shuffle(bodies)
    done = [0]
    lock = threading.Lock()

    def task(body: dict) -> Outcome:  # type: ignore[type-arg]
        outcome = _one(client, url, body)
        with lock:
            done[0] += 1
            if redis is not None and done[0] == selections // 3:
                redis.stop()  # Redis goes away for the middle third of the run
            if redis is not None and done[0] == 2 * selections // 3:
                redis.start()
        return outcome

    with httpx.Client(timeout=300, limits=httpx.Limits(max_connections=clients)) as client, \
            ThreadPoolExecutor(clients) as pool:
        return list(pool.map(task, bodies))


def _report(name: str, outcomes: list[Outcome], wall_s: float, dtype: str | None) -> dict:  # type: ignore[type-arg]
    latencies = sorted(o.latency_s * 1000 for o in outcomes)
    report = {
        "selections": len(outcomes),
        "status_counts": {str(s): sum(o.status == s for o in outcomes) for s in sorted({o.status for o in outcomes})},
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))],
        "throughput_per_s": len(outcomes) / wall_s,
        "judge_calls": sum(o.judge_calls for o in outcomes),
        "cache_hits": sum(o.cache_hits for o in outcomes),
    }
    # Written only on request (e.g. DAJ_LOAD_REPORT_DIR=benchmarks/results), so a test run never dirties the repo.
    if out_dir := os.environ.get("DAJ_LOAD_REPORT_DIR"):
        from daj.hardware import machine_record

        Path(out_dir).mkdir(parents=True, exist_ok=True)
        recorded = {**report, "machine": machine_record(dtype)}
        (Path(out_dir) / f"load-{name}.json").write_text(json.dumps(recorded, indent=2))
    print(f"\nload {name}: {json.dumps(report)}")
    return report


@pytest.mark.parametrize("selections", [120, pytest.param(500, marks=pytest.mark.slow)])
def test_load_with_redis_restarted_mid_run(redis_service, session_redis: RedisServer, selections: int) -> None:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    outcomes = run_load(redis_service.url, selections, clients=32, redis=session_redis)
    choice = redis_service.app.state.daj.engine.dtype_choice
    report = _report(f"{selections}", outcomes, time.perf_counter() - started, choice.dtype if choice else None)
    assert all(o.status == 200 for o in outcomes), report["status_counts"]
    assert all(o.winner_ok for o in outcomes), "a response named a winner that is not one of its own candidates"
    assert report["cache_hits"] > 0  # repeats were served from the cache (before the outage or after it)
    assert httpx.get(f"{redis_service.url}/ready", timeout=10).status_code == 200  # the cache came back
