"""A `/rewards` batch, end to end: validate, extract each completion's code, plan each item's probes, run every
distinct program of the batch at once in the sandbox (one budget for the batch), group each item's runs by
behaviour, and score every completion with the request's reward kind.

One bad rollout never costs the batch: a completion whose run the sandbox fails, or that the budget leaves unrun,
gets `reward: null` and its own status; every other completion is scored. Runs are cached by program and probe
set, so the same batch twice gives the same rewards, and a rollout seen at an earlier step is not run again.
"""

from __future__ import annotations

import ast
import asyncio
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from daj.completions import extract_code
from daj.probes import CandidateRun, ProbeSet, group_candidates, parse_python
from daj.probes.shapes import ProbeInputError, plan_probes
from service.errors import ApiError
from service.execution import BatchRun, ExecutionJob, Executor
from service.explain import run_summary
from service.metrics import Metrics
from service.planning import check_program_fields, shape_request
from service.protocol import ExecutionMode, SelectRequest, Strategy
from service.rewards.protocol import (
    CompletionReward,
    CompletionStatus,
    ItemReport,
    Message,
    RewardCluster,
    RewardItem,
    RewardKind,
    RewardsRequest,
    RewardsResponse,
    RewardsUsage,
)
from service.rewards.scoring import Facts, cluster_shares, distinct_checks, reward, run_status, truncated
from service.selection import SelectionService
from service.settings import Settings

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class PreparedItem:
    index: int
    item: RewardItem
    codes: list[str | None]  # per completion: the extracted program, None without one
    extraction: list[str]  # per completion: how it was found (daj.completions)
    probe_set: ProbeSet | None  # None: the item is not run, for `reason`
    reason: str | None = None
    shape: str | None = None
    entry_point: str | None = None


@dataclass(frozen=True)
class PreparedBatch:
    request: RewardsRequest
    items: list[PreparedItem]
    budget_s: float
    completions: int


@dataclass
class _Tally:
    judge_calls: int = 0
    statuses: Counter[str] = field(default_factory=Counter)


