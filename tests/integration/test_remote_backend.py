"""DAJ_BACKEND=remote: the service in front of a separately run vLLM OpenAI-compatible server (real, CPU), and
the engine reading a completion stream shaped by hand (multi-line data fields, comments) from a real HTTP server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from daj.protocol import JudgeMode, combine_votes, parse_reasoning_output
from daj.testing.processes import wait_until_ok
from daj.testing.redis_server import free_port
from service.engine.base import EngineError, JudgeCall, JudgeResult
from service.engine.remote import RemoteEngine
from service.testing import InProcessService, start_service

PROBLEM = 'def double(x):\n    """Return 2 * x."""\n'


@pytest.fixture(scope="module")
def vllm_server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("vllm") / "server.log"
    env = {**os.environ, "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True", "VLLM_CPU_KVCACHE_SPACE": "1"}
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(tiny_model_dir),
               "--port", str(port), "--host", "127.0.0.1", "--enable-lora", "--max-lora-rank", "16",
               "--max-model-len", "4096"]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ok(f"{url}/health", 180, process, log_path)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def remote_service(vllm_server: str, loop_thread, base_settings, tiny_model_dir: Path) -> Iterator[InProcessService]:  # type: ignore[no-untyped-def]
    engine = RemoteEngine(vllm_server, tokenizer_path=str(tiny_model_dir))
    settings = base_settings.model_copy(update={"backend": "remote", "remote_url": vllm_server})
    service = start_service(loop_thread, settings, engine)
    yield service
    service.stop()
    loop_thread.run(engine.close())


def _programs(tag: str) -> list[str]:
    return [f"def double(x):\n    # {tag}\n    return {expr}\n" for expr in ("2 * x", "x + x", "x * x")]


@pytest.mark.engine
def test_remote_verdicts_match_the_in_process_engine(remote_service, memory_service) -> None:  # type: ignore[no-untyped-def]
    body = {"problem": PROBLEM, "candidates": _programs(uuid.uuid4().hex), "strategy": "round_robin"}
    remote = httpx.post(f"{remote_service.url}/select", json=body, timeout=120).json()
    local = httpx.post(f"{memory_service.url}/select", json=body, timeout=120).json()
    assert remote["usage"]["judge_calls"] == 6 and remote["winner"] == local["winner"]
    for r, loc in zip(remote["matches"], local["matches"], strict=True):
        assert r["order"] == loc["order"]
        assert r["probability"] == pytest.approx(loc["probability"], abs=0.02)  # same weights, same prompt ids


@pytest.mark.engine
def test_remote_adapter_is_loaded_on_first_use(remote_service) -> None:  # type: ignore[no-untyped-def]
    body = {"problem": PROBLEM, "candidates": _programs(uuid.uuid4().hex)[:2], "orders": "single"}
    base = httpx.post(f"{remote_service.url}/select", json=body, timeout=120).json()
    tuned = httpx.post(f"{remote_service.url}/select", json=body | {"adapter": "tiny"}, timeout=120).json()
    assert tuned["judge"]["adapter"] == "tiny"
    assert tuned["matches"][0]["probability"] != pytest.approx(base["matches"][0]["probability"], abs=1e-4)


@pytest.mark.engine
def test_remote_reasoning_streams_deltas(remote_service) -> None:  # type: ignore[no-untyped-def]
    body = {"problem": PROBLEM, "candidates": _programs(uuid.uuid4().hex)[:2], "mode": "reasoning",
            "max_reasoning_tokens": 16, "votes": 2, "stream": True}
    names = []
    with httpx.stream("POST", f"{remote_service.url}/select", json=body, timeout=120) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("event: "):
                names.append(line[len("event: "):])
            elif line.startswith("data: ") and names[-1] == "result":
                result = json.loads(line[len("data: "):])
    assert names[0] == "start" and names[-1] == "result" and "reasoning" in names
    assert result["usage"]["completion_tokens"] > 0


# ---- the completion stream as an OpenAI-compatible server may legally send it ----

# Two votes. The second chunk's data field spans two `data:` lines (SSE joins them with a newline, which JSON
# reads as whitespace); comment lines come before, between and inside events. A line-by-line `data:` parser
# fails on this body; the shared SSE decoder must not.
UPSTREAM_STREAM = (
    ": an OpenAI-compatible server may send comments\n\n"
    'data: {"choices":[{"index":0,"text":"Both parse.\\n","finish_reason":null}]}\n\n'
    'data: {"choices":[{"index":1,"text":"B drops the sign.\\n",\n'
    ': keep-alive\n'
    'data: "finish_reason":null}]}\n\n'
    ": keep-alive\n\n"
    'data: {"choices":[{"index":0,"text":"Verdict: A","finish_reason":"stop"},\n'
    'data:{"index":1,"text":"Verdict: A","finish_reason":"stop"}]}\n\n'
    'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":11}}\n\n'
    "data: [DONE]\n\n"
)


# The server fails after the first chunk: vLLM's OpenAI server then sends an error object inside the stream.
FAILING_STREAM = (
    'data: {"choices":[{"index":0,"text":"Both parse.\\n","finish_reason":null}]}\n\n'
    'data: {"error":{"message":"engine core died","type":"InternalServerError","code":500}}\n\n'
    "data: [DONE]\n\n"
)


class _Upstream(BaseHTTPRequestHandler):
    """Just enough of vLLM's OpenAI server for RemoteEngine: the model list and one streamed completion."""

    stream = UPSTREAM_STREAM

    def do_GET(self) -> None:
        self._send("application/json", json.dumps({"data": [{"id": "tiny", "parent": None}]}))

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self._send("text/event-stream", self.stream)

    def _send(self, content_type: str, body: str) -> None:
        raw = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: object) -> None:
        return


