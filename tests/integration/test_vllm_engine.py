"""The in-process vLLM engine on a tiny real model: verdict logprobs, LoRA per request, reasoning, abort."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from daj.lora import Adapter, adapter_content_hash
from daj.protocol import JudgeMode, encode_prompt, render_prompt
from daj.testing.loop_thread import LoopThread
from service.engine.base import EngineError, JudgeCall

pytestmark = pytest.mark.engine

PROBLEM = 'def inc(x):\n    """Return x + 1."""\n'


def _call(engine, request_id: str, a: str, b: str, mode=JudgeMode.VERDICT, adapter=None, votes=1, max_tokens=32):  # type: ignore[no-untyped-def]
    ids = encode_prompt(engine.tokenizer, render_prompt(engine.tokenizer, PROBLEM, a, b, mode))
    return JudgeCall(request_id, ids, JudgeMode(mode), votes, max_tokens, 0.8 if votes > 1 else 0.0, adapter)


def test_verdict_mode_reads_a_probability_over_the_two_letters(tiny_engine, loop_thread: LoopThread) -> None:  # type: ignore[no-untyped-def]
    async def run_batch():  # type: ignore[no-untyped-def]
        right = "def inc(x): return x + 1"
        calls = [_call(tiny_engine, f"v{i}", f"def inc(x): return x + {i}", right) for i in range(6)]
        return await asyncio.gather(*(tiny_engine.judge(c) for c in calls))

    results = loop_thread.run(run_batch())
    for result in results:
        assert result.verdict.choice in ("A", "B")
        assert result.verdict.p_a is not None and 0.0 < result.verdict.p_a < 1.0
        assert (result.verdict.p_a >= 0.5) == (result.verdict.choice == "A")
        assert result.completion_tokens == 1 and result.prompt_tokens > 50


def test_a_lora_adapter_changes_the_verdict_probability(tiny_engine, tiny_lora_dir: Path, loop_thread) -> None:  # type: ignore[no-untyped-def]
    adapter = Adapter("tiny", tiny_lora_dir, adapter_content_hash(tiny_lora_dir), 1)
    wrong, right = "def inc(x): return x", "def inc(x): return x+1"
    base = loop_thread.run(tiny_engine.judge(_call(tiny_engine, "base", wrong, right)))
    tuned = loop_thread.run(tiny_engine.judge(_call(tiny_engine, "lora", wrong, right, adapter=adapter)))
    assert base.verdict.p_a is not None and tuned.verdict.p_a is not None
    assert abs(base.verdict.p_a - tuned.verdict.p_a) > 1e-3


def test_reasoning_mode_streams_deltas_for_each_vote(tiny_engine, loop_thread) -> None:  # type: ignore[no-untyped-def]
    deltas: dict[int, str] = {0: "", 1: ""}

    async def collect(index: int, text: str) -> None:
        deltas[index] += text

    call = _call(tiny_engine, "r1", "def inc(x): return x", "def inc(x): return x + 1", JudgeMode.REASONING, votes=2)
    result = loop_thread.run(tiny_engine.judge(call, on_delta=collect))
    assert result.completion_tokens > 0
    assert deltas[0] and deltas[1]
    # A random-init model does not write a verdict line: the parser reports that instead of guessing.
    assert result.verdict.choice in ("A", "B", "unparseable")
    assert result.verdict.reasoning is not None


def test_abort_stops_the_engine_request(tiny_engine, loop_thread) -> None:  # type: ignore[no-untyped-def]
    call = _call(tiny_engine, "long", "def inc(x): return x", "def inc(x): return 2", JudgeMode.REASONING,
                 max_tokens=3000)
    future = loop_thread.submit(tiny_engine.judge(call))
    deadline = time.monotonic() + 30
    while tiny_engine.running_requests() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tiny_engine.running_requests() == 1
    loop_thread.run(tiny_engine.abort(["long"]))
    deadline = time.monotonic() + 10
    while tiny_engine.running_requests() > 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tiny_engine.running_requests() == 0
    # The aborted call ends (it does not hang): with a partial result or an engine error, never 3000 tokens.
    with contextlib.suppress(EngineError):
        assert future.result(timeout=10).completion_tokens < 3000
