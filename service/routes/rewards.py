"""POST /rewards (a batch of completions scored by running them) and /rewards/openrlhf (OpenRLHF's protocol)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from service.auth import require_api_key
from service.errors import ErrorResponse
from service.rewards.protocol import OpenRLHFRequest, OpenRLHFResponse, RewardKind, RewardsRequest, RewardsResponse
from service.state import ServiceState

router = APIRouter(tags=["rewards"], dependencies=[Depends(require_api_key)])

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (401, 413, 422, 429, 500, 503)
}


@router.post("/rewards", response_model=RewardsResponse, responses=_ERRORS)
@router.post("/v1/rewards", response_model=RewardsResponse, responses=_ERRORS, include_in_schema=False)
async def rewards(body: RewardsRequest, request: Request) -> RewardsResponse:
    """Score every completion of a batch by running it on its problem's examples and tests (docs/rewards.md).
    Needs the sandbox, not the judge (except `reward: judge`)."""
    state: ServiceState = request.app.state.daj
    prepared = state.rewards.prepare(body)
    return await state.rewards.run(prepared)


@router.post("/rewards/openrlhf", response_model=OpenRLHFResponse, responses=_ERRORS)
async def rewards_openrlhf(body: OpenRLHFRequest, request: Request,
                           reward: RewardKind = Query(RewardKind.PASS_RATE)) -> OpenRLHFResponse:  # noqa: B008
    """OpenRLHF's remote reward shape (`--reward.remote_url`): requests that arrive within a short window are
    scored as one batch."""
    state: ServiceState = request.app.state.daj
    return await state.openrlhf.score(body, reward)