class _FailingUpstream(_Upstream):
    stream = FAILING_STREAM


@pytest.fixture(params=[_Upstream], ids=["ok"])
def upstream(request: pytest.FixtureRequest) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_remote_engine_reads_multi_line_data_fields_and_skips_comments(upstream: str, tiny_model_dir: Path) -> None:
    call = JudgeCall("r1", [1, 2, 3], JudgeMode.REASONING, votes=2, max_tokens=16, temperature=0.7, adapter=None)
    deltas: list[tuple[int, str]] = []

    async def on_delta(vote: int, text: str) -> None:
        deltas.append((vote, text))

    async def judge() -> JudgeResult:
        engine = RemoteEngine(upstream, tokenizer_path=str(tiny_model_dir))
        try:
            await engine.start()
            return await engine.judge(call, on_delta)
        finally:
            await engine.close()

    result = asyncio.run(judge())
    texts = ["Both parse.\nVerdict: A", "B drops the sign.\nVerdict: A"]
    assert deltas == [(0, "Both parse.\n"), (1, "B drops the sign.\n"), (0, "Verdict: A"), (1, "Verdict: A")]
    assert result.completion_tokens == 11
    assert result.verdict == combine_votes([parse_reasoning_output(t) for t in texts])
    assert result.verdict.choice == "A"


@pytest.mark.parametrize("upstream", [_FailingUpstream], indirect=True, ids=["fails-mid-stream"])
def test_remote_engine_raises_on_an_error_inside_the_stream(upstream: str, tiny_model_dir: Path) -> None:
    """Not a silently unparseable vote: the call fails, and the service answers that selection with a 5xx."""
    call = JudgeCall("r2", [1, 2, 3], JudgeMode.REASONING, votes=1, max_tokens=16, temperature=0.7, adapter=None)

    async def judge() -> JudgeResult:
        engine = RemoteEngine(upstream, tokenizer_path=str(tiny_model_dir))
        try:
            await engine.start()
            return await engine.judge(call)
        finally:
            await engine.close()

    with pytest.raises(EngineError, match=r"failed mid-stream: .*engine core died"):
        asyncio.run(judge())


# ---- the judge tier: several servers as one engine (DAJ_ENGINE_URLS, service/engine/pool.py) ----


@pytest.mark.engine
def test_an_engine_pool_keeps_each_selection_on_one_server_spreads_them_and_fails_over(  # type: ignore[no-untyped-def]
        vllm_server: str, tiny_model_dir: Path, loop_thread) -> None:
    """Three servers: the real vLLM server, a real TCP relay to it (socat, a second address the pool cannot tell
    from a second server; killed later to make it fail), and an address nothing listens on."""
    from daj.protocol import encode_prompt, render_prompt
    from service.engine.pool import EnginePool

    relay_port = free_port()
    upstream = vllm_server.rsplit(":", 1)[1]
    relay = subprocess.Popen(["socat", f"TCP-LISTEN:{relay_port},fork,reuseaddr,bind=127.0.0.1",
                              f"TCP:127.0.0.1:{upstream}"], start_new_session=True)
    relay_url = f"http://127.0.0.1:{relay_port}"
    wait_until_ok(f"{relay_url}/health", 30, relay)
    nowhere = f"http://127.0.0.1:{free_port()}"
    pool = EnginePool([RemoteEngine(url, tokenizer_path=str(tiny_model_dir)) for url in (vllm_server, relay_url,
                                                                                         nowhere)], probe_s=0.5)
    try:
        loop_thread.run(pool.start())
        assert [server["up"] for server in pool.servers()] == [True, True, False]
        ids = encode_prompt(pool.tokenizer, render_prompt(pool.tokenizer, PROBLEM, "def double(x): return 2*x",
                                                          "def double(x): return x*x", JudgeMode.VERDICT))

        def call(selection: str, round_index: int) -> JudgeCall:
            return JudgeCall(f"{selection}-r{round_index}-0v1", ids, JudgeMode.VERDICT, 1, 1, 0.0, None)

        async def selections(names: list[str]) -> list[JudgeResult]:
            # every selection's first call at once (so the load spreads them), then its second call
            first = await asyncio.gather(*(pool.judge(call(name, 0)) for name in names))
            return first + list(await asyncio.gather(*(pool.judge(call(name, 1)) for name in names)))

        names = [f"sel-{uuid.uuid4().hex[:8]}" for _ in range(6)]
        results = loop_thread.run(selections(names))
        assert len(results) == 12 and all(r.verdict.p_a is not None for r in results)
        placed = {name: pool._affinity[name] for name in names}
        assert set(placed.values()) == {0, 1}, placed  # spread over both live servers
        calls = [server["calls"] for server in pool.servers()]
        # two calls per selection, each on its selection's server (its prefix cache)
        assert calls[:2] == [2 * list(placed.values()).count(index) for index in (0, 1)] and calls[2] == 0

        os.killpg(relay.pid, signal.SIGKILL)  # the relay and its per-connection children: open connections drop
        relay.wait(10)
        moved = [name for name, index in placed.items() if index == 1]
        async def third_round() -> list[JudgeResult]:
            return list(await asyncio.gather(*(pool.judge(call(name, 2)) for name in moved)))

        again = loop_thread.run(third_round())
        assert all(r.verdict.p_a is not None for r in again)  # the relay's selections moved to the server
        servers = pool.servers()
        assert [server["up"] for server in servers] == [True, False, False]
        assert servers[0]["calls"] == calls[0] + len(moved) and all(pool._affinity[name] == 0 for name in moved)
        loop_thread.run(pool.check_health())  # one server up is enough
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(relay.pid, signal.SIGKILL)
        loop_thread.run(pool.close())
