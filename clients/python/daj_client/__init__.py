"""Client SDK for daj: pick the best of N candidate programs with a pairwise LLM judge.

import daj_client
code = daj_client.best_of(problem, candidates)          # default client from DAJ_BASE_URL / DAJ_API_KEY

with daj_client.Client() as client:
    response = client.select(problem, candidates, strategy="round_robin", tests=["assert f(2) == 4"])
    print(response.winner.reason)                       # why it won, in one line
    if response.no_candidate_passes:                    # all fail an example or test: repair or sample again,
        ...                                             # from response.ranking[i].execution.first_failure
    for event in client.select(problem, candidates, stream=True, mode="reasoning"):
        ...
    response = client.select(statement, programs, tests=[{"stdin": "1 2\\n", "stdout": "3\\n"}])  # whole programs
    scored = client.rewards([{"problem": problem, "completions": texts, "tests": tests}])  # scored.rewards

RL trainers (TRL's GRPOTrainer, verl) take their reward functions from `daj_client.rewards`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Unpack

from . import rewards  # the reward functions of RL trainers (TRL, verl): light, like the rest
from ._async_client import AsyncClient, AsyncStream
from ._base import DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT_S, Backoff, SelectOptions
from ._client import Client, Stream
from ._version import __version__
from .errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    DajError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from .types import (
    CallerInput,
    CallerInputItem,
    CallerTest,
    CallerTestItem,
    Candidate,
    CandidateInput,
    Cluster,
    ClustersEvent,
    CompletionReward,
    CompletionStatus,
    ErrorDetail,
    Event,
    ExecutionEvent,
    ExecutionMode,
    ExecutionReport,
    ExecutionSummary,
    Failure,
    GeneratorReport,
    ItemReport,
    JudgeInfo,
    JudgeMode,
    Judgment,
    MatchResult,
    MatchStartEvent,
    Message,
    Orders,
    ProbeCounts,
    ProgramShape,
    RankedCandidate,
    ReasoningEvent,
    ResultEvent,
    RewardCluster,
    RewardItem,
    RewardItemInput,
    RewardKind,
    RewardsRequest,
    RewardsResponse,
    RewardsUsage,
    RoundEndEvent,
    SelectRequest,
    SelectResponse,
    StartEvent,
    Strategy,
    Usage,
    VerdictEvent,
    Winner,
)

_default_client: Client | None = None
_default_lock = threading.Lock()


def default_client() -> Client:
    """One shared `Client` configured from the environment, created on first use (pooled connections)."""
    global _default_client
    with _default_lock:
        if _default_client is None:
            _default_client = Client()
        return _default_client


def best_of(problem: str, candidates: Sequence[CandidateInput], **options: Unpack[SelectOptions]) -> str:
    """The winning program's code, via the default client: `best_of(problem, [code1, code2, ...])`."""
    return default_client().best_of(problem, candidates, **options)


__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT_S",
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AsyncStream",
    "AuthenticationError",
    "Backoff",
    "BadRequestError",
    "CallerInput",
    "CallerInputItem",
    "CallerTest",
    "CallerTestItem",
    "Candidate",
    "CandidateInput",
    "Client",
    "Cluster",
    "ClustersEvent",
    "CompletionReward",
    "CompletionStatus",
    "DajError",
    "ErrorDetail",
    "Event",
    "ExecutionEvent",
    "ExecutionMode",
    "ExecutionReport",
    "ExecutionSummary",
    "Failure",
    "GeneratorReport",
    "ItemReport",
    "JudgeInfo",
    "JudgeMode",
    "Judgment",
    "MatchResult",
    "MatchStartEvent",
    "Message",
    "NotFoundError",
    "Orders",
    "PermissionDeniedError",
    "ProbeCounts",
    "ProgramShape",
    "RankedCandidate",
    "RateLimitError",
    "ReasoningEvent",
    "ResultEvent",
    "RewardCluster",
    "RewardItem",
    "RewardItemInput",
    "RewardKind",
    "RewardsRequest",
    "RewardsResponse",
    "RewardsUsage",
    "RoundEndEvent",
    "SelectOptions",
    "SelectRequest",
    "SelectResponse",
    "ServerError",
    "StartEvent",
    "Strategy",
    "Stream",
    "Usage",
    "VerdictEvent",
    "Winner",
    "__version__",
    "best_of",
    "default_client",
    "rewards",
]
