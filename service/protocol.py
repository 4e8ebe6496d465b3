"""The service's public models: the `/select` request, its response, and the SSE events of a stream.

These are the API contract (the client SDK mirrors them; a contract test keeps the two in step).
Limits that depend on settings (number of candidates, characters per field, context length) are checked
by the selection service and answered with a 422 naming the field.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from daj.protocol import JudgeMode


class Strategy(StrEnum):
    KNOCKOUT = "knockout"
    ROUND_ROBIN = "round_robin"


class Orders(StrEnum):
    BOTH = "both"  # each match judged as (A, B) and (B, A): cancels position bias
    SINGLE = "single"  # (A, B) only: half the judge calls


class Candidate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(min_length=1, max_length=256, description="Caller's id for this candidate.")]
    code: Annotated[str, Field(description="The full program.")]


class SelectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    problem: Annotated[str, Field(description="Problem statement (e.g. signature and docstring).")]
    candidates: Annotated[
        list[str | Candidate],
        Field(
            min_length=2,
            description="2..max_candidates programs: strings (id = position) or {id, code} objects.",
        ),
    ]
    strategy: Strategy = Field(Strategy.KNOCKOUT, description="Tournament: knockout or round_robin.")
    orders: Orders = Field(Orders.BOTH, description="Judge each match in both orders (default) or once.")
    votes: Annotated[int, Field(ge=1, le=16, description="Samples per order (reasoning mode).")] = 1
    mode: JudgeMode = Field(JudgeMode.VERDICT, description="verdict: one token A/B; reasoning: text + verdict.")
    max_reasoning_tokens: Annotated[int, Field(ge=16, le=4096, description="Token budget per reasoning.")] = 256
    adapter: Annotated[str | None, Field(max_length=128, description="LoRA adapter name; default from settings.")] = (
        None
    )
    stream: bool = Field(False, description="Stream server-sent events instead of one JSON response.")


class Winner(BaseModel):
    index: int
    id: str


class RankedCandidate(BaseModel):
    index: int
    id: str
    rank: int = Field(description="1 = the winner.")
    score: float = Field(description="Sum of the candidate's win probabilities over its matches.")
    wins: int
    losses: int
    duplicate_of: int | None = Field(None, description="Index of the identical candidate that was judged instead.")


class Judgment(BaseModel):
    """One judge call: one ordered pair."""

    round: int
    pair: tuple[int, int] = Field(description="Candidate indices of the match.")
    order: tuple[int, int] = Field(description="Candidate shown as A, then as B.")
    verdict: Literal["A", "B", "unparseable"]
    probability: float | None = Field(description="Judge's probability that the candidate shown as A is correct.")
    reasoning: str | None = None
    cached: bool


class MatchResult(BaseModel):
    """A match after both orders are merged."""

    round: int
    pair: tuple[int, int]
    winner: int
    probability: float = Field(description="Probability that pair[0] beats pair[1] (orders averaged).")
    decided_by: Literal["judge", "tie_rule"]


class Usage(BaseModel):
    judge_calls: int = Field(description="Engine calls made (cache hits excluded).")
    cache_hits: int
    prompt_tokens: int
    completion_tokens: int
    elapsed_ms: float


class JudgeInfo(BaseModel):
    model: str
    adapter: str | None
    adapter_hash: str | None
    prompt_version: str


class SelectResponse(BaseModel):
    winner: Winner
    ranking: list[RankedCandidate]
    matches: list[Judgment]
    results: list[MatchResult]
    usage: Usage
    judge: JudgeInfo
    strategy: Strategy
    mode: JudgeMode


# ---- Server-sent events of a streamed selection (`stream: true`) ----


class StartEvent(BaseModel):
    candidates: int
    unique_candidates: int
    strategy: Strategy
    judge: JudgeInfo


class MatchStartEvent(BaseModel):
    round: int
    pair: tuple[int, int]
    order: tuple[int, int]


class ReasoningEvent(BaseModel):
    round: int
    order: tuple[int, int]
    vote: int
    delta: str


class RoundEndEvent(BaseModel):
    round: int
    results: list[MatchResult]
    remaining: list[int] = Field(description="Candidates still in the tournament after this round.")


EVENT_NAMES = ("start", "match_start", "reasoning", "verdict", "round_end", "result", "error")
