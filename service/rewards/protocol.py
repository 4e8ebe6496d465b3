"""The `/rewards` API: a batch of problems, each with the raw completions a policy wrote, scored by running them.

These models are the contract (the SDK mirrors them in `daj_client.types`; tests/clients/test_contract.py keeps
the two in step). Limits that depend on settings (items, completions, characters) are checked by the reward
service and answered with a 422 naming the field, e.g. `items[3].completions[5]`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from service.protocol import CallerInput, CallerTest, Failure, ProgramShapeName


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
    """One chat message of a conversational completion (TRL's and OpenAI's `{role, content}`)."""

    model_config = ConfigDict(extra="allow")

    role: str = "assistant"
    content: str


class RewardItem(BaseModel):
    """One problem and the completions sampled for it (a GRPO group)."""

    model_config = ConfigDict(extra="forbid")

    problem: Annotated[str, Field(description="The problem statement the policy was prompted with.")]
    completions: Annotated[
        list[str | list[Message]],
        Field(min_length=1, description="Raw model outputs: text, or chat messages (the last assistant message "
              "counts). The code is the last fenced Python block, else the whole text if it parses."),
    ]
    tests: Annotated[
        list[str | CallerTest],
        Field(description="Tests a correct program passes: assert statements, `{stdin, stdout}` or "
              "`{args, expected}` (as in /select)."),
    ] = []
    inputs: Annotated[
        list[str | CallerInput], Field(description="Inputs without expected results (as in /select).")
    ] = []
    entry_point: Annotated[
        str | None,
        Field(max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
              description="The function the completions implement; inferred when absent."),
    ] = None
    shape: ProgramShapeName | None = Field(None, description="function, stdin or method; detected when absent.")
    time_limit_s: Annotated[float | None, Field(gt=0, le=30, description="CPU seconds per probe.")] = None
    checker: str | None = Field(None, description="stdin programs: an output checker, as in /select.")


class RewardsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: Annotated[list[RewardItem], Field(min_length=1, description="The problems of the batch.")]
    reward: RewardKind = Field(RewardKind.PASS_RATE, description="How a completion's reward is computed.")
    no_code_reward: float = Field(0.0, description="The reward of a completion with no code in it.")
    agreement_weight: Annotated[
        float, Field(ge=0, le=10, description="Weight of the cluster share (agreement) or judge score (judge).")
    ] = 1.0
    budget_s: Annotated[
        float | None,
        Field(gt=0, description="Time budget of the whole batch; completions not run by then get "
              "`budget_exceeded` and reward null. At most the server's rewards_budget_s (more is a 422). The "
              "judge's time (reward=judge) comes after it."),
    ] = None


class CompletionReward(BaseModel):
    index: int = Field(description="Position in its item's completions.")
    reward: float | None = Field(description="None when the completion could not be scored (sandbox_error, "
                                 "budget_exceeded, not_scored): TRL skips it, never a made-up 0.")
    status: CompletionStatus
    detail: str = Field("", description="What the sandbox said (an exception name, a limit).")
    passed: int = Field(0, description="Examples and tests passed (each distinct check once).")
    total: int = Field(0, description="Examples and tests run (a test that repeats an example counts once).")
    first_failure: Failure | None = None
    cpu_s: float | None = Field(None, description="Most CPU seconds one probe took (whole programs only).")
    cluster: int | None = Field(None, description="Behaviour cluster inside the item; None when not run.")
    cluster_share: float | None = Field(None, description="Its cluster's share of the item's completions that "
                                        "have code (0 for a cluster that completed no probe).")
    judge_score: float | None = Field(None, description="reward=judge: mean win probability against the other "
                                      "top behaviour clusters (1 alone at the top, 0 below it).")
    truncated: bool = Field(False, description="Some output was cut (a probe's output over the kept length, or "
                            "the run stopped at the output limit): never cut silently.")
    cached: bool = Field(False, description="Its run came from the cache.")


class RewardCluster(BaseModel):
    id: int
    members: list[int] = Field(description="Completion indices.")
    checks_passed: int


class ItemReport(BaseModel):
    index: int
    status: Literal["ran", "skipped"]
    reason: str | None = Field(None, description="Why the item was not run, or why it has no pass rate.")
    shape: str | None = None
    entry_point: str | None = None
    checks: int = Field(0, description="Examples and tests each completion is scored against.")
    inputs: int = Field(0, description="Inputs without expected results (for clusters).")
    clusters: list[RewardCluster] = []
    completions: list[CompletionReward]


class RewardsUsage(BaseModel):
    completions: int
    runs: int = Field(description="Sandbox runs made (distinct programs not in the cache).")
    cached_runs: int
    judge_calls: int = 0
    elapsed_ms: float
    budget_exceeded: bool = Field(False, description="The batch budget ran out: some completions were not run.")


class RewardsResponse(BaseModel):
    rewards: list[float | None] = Field(description="Every completion's reward, items in order, flattened.")
    statuses: list[CompletionStatus] = Field(description="Every completion's status, in the same order.")
    items: list[ItemReport]
    usage: RewardsUsage
    reward: RewardKind


# ---- OpenRLHF's remote reward protocol (`--reward.remote_url`), at /rewards/openrlhf ----


class OpenRLHFRequest(BaseModel):
    """What OpenRLHF posts: `query` is prompt + response, `labels` the dataset's label column (here a JSON object
    or string with `tests` and optionally `problem`, `entry_point`, `shape`, `inputs`)."""

    model_config = ConfigDict(extra="allow")

    query: Annotated[list[str], Field(min_length=1)]
    prompts: list[str] | None = None
    labels: list[JsonValue] | None = None


class OpenRLHFResponse(BaseModel):
    rewards: list[float]
    scores: list[float]
    extra_logs: dict[str, list[float]]
