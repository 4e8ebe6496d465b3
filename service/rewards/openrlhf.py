"""OpenRLHF's remote reward protocol (`--reward.remote_url .../rewards/openrlhf`), answered by /rewards.

OpenRLHF posts `{"query": [prompt + response, ...], "prompts": [...], "labels": [...]}`, often one sample per
request, and reads `{"rewards", "scores", "extra_logs"}`. Samples are scored in batches anyway: the requests that
arrive within `rewards_openrlhf_window_s` are gathered into one /rewards batch, where the samples of one problem
form one item (so `agreement` sees the whole group, and the sandbox runs them side by side).

A label is the dataset's label column: a JSON object (or a string holding one) with `tests` and optionally
`problem`, `inputs`, `entry_point`, `shape`, `time_limit_s`, `checker`; a bare list is the tests. The problem
defaults to the prompt. OpenRLHF needs a number for every sample: a reward daj could not compute (sandbox error,
budget) is sent as 0.0, and `extra_logs.daj_unscored` marks it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import JsonValue, ValidationError

from service.errors import ApiError, field_path
from service.rewards.batch import RewardService
from service.rewards.protocol import (
    CompletionStatus,
    OpenRLHFRequest,
    OpenRLHFResponse,
    RewardItem,
    RewardKind,
    RewardsRequest,
    RewardsResponse,
)

logger = logging.getLogger(__name__)


_Scores = list[tuple[float | None, CompletionStatus]]  # one request's samples: reward and status
_Outcome = _Scores | ApiError  # what one request of a window gets


@dataclass
class _Waiting:
    """One OpenRLHF request waiting for its window's batch: its samples as (item fields, completion)."""

    samples: list[tuple[str, RewardItem]]  # (the item's key, the item with this one completion)
    done: asyncio.Future[_Scores] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


def sample_items(request: OpenRLHFRequest) -> list[tuple[str, RewardItem]]:
    """Each sample as a one-completion item and the key of the problem it belongs to; a 422 naming the field for
    a label that is not one."""
    prompts = request.prompts or []
    labels = request.labels or []
    for name, values in (("prompts", prompts), ("labels", labels)):
        if values and len(values) != len(request.query):
            raise ApiError(422, f"{name}: {len(values)} given for {len(request.query)} queries; give one per query",
                           "invalid_value", name)
    samples = []
    for index, query in enumerate(request.query):
        prompt = prompts[index] if prompts else ""
        response = query[len(prompt):] if prompt and query.startswith(prompt) else query
        fields = _label_fields(labels[index] if labels else None, index)
        fields.setdefault("problem", prompt)
        try:
            item = RewardItem.model_validate({**fields, "completions": [response]})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = field_path(tuple(first.get("loc", ())))
            raise ApiError(422, f"labels[{index}].{where}: {first.get('msg')}", "invalid_value",
                           f"labels[{index}].{where}") from None
        key = json.dumps(item.model_dump(mode="json", exclude={"completions"}), sort_keys=True)
        samples.append((key, item))
    return samples


def _label_fields(label: JsonValue, index: int) -> dict[str, JsonValue]:
    if isinstance(label, str):
        try:
            label = json.loads(label) if label.strip() else None
        except json.JSONDecodeError as exc:
            raise ApiError(422, f"labels[{index}]: not JSON ({exc.msg}); give an object with `tests`",
                           "invalid_value", f"labels[{index}]") from None
    if label is None:
        return {}
    if isinstance(label, list):
        return {"tests": label}
    if not isinstance(label, dict):
        raise ApiError(422, f"labels[{index}]: a {type(label).__name__}; give an object with `tests`",
                       "invalid_value", f"labels[{index}]")
    return dict(label)


