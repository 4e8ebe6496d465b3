"""The service's public models: the `/select` request, its response, and the SSE events of a stream.

These are the API contract (the client SDK mirrors them; a contract test keeps the two in step).
Limits that depend on settings (number of candidates, characters per field, context length) are checked
by the selection service and answered with a 422 naming the field.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

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


class ProgramShapeName(StrEnum):
    FUNCTION = "function"  # a top-level function called with literal arguments
    STDIN = "stdin"  # a whole program: standard input in, standard output out
    METHOD = "method"  # a LeetCode-style `class Solution` method


class CallerTest(BaseModel):
    """A test as data: a whole program's `stdin` and the `stdout` it must print, or a call's `args` and the
    `expected` result (JSON values). For a method, `stdin` may be LiveCodeBench's functional format: one JSON
    value per argument, one per line, and `stdout` the JSON result."""

    model_config = ConfigDict(extra="forbid")

    stdin: str | None = None
    stdout: str | None = None
    args: list[JsonValue] | None = None
    expected: JsonValue = None

    @model_validator(mode="after")
    def _one_form(self) -> CallerTest:
        if (self.stdin is None) == (self.args is None):
            raise ValueError("give either `stdin` (with `stdout`) or `args` (with `expected`)")
        if self.stdin is not None and "expected" in self.model_fields_set:
            raise ValueError("`expected` goes with `args`; a `stdin` test gives `stdout`")
        if self.args is not None and self.stdout is not None:
            raise ValueError("`stdout` goes with `stdin`; an `args` test gives `expected`")
        return self


class CallerInput(BaseModel):
    """An input as data, without an expected result: a whole program's `stdin`, or a call's `args`."""

    model_config = ConfigDict(extra="forbid")

    stdin: str | None = None
    args: list[JsonValue] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> CallerInput:
        if (self.stdin is None) == (self.args is None):
            raise ValueError("give either `stdin` or `args`")
        return self


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
    shape: ProgramShapeName | None = Field(
        None, description="How the candidates are called: function, stdin or method; detected when absent."
    )
    tests: Annotated[
        list[str | CallerTest],
        Field(description="Tests every correct candidate passes: assert statements (`assert f(2) == 4`), "
              "`{stdin, stdout}` or `{args, expected}`."),
    ] = []
    inputs: Annotated[
        list[str | CallerInput],
        Field(description="Inputs to run the candidates on (no expected result): argument lists (`[1, 2], 3`), a "
              "stdin program's input text, `{stdin}` or `{args}`."),
    ] = []
    time_limit_s: Annotated[
        float | None,
        Field(gt=0, le=30, description="CPU seconds per probe; default: the statement's time limit, else 2 s for "
              "whole programs and the server's per-call limit for functions and methods."),
    ] = None
    checker: str | None = Field(
        None, description="stdin programs: a Python program run as `checker INPUT OUTPUT ANSWER` (three file "
        "paths; ANSWER is empty when there is no expected output) that exits 0 when the output is valid, as testlib "
        "checkers do. Outputs are then judged by it, not compared, so problems with several answers get checks."
    )
    input_generator: str | None = Field(
        None, description="A Python program that prints one valid input, seeded by `argv[1]` (stdin: the whole "
        "input; method: one JSON value per argument per line; function: an argument list). It runs in the sandbox "
        "under its own limits, `generated_inputs` times; its outputs are inputs without expected results."
    )
    generated_inputs: Annotated[
        int | None, Field(ge=1, le=64, description="How many inputs the input_generator makes (seeds 0..K-1).")
    ] = None
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
    cpu_s: float | None = Field(None, description="Most CPU seconds one probe took (whole programs only).")
    timeouts: int = Field(0, description="Probes that ran past the time limit.")


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


class GeneratorReport(BaseModel):
    """The request's input generator: its runs, and the inputs it added."""

    runs: int = Field(description="Seeds run.")
    inputs: int = Field(description="Inputs added as probes.")
    rejected: int = Field(description="Outputs that were not a valid input for the shape, or repeated a probe.")
    failures: list[str] = Field(default_factory=list, description="Seeds whose run failed, and how "
                                "(`seed 3: timeout`).")
    elapsed_ms: float = 0.0


class ExecutionReport(BaseModel):
    """What execution did for the selection (or why it did not run)."""

    status: Literal["ran", "off", "skipped"]
    reason: str | None = Field(None, description="Why execution was skipped or off.")
    shape: str | None = Field(None, description="How the candidates were called: function, stdin or method.")
    entry_point: str | None = None
    time_limit_s: float | None = Field(None, description="CPU seconds per probe.")
    notes: list[str] = Field(default_factory=list, description="What to know about the probes, e.g. that the "
                             "statement allows several answers, so its sample outputs are not checks.")
    generator: GeneratorReport | None = Field(None, description="What the request's input_generator did.")
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


class ExecutorInfo(BaseModel):
    """One executor service (`DAJ_EXECUTOR_URLS`) as the API sees it."""

    url: str = Field(description="Its URL; one found through `dns+http://name:port` reads `<entry> at <address>`.")
    up: bool
    capacity: int = Field(description="Runs it takes at once (its DAJ_EXECUTION_WORKERS).")
    outstanding: int = Field(description="Jobs of this API running or queued there now.")
    error: str | None = Field(None, description="Why it is down.")


class ReadyResponse(BaseModel):
    """`GET /ready` once the judge is loaded."""

    status: Literal["ready"] = "ready"
    engine: Literal["ok"] = "ok"
    cache: str = Field(description="`redis` or `memory`")
    sandbox: str = Field(description="`ok`; `degraded: <what is down>` (some executors down, requests still "
                         "served); or `unavailable: <why>` (selections then run on the judge alone)")
    dtype: str | None = Field(None, description="The dtype the judge computes in (None: a remote server's choice).")
    dtype_reason: str | None = Field(None, description="Why that dtype: DAJ_DTYPE, or what `auto` saw.")
    engine_load_s: float | None = Field(None, description="Seconds from the start of loading to ready.")
    startup_s: dict[str, float] = Field(default_factory=dict, description="Where loading spent its time, by "
                                        "phase (dtype, merge, tokenizer, engine, warm_up), in seconds.")
    executors: list[ExecutorInfo] = Field(default_factory=list, description="The executor services candidates "
                                          "run on (empty: in this process).")


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
