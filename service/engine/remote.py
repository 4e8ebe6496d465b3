"""A separately run vLLM server (OpenAI-compatible `/v1/completions`), so daj can front a scaled cluster.

Prompts are rendered and tokenized here with the backbone's tokenizer (the same `daj.protocol` code as the
in-process engine) and sent as token ids, so both backends judge byte-identical prompts. Adapters are
loaded on the server on first use through `/v1/load_lora_adapter` (the server needs
`VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`, and the adapter path must be visible to it), or pre-registered
with `--lora-modules name=path`. Cancelling a call closes its HTTP request, which makes vLLM abort it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
from daj_client.sse import aiter_sse

from daj.lora import Adapter
from daj.protocol import JudgeMode, Verdict, combine_votes, parse_reasoning_output, verdict_from_logprobs
from service.engine.base import DeltaCallback, EngineError, JudgeCall, JudgeEngine, JudgeResult

logger = logging.getLogger(__name__)


class RemoteEngine(JudgeEngine):
    def __init__(self, base_url: str, tokenizer_path: str, api_key: str | None = None, timeout_s: float = 600.0):
        self.base_url = base_url.rstrip("/")
        self.tokenizer_path = tokenizer_path
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=timeout_s)
        self._base_model: str | None = None
        self._loaded_adapters: set[str] = set()
        self._in_flight = 0

    async def start(self) -> None:
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(self.tokenizer_path)
        self._choice_ids = self.choice_token_ids()
        response = await self._client.get("/v1/models")
        response.raise_for_status()
        models = response.json().get("data", [])
        bases = [m for m in models if not m.get("parent")]
        if not bases:
            raise EngineError(f"{self.base_url}/v1/models lists no base model")
        self._base_model = bases[0]["id"]
        self._loaded_adapters = {m["id"] for m in models if m.get("parent")}

    async def _ensure_adapter(self, adapter: Adapter) -> str:
        if adapter.name not in self._loaded_adapters:
            response = await self._client.post(
                "/v1/load_lora_adapter", json={"lora_name": adapter.name, "lora_path": str(adapter.path)}
            )
            if response.status_code >= 400 and "already" not in response.text.lower():
                raise EngineError(f"remote server refused adapter {adapter.name}: {response.text[:300]}")
            self._loaded_adapters.add(adapter.name)
        return adapter.name

    async def judge(self, call: JudgeCall, on_delta: DeltaCallback | None = None) -> JudgeResult:
        model = await self._ensure_adapter(call.adapter) if call.adapter else self._base_model
        self._in_flight += 1
        try:
            if call.mode is JudgeMode.VERDICT:
                return await self._judge_verdict(call, model)
            return await self._judge_reasoning(call, model, on_delta)
        except httpx.HTTPError as exc:
            raise EngineError(f"remote engine failed request {call.request_id}: {type(exc).__name__}: {exc}",
                              server_failed=True) from exc
        finally:
            self._in_flight -= 1

    async def _judge_verdict(self, call: JudgeCall, model: str | None) -> JudgeResult:
        ids = list(self._choice_ids)
        body = {"model": model, "prompt": call.prompt_token_ids, "max_tokens": 1, "temperature": 0.0,
                "allowed_token_ids": ids, "logprob_token_ids": ids, "logprobs": len(ids)}
        response = await self._client.post("/v1/completions", json=body, headers={"X-Request-Id": call.request_id})
        if response.status_code >= 400:
            raise EngineError(f"remote engine answered {response.status_code}: {response.text[:300]}",
                              server_failed=response.status_code >= 500)
        payload = response.json()
        top = (payload["choices"][0].get("logprobs") or {}).get("top_logprobs") or [None]
        first: dict[str, float] = top[0] or {}
        verdict = verdict_from_logprobs(first.get("A"), first.get("B"))
        prompt_tokens = int(payload.get("usage", {}).get("prompt_tokens", len(call.prompt_token_ids)))
        return JudgeResult(verdict, prompt_tokens, 1)

    async def _judge_reasoning(self, call: JudgeCall, model: str | None, on_delta: DeltaCallback | None) -> JudgeResult:
        body = {"model": model, "prompt": call.prompt_token_ids, "max_tokens": call.max_tokens, "n": call.votes,
                "temperature": call.temperature, "stream": True, "stream_options": {"include_usage": True}}
        texts = [""] * call.votes
        truncated = [False] * call.votes
        completion_tokens = 0
        async with self._client.stream("POST", "/v1/completions", json=body,
                                       headers={"X-Request-Id": call.request_id}) as response:
            if response.status_code >= 400:
                raise EngineError(f"remote engine answered {response.status_code}: {(await response.aread())[:300]!r}",
                                  server_failed=response.status_code >= 500)
            async for chunk in _sse_chunks(response):
                if chunk.get("error"):  # the server failed mid-stream: the votes so far are not an answer
                    raise EngineError(f"remote engine failed mid-stream: {str(chunk['error'])[:300]}")
                for choice in chunk.get("choices", []):
                    index, text = int(choice.get("index", 0)), choice.get("text") or ""
                    texts[index] += text
                    truncated[index] = truncated[index] or choice.get("finish_reason") == "length"
                    if on_delta is not None and text:
                        await on_delta(index, text)
                if chunk.get("usage"):
                    completion_tokens = int(chunk["usage"].get("completion_tokens", 0))
        votes: list[Verdict] = [parse_reasoning_output(t, truncated=c) for t, c in zip(texts, truncated, strict=True)]
        return JudgeResult(combine_votes(votes), len(call.prompt_token_ids), completion_tokens)

    async def abort(self, request_ids: list[str]) -> None:
        # Cancelling the task that owns a call closes its connection; vLLM aborts requests whose client left.
        return None

    async def check_health(self) -> None:
        try:
            response = await self._client.get("/health", timeout=5)
        except httpx.HTTPError as exc:
            raise EngineError(f"remote engine unreachable: {exc}") from exc
        if response.status_code != 200:
            raise EngineError(f"remote engine /health answered {response.status_code}")

    def running_requests(self) -> int:
        return self._in_flight

    async def close(self) -> None:
        await self._client.aclose()


async def _sse_chunks(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The JSON chunks of an OpenAI-compatible completion stream, up to its `[DONE]`. Decoded by the SDK's SSE
    decoder (one decoder for both ends), so a data field split over several lines and comments are handled."""
    async for message in aiter_sse(response.aiter_lines()):
        if message.data.strip() == "[DONE]":
            return
        if message.data.strip():  # an event with no data (a bare `event:` line) carries no chunk
            yield json.loads(message.data)