def _grouped(sample_lists: Sequence[Sequence[tuple[str, RewardItem]]]
             ) -> tuple[dict[str, RewardItem], list[list[tuple[str, int]]]]:
    """The samples as one batch holds them: one item per problem key (in order of first sight), and for each list
    of samples, where each sample landed (its item's key, its position among the item's completions)."""
    items: dict[str, RewardItem] = {}
    places: list[list[tuple[str, int]]] = []
    for samples in sample_lists:
        landed = []
        for key, sample in samples:
            item = items.setdefault(key, sample.model_copy(update={"completions": []}))
            item.completions.append(sample.completions[0])
            landed.append((key, len(item.completions) - 1))
        places.append(landed)
    return items, places


class OpenRLHFBatcher:
    """Gathers the requests of one window (per reward kind) into one /rewards batch."""

    def __init__(self, rewards: RewardService, window_s: float) -> None:
        self.rewards = rewards
        self.window_s = window_s
        self._waiting: dict[RewardKind, list[_Waiting]] = {}
        self._flushes: set[asyncio.Task[None]] = set()

    async def score(self, request: OpenRLHFRequest, kind: RewardKind) -> OpenRLHFResponse:
        samples = sample_items(request)
        # The request's own limits are checked now, so one bad request is refused alone, not with its window.
        self.rewards.check(RewardsRequest(items=list(_grouped([samples])[0].values()), reward=kind))
        waiting = _Waiting(samples)
        window = self._waiting.setdefault(kind, [])
        window.append(waiting)
        if len(window) == 1:
            task = asyncio.create_task(self._flush_later(kind), name=f"openrlhf-window-{kind.value}")
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)
        results = await waiting.done
        return _response(results)

    async def _flush_later(self, kind: RewardKind) -> None:
        await asyncio.sleep(self.window_s)
        window = self._waiting.pop(kind, [])
        try:
            results = await self._score_window(window, kind)
        except Exception as exc:  # every request of the window gets the batch's error (429, 503, ...)
            for waiting in window:
                if not waiting.done.done():
                    waiting.done.set_exception(exc)
            return
        for waiting, result in zip(window, results, strict=True):
            if waiting.done.done():
                continue
            if isinstance(result, ApiError):
                waiting.done.set_exception(result)
            else:
                waiting.done.set_result(result)

    async def _score_window(self, window: Sequence[_Waiting], kind: RewardKind) -> list[_Outcome]:
        """One batch for the window. If the window as a whole breaks a limit each request kept alone (more
        completions of one problem than an item may hold, say), each request is scored as its own batch, so that
        no request fails for another's."""
        try:
            return list(await self._score_together(window, kind))
        except ApiError as exc:
            if exc.status != 422 or len(window) == 1:
                raise
            logger.info("openrlhf window of %d requests split: %s", len(window), exc.message)
        alone: list[_Outcome] = []
        for waiting in window:
            try:
                alone.append((await self._score_together([waiting], kind))[0])
            except ApiError as exc:
                alone.append(exc)
        return alone

    async def _score_together(self, window: Sequence[_Waiting], kind: RewardKind) -> list[_Scores]:
        """One batch: one item per problem key, holding every sample of that problem."""
        items, where = _grouped([waiting.samples for waiting in window])
        keys = list(items)
        request = RewardsRequest(items=list(items.values()), reward=kind)
        response: RewardsResponse = await self.rewards.run(self.rewards.prepare(request))
        scored = {key: response.items[i].completions for i, key in enumerate(keys)}
        logger.debug("openrlhf window: %d requests, %d items", len(window), len(keys))
        return [[(scored[key][position].reward, scored[key][position].status) for key, position in places]
                for places in where]

    async def close(self) -> None:
        for task in list(self._flushes):
            task.cancel()


def _response(results: Sequence[tuple[float | None, CompletionStatus]]) -> OpenRLHFResponse:
    rewards = [value if value is not None else 0.0 for value, _ in results]
    return OpenRLHFResponse(
        rewards=rewards, scores=list(rewards),
        extra_logs={
            "daj_passed": [float(status is CompletionStatus.PASSED) for _, status in results],
            "daj_no_code": [float(status is CompletionStatus.NO_CODE) for _, status in results],
            "daj_unscored": [float(value is None) for value, _ in results],
        },
    )
