"""POST /select end to end: real HTTP, real vLLM (tiny model + tiny LoRA), real redis-server."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import daj_client
import httpx
import pytest

from daj.testing.redis_server import RedisServer
from service.engine.base import DeltaCallback, JudgeCall, JudgeEngine, JudgeResult
from service.testing import InProcessService, start_service

pytestmark = [pytest.mark.engine, pytest.mark.redis]

PROBLEM = 'def add(a, b):\n    """Return the sum of a and b."""\n'


def programs(n: int, tag: str = "") -> list[str]:
    """n distinct programs (a fresh `tag` makes them unseen by the verdict cache)."""
    return [f"def add(a, b):\n    # {tag}\n    return a + b + {k}\n" for k in range(n)]


def select(service: InProcessService, **body) -> httpx.Response:  # type: ignore[no-untyped-def]
    body.setdefault("problem", PROBLEM)
    return httpx.post(f"{service.url}/select", json=body, timeout=120)


def ok(response: httpx.Response) -> dict:  # type: ignore[type-arg]
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(("strategy", "n", "calls"), [("knockout", 5, 2 * 4), ("round_robin", 4, 2 * 6)])
def test_each_strategy_judges_both_orders_of_every_match(memory_service, base_settings, strategy, n, calls) -> None:  # type: ignore[no-untyped-def]
    candidates = programs(n, uuid.uuid4().hex)
    result = ok(select(memory_service, candidates=candidates, strategy=strategy))
    assert result["usage"]["judge_calls"] == calls and result["usage"]["cache_hits"] == 0
    assert len(result["matches"]) == calls and len(result["results"]) == calls // 2
    for match in result["results"]:
        pair_orders = [m["order"] for m in result["matches"] if m["pair"] == match["pair"]]
        assert sorted(map(tuple, pair_orders)) == sorted([tuple(match["pair"]), tuple(reversed(match["pair"]))])
    assert [r["rank"] for r in result["ranking"]] == sorted(r["rank"] for r in result["ranking"])
    assert result["ranking"][0]["index"] == result["winner"]["index"] and result["ranking"][0]["rank"] == 1
    assert {r["index"] for r in result["ranking"]} == set(range(n))
    assert result["judge"]["prompt_version"] == base_settings.prompt_version and result["strategy"] == strategy
    assert result["usage"]["prompt_tokens"] > 0 and result["usage"]["completion_tokens"] == calls


def test_knockout_winner_beat_everyone_it_met(memory_service) -> None:  # type: ignore[no-untyped-def]
    result = ok(select(memory_service, candidates=programs(6, uuid.uuid4().hex)))
    winner = result["winner"]["index"]
    played = [r for r in result["results"] if winner in r["pair"]]
    assert played and all(r["winner"] == winner for r in played)
    for r in result["results"]:  # the merged probability agrees with the reported winner
        assert (r["probability"] > 0.5) == (r["winner"] == r["pair"][0]) or r["decided_by"] == "tie_rule"


def test_single_order_halves_the_judge_calls(memory_service) -> None:  # type: ignore[no-untyped-def]
    result = ok(select(memory_service, candidates=programs(4, uuid.uuid4().hex), orders="single"))
    assert result["usage"]["judge_calls"] == 3
    assert all(tuple(m["order"]) == tuple(m["pair"]) for m in result["matches"])


def test_identical_candidates_are_judged_once_and_share_the_outcome(memory_service) -> None:  # type: ignore[no-untyped-def]
    a, b = programs(2, uuid.uuid4().hex)
    candidates = [a, b, a.replace("\n", "  \r\n") + "\n\n", {"id": "same-as-b", "code": b}]
    result = ok(select(memory_service, candidates=[c if isinstance(c, dict) else {"id": f"c{i}", "code": c}
                                                   for i, c in enumerate(candidates)]))
    assert result["usage"]["judge_calls"] == 2  # one match, two orders
    by_index = {r["index"]: r for r in result["ranking"]}
    assert by_index[2]["duplicate_of"] == 0 and by_index[3]["duplicate_of"] == 1
    assert by_index[2]["rank"] == by_index[0]["rank"] and by_index[3]["rank"] == by_index[1]["rank"]
    assert result["winner"]["index"] in (0, 1)


def test_all_identical_needs_no_judge(memory_service) -> None:  # type: ignore[no-untyped-def]
    result = ok(select(memory_service, candidates=["x = 1\n", "x = 1", "x = 1   \n\n"]))
    assert result["usage"]["judge_calls"] == 0
    assert result["winner"] == {"index": 0, "id": "0", "reason": "every candidate is the same program"}


@pytest.mark.parametrize("service_name", ["memory_service", "redis_service"])
def test_a_repeat_is_served_from_the_cache(request, service_name: str) -> None:  # type: ignore[no-untyped-def]
    service = request.getfixturevalue(service_name)
    body = {"candidates": programs(5, uuid.uuid4().hex), "strategy": "round_robin"}
    first = ok(select(service, **body))
    second = ok(select(service, **body))
    assert first["usage"]["judge_calls"] == 20
    assert second["usage"]["judge_calls"] == 0 and second["usage"]["cache_hits"] == 20
    assert second["winner"] == first["winner"]
    assert all(m["cached"] for m in second["matches"])
    assert [m["probability"] for m in second["matches"]] == [m["probability"] for m in first["matches"]]


class FrozenClock:
    """A monotonic clock that moves only when the test moves it (the caches take their clock as an argument)."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_redis_down_mid_test_requests_still_succeed(  # type: ignore[no-untyped-def]
    redis_service, session_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = redis_service.app.state.daj.cache
    clock = FrozenClock()
    monkeypatch.setattr(cache, "clock", clock)  # its back-off after a failure is timed on this clock
    session_redis.stop()
    try:
        result = ok(select(redis_service, candidates=programs(3, uuid.uuid4().hex)))
        assert result["usage"]["judge_calls"] == 4 and result["usage"]["cache_hits"] == 0
        ready = httpx.get(f"{redis_service.url}/ready", timeout=10)
        assert ready.status_code == 503 and ready.json()["error"]["code"] == "cache_unreachable"
        metrics = httpx.get(f"{redis_service.url}/metrics", timeout=10).text
        assert _metric(metrics, 'daj_cache_errors_total{op="read"}') >= 1
    finally:
        session_redis.start()
    body = {"candidates": programs(3, uuid.uuid4().hex)}
    ok(select(redis_service, **body))
    assert ok(select(redis_service, **body))["usage"]["cache_hits"] == 0, "Redis is back, but the back-off is not over"
    clock.advance(cache.backoff_s)
    ok(select(redis_service, **body))
    assert ok(select(redis_service, **body))["usage"]["cache_hits"] == 4
    assert httpx.get(f"{redis_service.url}/ready", timeout=10).status_code == 200


