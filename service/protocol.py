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


class ExecutionMode(StrEnum):
    AUTO = "auto"  # run the candidates when the sandbox works and an entry point is found, else judge only
    OFF = "off"  # judge only
    REQUIRED = "required"  # run them, or fail the request (503 without a sandbox, 422 without an entry point)


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
    execution: ExecutionMode = Field(
        ExecutionMode.AUTO, description="Run the candidates on examples, tests and generated inputs first."
    )
    entry_point: Annotated[
        str | None,
        Field(max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
              description="The function the candidates implement; inferred from the problem when absent."),
    ] = None
    tests: Annotated[
        list[str], Field(description="Assert statements every correct candidate passes, e.g. `assert f(2) == 4`.")
    ] = []
    inputs: Annotated[
        list[str], Field(description="Argument lists to run the candidates on (no expected result), e.g. `[1, 2], 3`.")
    ] = []
    execution_budget_s: Annotated[
        float | None, Field(gt=0, description="Time budget for running the candidates; capped by the server.")
    ] = None


class Winner(BaseModel):
    index: int
    id: str
    reason: str = Field("", description="Why it won, in one line.")


class Failure(BaseModel):
    """The first example or test a candidate fails: enough to repair the program."""

    input: str = Field(description="The expression or assert statement that was run.")
    expected: str | None = Field(description="What it should give (None for an assert statement).")
    actual: str = Field(description="What the candidate gave: a value, `raise <Type>`, `timeout` or `failed`.")


class ExecutionSummary(BaseModel):
    """How one candidate behaved in the sandbox."""

    status: str = Field(description="Sandbox status: passed, failed, error, syntax_error, timeout, killed.")
    examples_passed: int
    examples_total: int
    tests_passed: int
    tests_total: int
    first_failure: Failure | None = None


class RankedCandidate(BaseModel):
    index: int
    id: str
    rank: int = Field(description="1 = the winner.")
    score: float = Field(description="Sum of the candidate's win probabilities over its matches.")
    wins: int
    losses: int
    duplicate_of: int | None = Field(None, description="Index of the identical candidate that was judged instead.")
    cluster: int | None = Field(None, description="Behaviour cluster (same output on every probe); None unrun.")
    execution: ExecutionSummary | None = Field(None, description="None when the candidates were not run.")


class Cluster(BaseModel):
    """Candidates that behave the same on every probe."""

    id: int
    members: list[int] = Field(description="Candidate indices, request order.")
    checks_passed: int = Field(description="Examples and tests its members pass.")
    top_group: bool = Field(description="In the group that passes the most examples and tests.")


class ProbeCounts(BaseModel):
    examples: int
    tests: int
    inputs: int = Field(description="Caller and generated inputs run (after dropping the ones every leader raises on).")
    dropped_inputs: int = Field(description="Inputs on which every top-group candidate raised: likely invalid.")


class ExecutionReport(BaseModel):
    """What execution did for the selection (or why it did not run)."""

    status: Literal["ran", "off", "skipped"]
    reason: str | None = Field(None, description="Why execution was skipped or off.")
    entry_point: str | None = None
    probes: ProbeCounts | None = None
    clusters: list[Cluster] = []
    runs: int = Field(0, description="Sandbox runs (one per distinct candidate; cache hits excluded).")
    cached_runs: int = 0
    elapsed_ms: float = 0.0


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
    probability: float = Field(description="Probability that pair[0] beats pair[1] (orders averaged); for a "
                               "consensus decision, pair[0]'s share of the two clusters' candidates.")
    decided_by: Literal["judge", "consensus", "tie_rule"] = Field(
        description="judge; consensus (the judge was unsure, the larger behaviour cluster won); tie_rule."
    )
    evidence: int = Field(0, description="Inputs on which the two disagree that the judge was shown.")


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
    no_candidate_passes: bool = Field(
        False, description="No candidate passes every example and test: sample again or repair."
    )
    execution: ExecutionReport
    ranking: list[RankedCandidate]
    matches: list[Judgment]
    results: list[MatchResult]
    usage: Usage
    judge: JudgeInfo
    strategy: Strategy
    mode: JudgeMode


# ---- Server-sent events of a streamed selection (`stream: true`) ----


class ReadyResponse(BaseModel):
    """`GET /ready` once the judge is loaded."""

    status: Literal["ready"] = "ready"
    engine: Literal["ok"] = "ok"
    cache: str = Field(description="`redis` or `memory`")
    sandbox: str = Field(description="`ok`, or `unavailable: <why>` (selections then run on the judge alone)")
    dtype: str | None = Field(None, description="The dtype the judge computes in (None: a remote server's choice).")
    dtype_reason: str | None = Field(None, description="Why that dtype: DAJ_DTYPE, or what `auto` saw.")
    engine_load_s: float | None = Field(None, description="Seconds from the start of loading to ready.")
    startup_s: dict[str, float] = Field(default_factory=dict, description="Where loading spent its time, by "
                                        "phase (dtype, merge, tokenizer, engine, warm_up), in seconds.")


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


class ClustersEvent(BaseModel):
    clusters: list[Cluster]
    players: list[int] = Field(description="Cluster representatives the judge will compare.")


EVENT_NAMES = ("start", "execution", "clusters", "match_start", "reasoning", "verdict", "round_end", "result",
               "error")
