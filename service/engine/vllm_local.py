"""vLLM in the service process (`AsyncLLM`): continuous batching across all requests, LoRA per request.

With ``merged_adapter`` the engine folds that adapter into the base weights at start-up (cached by content hash
under ``merge_cache_dir``) and serves it without LoRA kernels: on CPU, vLLM's LoRA path is ~88x slower per call.

Verdict mode asks for exactly one token restricted to {A, B} (`allowed_token_ids`) and reads both
logprobs (`logprob_token_ids`), so P(A) is exact and no grammar engine is involved. Reasoning mode samples
free text (`n` = votes) and streams deltas.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from daj.lora import Adapter
from daj.protocol import JudgeMode, Verdict, combine_votes, parse_reasoning_output, verdict_from_logprobs
from service.engine.base import DeltaCallback, EngineError, JudgeCall, JudgeEngine, JudgeResult

logger = logging.getLogger(__name__)


class VllmEngine(JudgeEngine):
    def __init__(
        self,
        model_path: str,
        max_model_len: int,
        kv_cache_gib: int = 1,
        max_lora_rank: int = 64,
        max_loras: int = 4,
        merged_adapter: Adapter | None = None,
        merge_cache_dir: Path | None = None,
    ) -> None:
        if merged_adapter is not None and merge_cache_dir is None:
            raise ValueError("merged_adapter needs merge_cache_dir (where the merged weights are kept)")
        self.model_path = model_path
        self.merged_adapter = merged_adapter
        self.merge_cache_dir = merge_cache_dir
        self.max_model_len = max_model_len
        self.kv_cache_gib = kv_cache_gib
        self.max_lora_rank = max_lora_rank
        self.max_loras = max_loras
        self._llm: Any = None
        self._choice_ids: tuple[int, int] | None = None

    async def start(self) -> None:
        if self._llm is not None:  # already loaded (an engine shared by several apps)
            return
        from transformers import AutoTokenizer

        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(self.kv_cache_gib))
        if self.merged_adapter is not None:
            self.model_path = await asyncio.to_thread(self._merge, self.merged_adapter)
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        self._choice_ids = self.choice_token_ids()
        # Building the engine blocks for ~20 s (it spawns the engine-core process): keep the loop free so
        # /health keeps answering meanwhile. The thread itself stores the engine, so a shutdown that arrives
        # mid-build still finds it and shuts it down (no orphaned engine processes).
        await asyncio.to_thread(self._build)

    def _merge(self, adapter: Adapter) -> str:
        from daj.lora import cached_merge

        assert self.merge_cache_dir is not None  # checked in __init__
        folder = cached_merge(adapter.path, Path(self.model_path), self.merge_cache_dir, adapter.content_hash)
        logger.info("serving adapter %s merged into the base weights (%s)", adapter.name, folder)
        return str(folder)

    def _build(self) -> None:
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        args = AsyncEngineArgs(
            model=self.model_path,
            max_model_len=self.max_model_len,
            enable_lora=self.merged_adapter is None,
            max_lora_rank=self.max_lora_rank,
            max_loras=self.max_loras,
            enable_prefix_caching=True,
            disable_log_stats=True,
        )
        self._llm = AsyncLLM.from_engine_args(args)

    def _reasoning_params(self, call: JudgeCall) -> Any:
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        return SamplingParams(
            n=call.votes,
            max_tokens=call.max_tokens,
            temperature=call.temperature,
            output_kind=RequestOutputKind.DELTA,
        )

    def _lora_request(self, adapter: Adapter | None) -> Any:
        if self.merged_adapter is not None:
            if adapter is None or adapter.content_hash != self.merged_adapter.content_hash:
                asked = adapter.name if adapter else "the base model"
                raise EngineError(f"this engine serves only adapter {self.merged_adapter.name!r} (merged), "
                                  f"not {asked}")
            return None  # already in the weights
        if adapter is None:
            return None
        from vllm.lora.request import LoRARequest

        return LoRARequest(adapter.name, adapter.int_id, str(adapter.path))

    async def judge(self, call: JudgeCall, on_delta: DeltaCallback | None = None) -> JudgeResult:
        if call.mode is JudgeMode.VERDICT:  # one token restricted to {A, B}: exactly first_token_logprobs
            if self._choice_ids is None:
                raise EngineError("engine is not loaded")
            id_a, id_b = self._choice_ids
            logprobs = await self.first_token_logprobs(
                call.request_id, call.prompt_token_ids, [id_a, id_b], call.adapter
            )
            return JudgeResult(verdict_from_logprobs(logprobs[id_a], logprobs[id_b]), len(call.prompt_token_ids), 1)
        prompt, params = self._prompt(call.prompt_token_ids), self._reasoning_params(call)
        async with self._engine_errors(call.request_id):
            return await self._judge_reasoning(call, prompt, params, on_delta)

    async def first_token_logprobs(
        self, request_id: str, prompt_token_ids: list[int], token_ids: list[int], adapter: Adapter | None = None
    ) -> dict[int, float | None]:
        from vllm import SamplingParams

        prompt = self._prompt(prompt_token_ids)
        ids = list(token_ids)
        params = SamplingParams(
            max_tokens=1, temperature=0.0, allowed_token_ids=ids, logprob_token_ids=ids, logprobs=len(ids)
        )
        async with self._engine_errors(request_id):
            final = None
            async for output in self._llm.generate(
                prompt, params, request_id=request_id, lora_request=self._lora_request(adapter)
            ):
                final = output
            if final is None or not final.outputs or not final.outputs[0].logprobs:
                raise EngineError(f"engine returned no logprobs for {request_id}")
            first = final.outputs[0].logprobs[0]
            return {token: (first[token].logprob if token in first else None) for token in ids}

    def _prompt(self, prompt_token_ids: list[int]) -> Any:
        if self._llm is None:
            raise EngineError("engine is not loaded")
        from vllm.inputs import TokensPrompt

        return TokensPrompt(prompt_token_ids=prompt_token_ids)

    @contextlib.asynccontextmanager
    async def _engine_errors(self, request_id: str) -> AsyncIterator[None]:
        """A vLLM failure for this one request becomes an EngineError (the service answers 5xx and serves on)."""
        try:
            yield
        except (asyncio.CancelledError, EngineError):
            raise
        except Exception as exc:
            raise EngineError(f"engine failed request {request_id}: {type(exc).__name__}: {exc}") from exc

    async def _judge_reasoning(
        self, call: JudgeCall, prompt: Any, params: Any, on_delta: DeltaCallback | None
    ) -> JudgeResult:
        texts = [""] * call.votes
        token_counts = [0] * call.votes
        truncated = [False] * call.votes
        async for output in self._llm.generate(
            prompt, params, request_id=call.request_id, lora_request=self._lora_request(call.adapter)
        ):
            for sample in output.outputs:
                texts[sample.index] += sample.text
                token_counts[sample.index] += len(sample.token_ids)
                if sample.finish_reason == "length":
                    truncated[sample.index] = True
                if on_delta is not None and sample.text:
                    await on_delta(sample.index, sample.text)
        votes: list[Verdict] = [
            parse_reasoning_output(text, truncated=cut) for text, cut in zip(texts, truncated, strict=True)
        ]
        return JudgeResult(combine_votes(votes), len(call.prompt_token_ids), sum(token_counts))

    async def abort(self, request_ids: list[str]) -> None:
        if self._llm is not None and request_ids:
            await self._llm.abort(request_ids)

    @property
    def dead(self) -> bool:
        return self._llm is not None and bool(self._llm.errored)

    async def check_health(self) -> None:
        if self._llm is None:
            raise EngineError("engine is not loaded")
        if self._llm.errored:
            raise EngineError(f"engine is dead: {self._llm.dead_error}")

    def running_requests(self) -> int:
        """Unfinished requests inside vLLM itself (not our own bookkeeping), so an abort is visible."""
        if self._llm is None:
            return 0
        return int(self._llm.output_processor.get_num_unfinished_requests())

    async def close(self) -> None:
        if self._llm is not None:
            llm, self._llm = self._llm, None
            await asyncio.to_thread(llm.shutdown)
            # Drop the last reference now: AsyncLLM.__del__ shuts down again, which fails noisily if it only
            # runs at interpreter exit, after the modules it needs are gone.
            del llm
            gc.collect()