def test_an_adapter_is_chosen_per_request(memory_service) -> None:  # type: ignore[no-untyped-def]
    body = {"candidates": programs(2, uuid.uuid4().hex), "orders": "single"}
    base = ok(select(memory_service, **body))
    tuned = ok(select(memory_service, adapter="tiny", **body))
    assert tuned["judge"]["adapter"] == "tiny" and len(tuned["judge"]["adapter_hash"]) == 16
    assert base["judge"]["adapter"] is None
    assert tuned["usage"]["judge_calls"] == 1  # a different adapter never reuses base-model verdicts
    assert tuned["matches"][0]["probability"] != pytest.approx(base["matches"][0]["probability"], abs=1e-4)
    listed = httpx.get(f"{memory_service.url}/v1/adapters", timeout=10).json()["adapters"]
    assert [a["name"] for a in listed] == ["tiny"]


def test_reasoning_mode_returns_text_and_falls_back_to_the_tie_rule(memory_service) -> None:  # type: ignore[no-untyped-def]
    result = ok(select(memory_service, candidates=programs(2, uuid.uuid4().hex), mode="reasoning", votes=2,
                       max_reasoning_tokens=16))
    assert result["mode"] == "reasoning" and result["usage"]["judge_calls"] == 2
    assert result["usage"]["completion_tokens"] > 2
    assert all(m["reasoning"] for m in result["matches"])
    # A random-init model writes no verdict line: unparseable, not guessed; the match goes to the tie rule.
    if all(m["verdict"] == "unparseable" for m in result["matches"]):
        assert result["results"][0]["decided_by"] == "tie_rule" and result["winner"]["index"] == 0


def test_stream_events_arrive_in_order(memory_service) -> None:  # type: ignore[no-untyped-def]
    body = {"problem": PROBLEM, "candidates": programs(4, uuid.uuid4().hex), "stream": True, "mode": "reasoning",
            "max_reasoning_tokens": 16}
    with httpx.stream("POST", f"{memory_service.url}/select", json=body, timeout=120) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        events = list(_events(response))
    names = [name for name, _ in events]
    assert names[0] == "start" and names[-1] == "result" and "error" not in names
    assert names.count("round_end") == 2 and names.count("verdict") == 6 and names.count("match_start") == 6
    assert "reasoning" in names
    for round_index in (0, 1):
        in_round = [i for i, (n, d) in enumerate(events) if d.get("round") == round_index]
        starts = [i for i in in_round if names[i] == "match_start"]
        verdicts = [i for i in in_round if names[i] == "verdict"]
        end = next(i for i, (n, d) in enumerate(events) if n == "round_end" and d["round"] == round_index)
        assert max(starts) < min(verdicts) and max(verdicts) < end
    result = events[-1][1]
    assert result["usage"]["judge_calls"] == 6 and len(result["matches"]) == 6


