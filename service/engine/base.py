"""What the selection service needs from an engine: judge one ordered pair, abort, report health."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from daj.hardware import DtypeChoice
from daj.lora import Adapter
from daj.protocol import JudgeMode, Verdict, choice_token_ids

# (vote index, text delta): reasoning tokens as they are generated, for streaming.
DeltaCallback = Callable[[int, str], Awaitable[None]]


@dataclass(frozen=True)
class JudgeCall:
    """One engine request: one ordered pair (A shown first), K votes."""

    request_id: str
    prompt_token_ids: list[int]
    mode: JudgeMode
    votes: int
    max_tokens: int
    temperature: float
    adapter: Adapter | None


@dataclass(frozen=True)
class JudgeResult:
    verdict: Verdict
    prompt_tokens: int
    completion_tokens: int


class EngineError(RuntimeError):
    """The engine failed one request (the service answers 5xx for that request and keeps serving).

    `server_failed`: the server itself failed (unreachable, the connection dropped, a 5xx), not the request:
    another server of a pool may answer it."""

    def __init__(self, message: str, server_failed: bool = False) -> None:
        super().__init__(message)
        self.server_failed = server_failed


class JudgeEngine(ABC):
    """An engine loaded once at start-up and shared by all requests (continuous batching)."""

    tokenizer: Any
    # The adapter this engine serves folded into its base weights (then no other adapter, nor the bare base).
    merged_adapter: Adapter | None = None
    # The largest LoRA rank it can load (None: no limit it knows of); the adapter registry refuses larger ones.
    max_lora_rank: int | None = None
    # The dtype it computes in and why, once known (None: not chosen yet, or chosen by a remote server).
    dtype_choice: DtypeChoice | None = None
    # Where start() spent its time, by phase, in seconds (empty for an engine that does not say).
    startup_s: Mapping[str, float] = MappingProxyType({})

    @property
    def dead(self) -> bool:
        """The engine loaded once and cannot serve any more (only a restart helps); False for a remote one."""
        return False

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def judge(self, call: JudgeCall, on_delta: DeltaCallback | None = None) -> JudgeResult: ...

    @abstractmethod
    async def abort(self, request_ids: list[str]) -> None: ...

    @abstractmethod
    async def check_health(self) -> None:
        """Raise if the engine cannot serve."""

    @abstractmethod
    def running_requests(self) -> int:
        """Requests the engine is working on now (tests check aborts through this)."""

    @abstractmethod
    async def close(self) -> None: ...

    def abandon_start(self) -> None:
        """Make a `start()` still in progress fail fast (the service is shutting down); nothing by default."""
        return None

    async def first_token_logprobs(
        self, request_id: str, prompt_token_ids: list[int], token_ids: list[int], adapter: Adapter | None = None
    ) -> dict[int, float | None]:
        """Logprobs of ``token_ids`` as the first generated token, with generation restricted to them (so they
        are renormalised over that set); None for a token the engine returned no logprob for. Verdict mode
        is this call with the A/B letters; baselines score other answer words (e.g. Yes/No) the same way."""
        raise EngineError(f"{type(self).__name__} cannot score arbitrary first tokens")

    def choice_token_ids(self) -> tuple[int, int]:
        """Token ids of the verdict letters 'A' and 'B'; each must be a single token of the tokenizer."""
        try:
            return choice_token_ids(self.tokenizer)
        except ValueError as exc:
            raise EngineError(str(exc)) from exc
