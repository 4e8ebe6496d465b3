"""What the sync and async clients share: configuration, request bodies, error mapping, the retry rule.

Everything here is pure (no I/O), so both clients stay thin and the rules are tested once.
"""

from __future__ import annotations

import email.utils
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import httpx
from pydantic import ValidationError

from ._version import __version__
from .errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    error_class,
)
from .types import (
    CallerInputItem,
    CallerTestItem,
    Candidate,
    CandidateInput,
    ErrorResponse,
    ExecutionMode,
    JudgeMode,
    Orders,
    ProgramShape,
    RewardItem,
    RewardItemInput,
    RewardKind,
    RewardsRequest,
    RewardsResponse,
    SelectRequest,
    SelectResponse,
    Strategy,
)

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT_S = 300.0
DEFAULT_CONNECT_TIMEOUT_S = 10.0
DEFAULT_MAX_RETRIES = 2
ENV_BASE_URL = "DAJ_BASE_URL"
ENV_API_KEY = "DAJ_API_KEY"
SELECT_PATH = "/v1/select"
REWARDS_PATH = "/rewards"
REQUEST_ID_HEADER = "x-request-id"


class SelectOptions(TypedDict, total=False):
    """The tournament and execution options `select` and `best_of` accept; unset ones take the server's defaults."""

    strategy: Strategy | str
    orders: Orders | str
    votes: int
    mode: JudgeMode | str
    max_reasoning_tokens: int
    adapter: str | None
    execution: ExecutionMode | str
    entry_point: str | None
    shape: ProgramShape | str | None
    tests: Sequence[CallerTestItem]
    inputs: Sequence[CallerInputItem]
    time_limit_s: float | None
    checker: str | None
    input_generator: str | None
    generated_inputs: int | None
    execution_budget_s: float | None


# ---- configuration ----


def resolve_base_url(base_url: str | None) -> str:
    """Argument, else $DAJ_BASE_URL, else the service's default bind address."""
    url = base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL
    return url.rstrip("/")


def resolve_api_key(api_key: str | None) -> str | None:
    """Argument, else $DAJ_API_KEY, else none (the service runs with auth off by default)."""
    return api_key or os.environ.get(ENV_API_KEY) or None


def to_timeout(timeout: float | httpx.Timeout) -> httpx.Timeout:
    """A number is the read/write/pool budget; connecting gets at most 10 s so a dead host fails fast."""
    if isinstance(timeout, httpx.Timeout):
        return timeout
    return httpx.Timeout(timeout, connect=min(timeout, DEFAULT_CONNECT_TIMEOUT_S))