class Unhurried(JudgeEngine):
    """The session's real engine, each judge call held back first: a stream quiet for longer than its keep-alive
    interval, on purpose and for a known time."""

    def __init__(self, inner: JudgeEngine, delay_s: float) -> None:
        self.inner, self.delay_s = inner, delay_s
        self.tokenizer = inner.tokenizer
        self.merged_adapter = inner.merged_adapter
        self.max_lora_rank = inner.max_lora_rank

    async def start(self) -> None:
        await self.inner.start()

    async def judge(self, call: JudgeCall, on_delta: DeltaCallback | None = None) -> JudgeResult:
        await asyncio.sleep(self.delay_s)
        return await self.inner.judge(call, on_delta)

    async def abort(self, request_ids: list[str]) -> None:
        await self.inner.abort(request_ids)

    async def check_health(self) -> None:
        await self.inner.check_health()

    def running_requests(self) -> int:
        return self.inner.running_requests()

    async def close(self) -> None:
        return None  # the session's engine outlives this service


def test_a_quiet_stream_sends_keep_alives_that_hold_a_client_read_timeout_open(  # type: ignore[no-untyped-def]
    loop_thread, tiny_engine, base_settings
) -> None:
    settings = base_settings.model_copy(update={"stream_keepalive_s": 0.1})
    service = start_service(loop_thread, settings, Unhurried(tiny_engine, delay_s=2.0))
    body = {"problem": PROBLEM, "candidates": programs(2, uuid.uuid4().hex), "stream": True, "orders": "single"}
    # A read timeout well under the 2 s judge call: only the keep-alives keep the SDK's stream from timing out.
    sdk = daj_client.Client(service.url, timeout=httpx.Timeout(60, read=1.0), max_retries=0)
    try:
        with httpx.stream("POST", f"{service.url}/select", json=body, timeout=120) as response:
            lines = list(response.iter_lines())
        events = list(sdk.select(PROBLEM, programs(2, uuid.uuid4().hex), stream=True, orders="single"))
    finally:
        sdk.close()
        service.stop()
    names = [line.removeprefix("event: ") for line in lines if line.startswith("event: ")]
    assert names[-1] == "result" and "error" not in names
    quiet = lines[lines.index("event: match_start"):lines.index("event: verdict")]
    assert quiet.count(": keep-alive") >= 5, quiet  # ~20 in the 2 s call; a busy machine may send fewer
    assert [event.event for event in events] == names  # the SDK skips them: the same events, typed


def test_client_disconnect_aborts_its_engine_requests(memory_service, tiny_engine) -> None:  # type: ignore[no-untyped-def]
    body = {"problem": PROBLEM, "candidates": programs(8, uuid.uuid4().hex), "stream": True, "mode": "reasoning",
            "max_reasoning_tokens": 3000}
    with httpx.stream("POST", f"{memory_service.url}/select", json=body, timeout=120) as response:
        for name, _ in _events(response):
            if name == "reasoning":
                break
        assert tiny_engine.running_requests() > 0
    # Wait for both: the engine is briefly idle between two rounds while the selection lives on, and the in-flight
    # gauge drops when the stream is torn down, which can come just before vLLM has processed the aborts.
    deadline = time.monotonic() + 20
    while (_inflight(memory_service) > 0 or tiny_engine.running_requests() > 0) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _inflight(memory_service) == 0
    assert tiny_engine.running_requests() == 0


def _inflight(service) -> float:  # type: ignore[no-untyped-def]
    return _metric(httpx.get(f"{service.url}/metrics", timeout=10).text, "daj_inflight_selections")


def test_metrics_count_requests_judge_calls_and_cache(memory_service) -> None:  # type: ignore[no-untyped-def]
    ok(select(memory_service, candidates=programs(2, uuid.uuid4().hex)))
    text = httpx.get(f"{memory_service.url}/metrics", timeout=10).text
    assert _metric(text, 'daj_judge_calls_total{mode="verdict"}') >= 2
    assert _metric(text, "daj_cache_misses_total") >= 2
    assert 'daj_requests_total{path="/select",status="200"}' in text
    assert "daj_request_latency_seconds_bucket" in text


def _events(response: httpx.Response):  # type: ignore[no-untyped-def]
    name = None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: "):
            yield name, json.loads(line[len("data: "):])


def _metric(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{series} not in metrics")
