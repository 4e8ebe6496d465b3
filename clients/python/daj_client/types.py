"""Typed mirrors of the service's public models (`service/protocol.py`, `service/rewards/protocol.py`,
`service/errors.py`).

The SDK cannot import the service (it installs without it), so the models are copied here and
`tests/clients/test_contract.py` checks that field names, required-ness and types stay in step.

Two deliberate differences from the server's models:

- Response models accept unknown fields (`extra="allow"`): a newer server may add fields without breaking
  an older client.
- The request models carry no limits (votes <= 16, max candidates, `entry_point`'s pattern, a positive
  `execution_budget_s`, `time_limit_s` <= 30, at least one reward item and completion, ...): many depend on the
  server's settings, so the server is the single judge of them and answers a 422 naming the field. (The form
  of a `tests` or `inputs` object, `stdin` or `args` but not both, is the API's shape rather than a limit: it is
  checked here too.)
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator


class Strategy(StrEnum):
    KNOCKOUT = "knockout"
    ROUND_ROBIN = "round_robin"


class Orders(StrEnum):
    BOTH = "both"
    SINGLE = "single"


class JudgeMode(StrEnum):
    VERDICT = "verdict"
    REASONING = "reasoning"


class ExecutionMode(StrEnum):
    AUTO = "auto"  # run the candidates when the server's sandbox works and an entry point is found, else judge only
    OFF = "off"  # judge only
    REQUIRED = "required"  # run them, or fail the request (503 without a sandbox, 422 without an entry point)


class _Request(BaseModel):
    """Requests are strict: a misspelt option fails here, before a round trip."""

    model_config = ConfigDict(extra="forbid")


class _Response(BaseModel):
    """Responses are tolerant: fields a newer server adds are kept, not rejected."""

    model_config = ConfigDict(extra="allow")


class Candidate(_Request):
    id: str = Field(description="Caller's id for this candidate.")
    code: str = Field(description="The full program.")


class ProgramShape(StrEnum):
    """How the candidates are called (the server's `ProgramShapeName`)."""

    FUNCTION = "function"  # a top-level function called with literal arguments
    STDIN = "stdin"  # a whole program: standard input in, standard output out
    METHOD = "method"  # a LeetCode-style `class Solution` method


class CallerTest(_Request):
    """A test as data: a whole program's `stdin` and the `stdout` it must print, or a call's `args` and the
    `expected` result (JSON values). For a method, `stdin` may be LiveCodeBench's functional format: one JSON
    value per argument, one per line, and `stdout` the JSON result.

    `CallerTest(stdin="1 2\\n", stdout="3\\n")`, `CallerTest(args=[[2, 7, 11, 15], 9], expected=[0, 1])`; an
    `expected` of None is sent only when given (`expected=None`: the call must return None)."""

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


class CallerInput(_Request):
    """An input as data, without an expected result: a whole program's `stdin`, or a call's `args`."""

    stdin: str | None = None
    args: list[JsonValue] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> CallerInput:
        if (self.stdin is None) == (self.args is None):
            raise ValueError("give either `stdin` or `args`")
        return self


class SelectRequest(_Request):
    """Body of `POST /v1/select`. Defaults mirror the server's; the client sends only the options set."""

    problem: str = Field(description="Problem statement (e.g. signature and docstring).")
    candidates: list[str | Candidate] = Field(description="Programs: strings (id = position) or {id, code}.")
    strategy: Strategy = Strategy.KNOCKOUT
    orders: Orders = Orders.BOTH
    votes: int = 1
    mode: JudgeMode = JudgeMode.VERDICT
    max_reasoning_tokens: int = 256
    adapter: str | None = None
    stream: bool = False
    execution: ExecutionMode = Field(
        ExecutionMode.AUTO, description="Run the candidates on examples, tests and generated inputs first."
    )
    entry_point: str | None = Field(
        None, description="The function the candidates implement; inferred from the problem when absent."
    )
    shape: ProgramShape | None = Field(
        None, description="How the candidates are called: function, stdin or method; detected when absent."
    )
    tests: list[str | CallerTest] = Field(
        [], description="Tests every correct candidate passes: assert statements, {stdin, stdout} or {args, expected}."
    )
    inputs: list[str | CallerInput] = Field(
        [], description="Inputs without an expected result: argument lists (`[1, 2], 3`), stdin text, {stdin}, {args}."
    )
    time_limit_s: float | None = Field(
        None, description="CPU seconds per probe; default: the statement's, else 2 s (stdin) or the server's."
    )
    checker: str | None = Field(
        None, description="stdin programs: a Python program run as `checker INPUT OUTPUT ANSWER`, exit 0 = valid."
    )
    input_generator: str | None = Field(
        None, description="A Python program that prints one valid input, seeded by `argv[1]`."
    )
    generated_inputs: int | None = Field(None, description="How many inputs the input_generator makes.")
    execution_budget_s: float | None = Field(None, description="Time budget for running the candidates (capped).")


class Winner(_Response):
    index: int
    id: str
    reason: str = Field("", description="Why it won, in one line.")


class Failure(_Response):
    """The first example or test a candidate fails: enough to repair the program."""

    input: str = Field(description="The expression or assert statement that was run.")
    expected: str | None = Field(description="What it should give (None for an assert statement).")
    actual: str = Field(description="What the candidate gave: a value, `raise <Type>`, `timeout` or `failed`.")


class ExecutionSummary(_Response):
    """How one candidate behaved in the sandbox."""

    status: str = Field(description="Sandbox status: passed, failed, error, syntax_error, timeout, killed.")
    examples_passed: int
    examples_total: int
    tests_passed: int
    tests_total: int
    first_failure: Failure | None = None
    cpu_s: float | None = Field(None, description="Most CPU seconds one probe took (whole programs only).")
    timeouts: int = Field(0, description="Probes that ran past the time limit.")


class RankedCandidate(_Response):
    index: int
    id: str
    rank: int = Field(description="1 = the winner.")
    score: float = Field(description="Sum of the candidate's win probabilities over its matches.")
    wins: int
    losses: int
    duplicate_of: int | None = Field(None, description="Index of the identical candidate that was judged instead.")
    cluster: int | None = Field(None, description="Behaviour cluster (same output on every probe); None unrun.")
    execution: ExecutionSummary | None = Field(None, description="None when the candidates were not run.")


class Cluster(_Response):
    """Candidates that behave the same on every probe."""

    id: int
    members: list[int] = Field(description="Candidate indices, request order.")
    checks_passed: int = Field(description="Examples and tests its members pass.")
    top_group: bool = Field(description="In the group that passes the most examples and tests.")


class ProbeCounts(_Response):
    examples: int
    tests: int
    inputs: int = Field(description="Caller and generated inputs run (after dropping likely invalid ones).")
    dropped_inputs: int = Field(description="Inputs on which every top-group candidate raised: likely invalid.")


class GeneratorReport(_Response):
    """The request's input generator: its runs, and the inputs it added."""

    runs: int = Field(description="Seeds run.")
    inputs: int = Field(description="Inputs added as probes.")
    rejected: int = Field(description="Outputs that were not a valid input for the shape, or repeated a probe.")
    failures: list[str] = Field(default_factory=list, description="Seeds whose run failed, and how.")
    elapsed_ms: float = 0.0


class ExecutionReport(_Response):
    """What execution did for the selection (or why it did not run)."""

    status: Literal["ran", "off", "skipped"]
    reason: str | None = Field(None, description="Why execution was skipped or off.")
    shape: str | None = Field(None, description="How the candidates were called: function, stdin or method.")
    entry_point: str | None = None
    time_limit_s: float | None = Field(None, description="CPU seconds per probe.")
    notes: list[str] = Field(
        default_factory=list,
        description="What to know about the probes, e.g. that the statement allows several answers, so its "
        "sample outputs are not checks.",
    )
    generator: GeneratorReport | None = Field(None, description="What the request's input_generator did.")
    probes: ProbeCounts | None = None
    clusters: list[Cluster] = []
    runs: int = Field(0, description="Sandbox runs (one per distinct candidate; cache hits excluded).")
    cached_runs: int = 0
    elapsed_ms: float = 0.0


class Judgment(_Response):
    """One judge call: one ordered pair."""

    round: int
    pair: tuple[int, int]
    order: tuple[int, int] = Field(description="Candidate shown as A, then as B.")
    verdict: Literal["A", "B", "unparseable"]
    probability: float | None = Field(description="Judge's probability that the candidate shown as A is correct.")
    reasoning: str | None = None
    cached: bool


class MatchResult(_Response):
    """A match after both orders are merged."""

    round: int
    pair: tuple[int, int]
    winner: int
    probability: float = Field(description="Probability that pair[0] beats pair[1] (orders averaged).")
    decided_by: Literal["judge", "consensus", "tie_rule"] = Field(
        description="judge; consensus (the judge was unsure, the larger behaviour cluster won); tie_rule."
    )
    evidence: int = Field(0, description="Inputs on which the two disagree that the judge was shown.")


class Usage(_Response):
    judge_calls: int
    cache_hits: int
    prompt_tokens: int
    completion_tokens: int
    elapsed_ms: float


class JudgeInfo(_Response):
    model: str
    adapter: str | None
    adapter_hash: str | None
    prompt_version: str


class SelectResponse(_Response):
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


class ErrorDetail(_Response):
    message: str
    type: str
    code: str | None = None
    param: str | None = None


class ErrorResponse(_Response):
    error: ErrorDetail


# ---- Server-sent events. The event name travels in the SSE `event:` line, not in the data, so it is a ClassVar:
# the models' fields stay identical to the server's, and `event.event` still tells the kinds apart. ----


class StartEvent(_Response):
    event: ClassVar[Literal["start"]] = "start"

    candidates: int
    unique_candidates: int
    strategy: Strategy
    judge: JudgeInfo


class ExecutionEvent(ExecutionReport):
    """What execution did (or why it did not run): the same fields as `SelectResponse.execution`. Sent after
    `start` on every stream."""

    event: ClassVar[Literal["execution"]] = "execution"


class ClustersEvent(_Response):
    """The behaviour clusters, sent after `execution` when the candidates ran."""

    event: ClassVar[Literal["clusters"]] = "clusters"

    clusters: list[Cluster]
    players: list[int] = Field(description="Cluster representatives the judge will compare.")


class MatchStartEvent(_Response):
    event: ClassVar[Literal["match_start"]] = "match_start"

    round: int
    pair: tuple[int, int]
    order: tuple[int, int]


class ReasoningEvent(_Response):
    """A piece of the judge's reasoning text (reasoning mode only), for one order and one vote."""

    event: ClassVar[Literal["reasoning"]] = "reasoning"

    round: int
    order: tuple[int, int]
    vote: int
    delta: str


class VerdictEvent(Judgment):
    """One judge call finished: the same fields as a `Judgment` in `SelectResponse.matches`."""

    event: ClassVar[Literal["verdict"]] = "verdict"


class RoundEndEvent(_Response):
    event: ClassVar[Literal["round_end"]] = "round_end"

    round: int
    results: list[MatchResult]
    remaining: list[int] = Field(description="Candidates still in the tournament after this round.")


class ResultEvent(SelectResponse):
    """The last event of a successful stream: the full `SelectResponse`."""

    event: ClassVar[Literal["result"]] = "result"


Event = (
    StartEvent
    | ExecutionEvent
    | ClustersEvent
    | MatchStartEvent
    | ReasoningEvent
    | VerdictEvent
    | RoundEndEvent
    | ResultEvent
)
"""What iterating a stream yields; an `error` event is raised as an exception instead."""

EVENT_TYPES: dict[str, type[Event]] = {
    cls.event: cls
    for cls in (
        StartEvent,
        ExecutionEvent,
        ClustersEvent,
        MatchStartEvent,
        ReasoningEvent,
        VerdictEvent,
        RoundEndEvent,
        ResultEvent,
    )
}
"""Event name -> model, in the order the events arrive. `error` is not here: it becomes an exception."""

CandidateInput = str | Candidate | dict[str, str]
"""What `select` accepts per candidate."""

CallerTestItem = str | CallerTest | dict[str, Any]
"""What `select(tests=[...])` accepts per test: an assert statement, a `CallerTest`, or its dict
(`{"stdin", "stdout"}` or `{"args", "expected"}`)."""

CallerInputItem = str | CallerInput | dict[str, Any]
"""What `select(inputs=[...])` accepts per input: an argument list or a stdin program's input text, a
`CallerInput`, or its dict (`{"stdin"}` or `{"args"}`)."""


# ---- POST /rewards: completions a policy wrote, scored by running them (the server's `service/rewards/protocol.py`).


class RewardKind(StrEnum):
    PASS_RATE = "pass_rate"  # the fraction of the examples and tests passed
    BINARY = "binary"  # 1 when every example and test passes, else 0
    AGREEMENT = "agreement"  # the pass rate plus the share of the item's completions that behave the same
    JUDGE = "judge"  # the pass rate plus the judge's mean win probability between the top behaviour clusters


class CompletionStatus(StrEnum):
    PASSED = "passed"  # every example and test passed
    FAILED = "failed"  # some example or test failed (or the program raised)
    RAN = "ran"  # the item has no examples or tests: the program ran its inputs (agreement and judge score it)
    TIMEOUT = "timeout"  # a probe, or the whole run, went past its time limit
    MEMORY = "memory"  # the program hit the memory limit
    KILLED = "killed"  # another limit: output, file size, processes; or a signal
    SYNTAX_ERROR = "syntax_error"
    NO_CODE = "no_code"  # no Python code could be extracted from the completion
    SANDBOX_ERROR = "sandbox_error"  # the sandbox itself failed on this completion: reward null, try again
    BUDGET_EXCEEDED = "budget_exceeded"  # the batch's time budget ran out before it ran: reward null
    NOT_SCORED = "not_scored"  # its item could not be run (no entry point, no probes): reward null


class Message(BaseModel):
    """One chat message of a conversational completion (TRL's and OpenAI's `{role, content}`). Other keys
    (`tool_calls`, ...) are kept and sent, as the server keeps them."""

    model_config = ConfigDict(extra="allow")

    role: str = "assistant"
    content: str


class RewardItem(_Request):
    """One problem and the completions sampled for it (a GRPO group): `RewardItem(problem=statement,
    completions=[text1, text2], tests=[{"stdin": "1 2\\n", "stdout": "3\\n"}])`."""

    problem: str = Field(description="The problem statement the policy was prompted with.")
    completions: list[str | list[Message]] = Field(
        description="Raw model outputs: text, or chat messages (the last assistant message counts). The code is the "
        "last fenced Python block, else the whole text if it parses."
    )
    tests: list[str | CallerTest] = Field(
        [], description="Tests a correct program passes: assert statements, {stdin, stdout} or {args, expected}."
    )
    inputs: list[str | CallerInput] = Field([], description="Inputs without expected results (as in select).")
    entry_point: str | None = Field(None, description="The function the completions implement; inferred when absent.")
    shape: ProgramShape | None = Field(None, description="function, stdin or method; detected when absent.")
    time_limit_s: float | None = Field(None, description="CPU seconds per probe.")
    checker: str | None = Field(None, description="stdin programs: an output checker, as in select.")


class RewardsRequest(_Request):
    """Body of `POST /rewards`. Defaults mirror the server's; the client sends only the options set."""

    items: list[RewardItem] = Field(description="The problems of the batch.")
    reward: RewardKind = Field(RewardKind.PASS_RATE, description="How a completion's reward is computed.")
    no_code_reward: float = Field(0.0, description="The reward of a completion with no code in it.")
    agreement_weight: float = Field(1.0, description="Weight of the cluster share (agreement) or judge score (judge).")
    budget_s: float | None = Field(
        None,
        description="Time budget of the whole batch; completions not run by then get `budget_exceeded` "
        "and reward null (capped by the server).",
    )


class CompletionReward(_Response):
    """One completion's reward and what its run did."""

    index: int = Field(description="Position in its item's completions.")
    reward: float | None = Field(
        description="None when the completion could not be scored (sandbox_error, budget_exceeded, not_scored)."
    )
    status: CompletionStatus
    detail: str = Field("", description="What the sandbox said (an exception name, a limit).")
    passed: int = Field(0, description="Examples and tests passed.")
    total: int = Field(0, description="Examples and tests run.")
    first_failure: Failure | None = None
    cpu_s: float | None = Field(None, description="Most CPU seconds one probe took (whole programs only).")
    cluster: int | None = Field(None, description="Behaviour cluster inside the item; None when not run.")
    cluster_share: float | None = Field(
        None, description="Its cluster's share of the item's completions that have code."
    )
    judge_score: float | None = Field(
        None, description="reward=judge: mean win probability against the other top behaviour clusters."
    )
    truncated: bool = Field(False, description="Some output was cut (never cut silently).")
    cached: bool = Field(False, description="Its run came from the cache.")


class RewardCluster(_Response):
    id: int
    members: list[int] = Field(description="Completion indices.")
    checks_passed: int


class ItemReport(_Response):
    """What the service did for one item: how it ran its completions, and each completion's reward."""

    index: int
    status: Literal["ran", "skipped"]
    reason: str | None = Field(None, description="Why the item was not run, or why it has no pass rate.")
    shape: str | None = None
    entry_point: str | None = None
    checks: int = Field(0, description="Examples and tests each completion is scored against.")
    inputs: int = Field(0, description="Inputs without expected results (for clusters).")
    clusters: list[RewardCluster] = []
    completions: list[CompletionReward]


class RewardsUsage(_Response):
    completions: int
    runs: int = Field(description="Sandbox runs made (distinct programs not in the cache).")
    cached_runs: int
    judge_calls: int = 0
    elapsed_ms: float
    budget_exceeded: bool = Field(False, description="The batch budget ran out: some completions were not run.")


class RewardsResponse(_Response):
    rewards: list[float | None] = Field(description="Every completion's reward, items in order, flattened.")
    statuses: list[CompletionStatus] = Field(description="Every completion's status, in the same order.")
    items: list[ItemReport]
    usage: RewardsUsage
    reward: RewardKind


RewardItemInput = RewardItem | dict[str, Any]
"""What `rewards(items=[...])` accepts per item: a `RewardItem` or its dict."""