def default_headers(api_key: str | None, extra: dict[str, str] | None) -> dict[str, str]:
    headers = {"User-Agent": f"daj-client/{__version__}", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return {**headers, **(extra or {})}


# ---- request and response bodies ----


def build_select_body(problem: str, candidates: Sequence[CandidateInput], options: SelectOptions, stream: bool) -> dict:
    """The JSON body: only the options the caller set, so the server's defaults (and settings) apply."""
    fields: dict[str, Any] = {key: value for key, value in options.items() if value is not None}
    unknown = set(fields) - set(SelectOptions.__annotations__)
    if unknown:
        raise TypeError(f"unknown select option(s): {', '.join(sorted(unknown))}")
    if stream:
        fields["stream"] = True
    request = SelectRequest(problem=problem, candidates=[to_candidate(c) for c in candidates], **fields)
    return request.model_dump(mode="json", exclude_unset=True)


def to_candidate(candidate: CandidateInput) -> str | Candidate:
    """Strings pass through (the server numbers them); dicts must be exactly {id, code}."""
    if isinstance(candidate, str | Candidate):
        return candidate
    if isinstance(candidate, dict):
        return Candidate.model_validate(candidate)
    raise TypeError(f"a candidate is a str, a Candidate or an {{'id', 'code'}} dict, not {type(candidate).__name__}")


def candidate_code(candidate: CandidateInput) -> str:
    normalised = to_candidate(candidate)
    return normalised if isinstance(normalised, str) else normalised.code


def winner_code(candidates: Sequence[CandidateInput], response: SelectResponse) -> str:
    """The winning program, taken from the caller's own list (the response carries indices, not code)."""
    return candidate_code(candidates[response.winner.index])


def parse_select_response(response: httpx.Response) -> SelectResponse:
    try:
        return SelectResponse.model_validate_json(response.content)
    except ValidationError as exc:
        raise APIResponseValidationError(
            f"unexpected /select response: {exc}", request_id=response.headers.get(REQUEST_ID_HEADER)
        ) from exc


def build_rewards_body(
    items: Sequence[RewardItemInput],
    *,
    reward: RewardKind | str | None = None,
    no_code_reward: float | None = None,
    agreement_weight: float | None = None,
    budget_s: float | None = None,
) -> dict:
    """The JSON body of `POST /rewards`: the items, and only the options the caller set (None: the server's)."""
    if isinstance(items, RewardItem | dict):  # one item where a list belongs: say so rather than iterate its keys
        raise TypeError("`items` is a list of RewardItem or dicts, not a single item")
    options = {"reward": reward, "no_code_reward": no_code_reward, "agreement_weight": agreement_weight,
               "budget_s": budget_s}  # fmt: skip
    fields: dict[str, Any] = {key: value for key, value in options.items() if value is not None}
    request = RewardsRequest(items=[to_reward_item(item) for item in items], **fields)
    return request.model_dump(mode="json", exclude_unset=True)


def to_reward_item(item: RewardItemInput) -> RewardItem:
    """A `RewardItem` as is; a dict validated into one (a misspelt key fails here, before a round trip)."""
    if isinstance(item, RewardItem):
        return item
    if isinstance(item, dict):
        return RewardItem.model_validate(item)
    raise TypeError(f"a reward item is a RewardItem or its dict, not {type(item).__name__}")


def parse_rewards_response(response: httpx.Response, completions: int | None = None) -> RewardsResponse:
    """The parsed answer; with `completions` (how many were sent), also checks that the flat `rewards` and
    `statuses` have one entry per completion, so a caller can map them back by position."""
    request_id = response.headers.get(REQUEST_ID_HEADER)
    try:
        parsed = RewardsResponse.model_validate_json(response.content)
    except ValidationError as exc:
        raise APIResponseValidationError(f"unexpected /rewards response: {exc}", request_id=request_id) from exc
    if completions is not None and not len(parsed.rewards) == len(parsed.statuses) == completions:
        raise APIResponseValidationError(
            f"/rewards answered {len(parsed.rewards)} rewards and {len(parsed.statuses)} statuses for "
            f"{completions} completions",
            request_id=request_id,
        )
    return parsed


def sent_completions(body: dict) -> int:
    """How many completions a `build_rewards_body` body holds."""
    return sum(len(item["completions"]) for item in body["items"])


def status_error(response: httpx.Response) -> APIStatusError:
    """The exception for a non-2xx answer (its body must have been read)."""
    body: Any = None
    error_type: str | None
    try:
        body = response.json()
        detail = ErrorResponse.model_validate(body).error
        message, error_type, code, param = detail.message, detail.type, detail.code, detail.param
    except (ValueError, ValidationError):  # not the service's error shape: a proxy, a wrong URL
        message = response.text[:500] or response.reason_phrase
        error_type = code = param = None
    return error_class(response.status_code)(
        message,
        status_code=response.status_code,
        type=error_type,
        code=code,
        param=param,
        request_id=response.headers.get(REQUEST_ID_HEADER),
        body=body,
        response=response,
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )


def connection_error(exc: Exception, request_id: str | None = None) -> APIConnectionError:
    """httpx's transport failures as this SDK's exceptions (timeouts kept apart: callers treat them differently)."""
    cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
    message = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        message += " (is the service running at the base URL?)"
    return cls(message, request_id=request_id)


# ---- retries ----


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: either delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: initial * 2**attempt, capped, minus up to `jitter` of it at random
    (so many agents that failed together do not come back together)."""

    initial_s: float = 0.5
    max_s: float = 8.0
    max_retry_after_s: float = 60.0
    jitter: float = 0.25

    def delay(self, attempt: int, retry_after: float | None = None, rng: Callable[[], float] = random.random) -> float:
        if retry_after is not None:  # the server knows best, within reason
            return min(retry_after, self.max_retry_after_s)
        base = min(self.max_s, self.initial_s * 2**attempt)
        return base * (1.0 - self.jitter * rng())


def is_retryable(error: APIError) -> bool:
    """Connection failures, 408, 429 and 5xx may pass; any other 4xx will fail the same way again."""
    if isinstance(error, APIConnectionError):
        return True
    if isinstance(error, APIStatusError):
        return error.status_code in (408, 429) or error.status_code >= 500
    return False


def retry_delay(error: APIError, attempt: int, max_retries: int, backoff: Backoff) -> float | None:
    """Seconds to wait before attempt `attempt + 1`, or None when the error should be raised."""
    if attempt >= max_retries or not is_retryable(error):
        return None
    retry_after = error.retry_after if isinstance(error, APIStatusError) else None
    return backoff.delay(attempt, retry_after)