def tested_function(item: RewardItem, codes: Sequence[str]) -> str | None:
    """The one function the item's assert tests call that some completion defines, if there is one."""
    called: set[str] = set()
    for test in item.tests:
        if isinstance(test, str) and (tree := parse_python(test)) is not None:
            called |= {node.func.id for node in ast.walk(tree)
                       if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    defined: set[str] = set()
    for code in codes:
        if (tree := parse_python(code)) is not None:
            defined |= {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    named = called & defined
    return next(iter(named)) if len(named) == 1 else None


def completion_text(completion: str | list[Message]) -> str:
    """A completion as text: a conversational one is its last assistant message (else its last message)."""
    if isinstance(completion, str):
        return completion
    replies = [message for message in completion if message.role == "assistant"] or completion
    return replies[-1].content if replies else ""


class RewardService:
    def __init__(self, settings: Settings, executor: Executor, metrics: Metrics,
                 selection: SelectionService | None = None) -> None:
        self.settings = settings
        self.executor = executor
        self.metrics = metrics
        self.selection = selection  # for reward=judge only

    # ---- validation ---------------------------------------------------------------------------------------

    def prepare(self, request: RewardsRequest) -> PreparedBatch:
        """Check every limit before any work starts, and that the sandbox can take the batch; plan each item."""
        self.check(request)
        executor, limits = self.executor, self.settings
        if not executor.available:
            retry = "1" if not executor.checked else "5"
            raise ApiError(503, f"rewards need the sandbox, and it is unavailable ({executor.error})",
                           "sandbox_unavailable", headers={"Retry-After": retry})
        if executor.queued >= limits.execution_max_queue:
            raise ApiError(429, f"{executor.queued} sandbox runs queued, the limit is {limits.execution_max_queue} "
                           "(execution_max_queue); retry later", "too_many_requests",
                           headers={"Retry-After": str(executor.retry_after_s())})
        items = [self._plan(index, item) for index, item in enumerate(request.items)]
        budget = request.budget_s or limits.rewards_budget_s
        return PreparedBatch(request, items, budget, sum(len(item.completions) for item in request.items))

    def check(self, request: RewardsRequest) -> None:
        """Every limit of the request: a 422 naming the field (`items[3].completions[5]`) otherwise."""
        limits = self.settings
        if len(request.items) > limits.rewards_max_items:
            raise ApiError(422, f"items: {len(request.items)} given, at most {limits.rewards_max_items} allowed "
                           "(rewards_max_items)", "too_many_items", "items")
        total = sum(len(item.completions) for item in request.items)
        if total > limits.rewards_max_completions:
            raise ApiError(422, f"items: {total} completions in all, at most {limits.rewards_max_completions} "
                           "allowed (rewards_max_completions)", "too_many_items", "items")
        budget = request.budget_s or limits.rewards_budget_s
        if budget > limits.rewards_budget_s:
            raise ApiError(422, f"budget_s: {budget:g} s asked, at most {limits.rewards_budget_s:g} s allowed "
                           "(rewards_budget_s)", "invalid_value", "budget_s")
        if request.reward is RewardKind.JUDGE and self.selection is None:
            raise ApiError(422, "reward: judge needs the judge, and this service has none", "invalid_value",
                           "reward")
        if request.reward is RewardKind.JUDGE and self.selection is not None and self.selection.gate is not None:
            self.selection.gate.require_engine()  # 503 engine_loading now, not after the batch has run
        for index, item in enumerate(request.items):
            self._check_item(index, item)

    def _check_item(self, index: int, item: RewardItem) -> None:
        where, limits = f"items[{index}].", self.settings
        if len(item.completions) > limits.rewards_max_group:
            raise ApiError(422, f"{where}completions: {len(item.completions)} given, at most "
                           f"{limits.rewards_max_group} allowed (rewards_max_group)", "too_many_items",
                           f"{where}completions")
        if len(item.problem) > limits.max_field_chars:
            raise ApiError(422, f"{where}problem: {len(item.problem)} characters, at most {limits.max_field_chars} "
                           "allowed (max_field_chars)", "field_too_long", f"{where}problem")
        for position, completion in enumerate(item.completions):
            size = len(completion_text(completion))
            if size > limits.max_field_chars:
                raise ApiError(422, f"{where}completions[{position}]: {size} characters, at most "
                               f"{limits.max_field_chars} allowed (max_field_chars)", "field_too_long",
                               f"{where}completions[{position}]")
        check_program_fields(item, limits, where=where)

    def _plan(self, index: int, item: RewardItem) -> PreparedItem:
        extracted = [extract_code(completion_text(completion)) for completion in item.completions]
        codes = [found.code for found in extracted]
        sources = [found.source for found in extracted]
        distinct = list(dict.fromkeys(code for code in codes if code is not None))
        if not distinct:
            return PreparedItem(index, item, codes, sources, None, "no completion has code")
        try:
            probes = plan_probes(shape_request(item, distinct, self.settings, self.executor.speed_factor))
            if probes.shape is None and item.entry_point is None and (named := tested_function(item, distinct)):
                # The rollouts disagree on the function's name (one calls it `plus`): the tests name it.
                named_item = item.model_copy(update={"entry_point": named})
                probes = plan_probes(shape_request(named_item, distinct, self.settings, self.executor.speed_factor))
        except ProbeInputError as exc:
            if item.shape is not None:  # the caller said how the programs run: its tests must fit
                raise ApiError(422, f"items[{index}].{exc}", "invalid_value",
                               f"items[{index}].{exc.where}") from None
            # The shape came from the rollouts themselves (a policy wrote a script for a function problem): the
            # item cannot be scored, and says why; the rest of the batch is.
            return PreparedItem(index, item, codes, sources, None, f"the tests do not fit these programs: {exc}")
        if probes.shape is None:
            return PreparedItem(index, item, codes, sources, None, f"no entry point: {probes.reason}; name the "
                                "function (entry_point), or give `shape`")
        return PreparedItem(index, item, codes, sources, probes.probe_set, probes.reason, probes.shape,
                            probes.entry_point or None)

    # ---- running ------------------------------------------------------------------------------------------

    async def run(self, prepared: PreparedBatch) -> RewardsResponse:
        started = time.perf_counter()
        jobs = [ExecutionJob(code, item.probe_set) for item in prepared.items if item.probe_set is not None
                for code in dict.fromkeys(code for code in item.codes if code is not None)]
        batch = await self.executor.run_jobs(jobs, prepared.budget_s)
        tally = _Tally()
        by_job = dict(zip(((job.code, id(job.probe_set)) for job in jobs), batch.keys, strict=True))
        reports = await asyncio.gather(*(self._score_item(prepared, item, batch, by_job, tally)
                                         for item in prepared.items))
        request = prepared.request
        for status, count in tally.statuses.items():
            self.metrics.reward_completions.labels(status).inc(count)
        self.metrics.reward_batches.labels(request.reward.value).inc()
        if batch.unfinished:
            self.metrics.execution_budget_exceeded.inc()
        completions = [c for report in reports for c in report.completions]
        return RewardsResponse(
            rewards=[c.reward for c in completions], statuses=[c.status for c in completions], items=list(reports),
            usage=RewardsUsage(completions=len(completions), runs=batch.fresh_runs, cached_runs=batch.cached_runs,
                               judge_calls=tally.judge_calls,
                               elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
                               budget_exceeded=bool(batch.unfinished)),
            reward=request.reward,
        )

    async def _score_item(self, prepared: PreparedBatch, item: PreparedItem, batch: BatchRun,
                          by_job: dict[tuple[str, int], str], tally: _Tally) -> ItemReport:
        request = prepared.request
        probe_set = item.probe_set
        if probe_set is None:
            unscored = [self._unrun(position, code, CompletionStatus.NOT_SCORED, item.reason or "", request)
                        for position, code in enumerate(item.codes)]
            tally.statuses.update(c.status.value for c in unscored)
            return ItemReport(index=item.index, status="skipped", reason=item.reason, shape=item.shape,
                              entry_point=item.entry_point, completions=unscored)
        keys = [by_job[(code, id(probe_set))] if code is not None else None for code in item.codes]
        ran = [position for position, key in enumerate(keys) if key is not None and key in batch.runs]
        runs = [batch.runs[keys[position]] for position in ran]  # type: ignore[index]
        grouping = group_candidates(runs, probe_set)
        with_code = sum(code is not None for code in item.codes)
        shares = cluster_shares(grouping, runs, with_code)
        judge = await self._judge_scores(item, ran, tally) if request.reward is RewardKind.JUDGE else {}
        checks = distinct_checks(probe_set)  # the item's, once: every completion is scored against the same
        scored: list[CompletionReward] = []
        for position, (code, key) in enumerate(zip(item.codes, keys, strict=True)):
            if code is None or key is None:
                scored.append(self._unrun(position, None, CompletionStatus.NO_CODE, "", request))
            elif key in batch.failures:
                scored.append(self._unrun(position, code, CompletionStatus.SANDBOX_ERROR, batch.failures[key],
                                          request))
            elif key in batch.unfinished or key not in batch.runs:
                scored.append(self._unrun(position, code, CompletionStatus.BUDGET_EXCEEDED,
                                          f"the batch budget of {prepared.budget_s:g} s ran out before it ran",
                                          request))
            else:
                slot = ran.index(position)
                scored.append(self._scored(position, runs[slot], probe_set, checks, grouping.cluster_of[slot],
                                           shares[slot], judge.get(code), key in batch.cached, request))
        tally.statuses.update(c.status.value for c in scored)
        clusters = [RewardCluster(id=cid, members=[ran[member] for member in members],
                                  checks_passed=grouping.checks_passed[members[0]])
                    for cid, members in enumerate(grouping.clusters)]
        reason = item.reason
        if not probe_set.checks and request.reward in (RewardKind.PASS_RATE, RewardKind.BINARY):
            reason = "no examples or tests to score against: give `tests`, or use reward `agreement`"
        return ItemReport(index=item.index, status="ran", reason=reason, shape=item.shape,
                          entry_point=item.entry_point, checks=len(checks),
                          inputs=len(probe_set.inputs), clusters=clusters, completions=scored)

    @staticmethod
    def _unrun(position: int, code: str | None, status: CompletionStatus, detail: str,
               request: RewardsRequest) -> CompletionReward:
        """A completion without a run: no code (the request's no_code_reward), or not scored (reward None)."""
        if code is None:
            return CompletionReward(index=position, reward=request.no_code_reward, status=CompletionStatus.NO_CODE,
                                    detail="no fenced Python block, and the text is not a program")
        return CompletionReward(index=position, reward=None, status=status, detail=detail)

    def _scored(self, position: int, run: CandidateRun, probe_set: ProbeSet, checks: list[int], cluster: int,
                share: float, judge_score: float | None, cached: bool, request: RewardsRequest) -> CompletionReward:
        summary = run_summary(run, probe_set)
        passed, total = sum(run.marks[i] == "P" for i in checks), len(checks)
        facts = Facts(passed, total, share, judge_score, request.agreement_weight)
        return CompletionReward(
            index=position, reward=reward(request.reward, facts), status=run_status(run, probe_set),
            detail=run.detail, passed=passed, total=total, first_failure=summary.first_failure, cpu_s=summary.cpu_s,
            cluster=cluster, cluster_share=round(share, 6), judge_score=judge_score, truncated=truncated(run),
            cached=cached,
        )

    async def _judge_scores(self, item: PreparedItem, ran: Sequence[int], tally: _Tally) -> dict[str, float]:
        """reward=judge: a round robin between the item's top behaviour clusters (service/selection.py, the same
        as /select with `strategy: round_robin`), each program's mean win probability over its matches: 1 when
        its cluster is alone at the top, 0 below the top."""
        assert self.selection is not None
        codes = list(dict.fromkeys(item.codes[position] for position in ran))
        if len(codes) < 2:
            return {code: 1.0 for code in codes if code is not None}
        source = item.item
        select = SelectRequest(problem=source.problem, candidates=list(codes), strategy=Strategy.ROUND_ROBIN,
                               execution=ExecutionMode.REQUIRED, entry_point=source.entry_point, shape=source.shape,
                               tests=source.tests, inputs=source.inputs, time_limit_s=source.time_limit_s,
                               checker=source.checker)
        try:
            prepared = self.selection.prepare(select)
            response = await self.selection.run(prepared, f"rewards-{item.index}")
        except ApiError as exc:
            if exc.status != 422:
                raise
            raise ApiError(422, f"items[{item.index}]: the judge cannot compare its completions: {exc.message}",
                           exc.code, f"items[{item.index}]") from None
        tally.judge_calls += response.usage.judge_calls
        scores: dict[str, float] = {}
        for ranked in response.ranking:
            matches = ranked.wins + ranked.losses
            value = ranked.score / matches if matches else float(ranked.rank == 1)
            scores[codes[ranked.index]] = round(value, 6)  # type: ignore[index]
        return scores
