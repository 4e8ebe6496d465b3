"""A selection, end to end: validate, collapse identical candidates, execute, cluster, run the tournament.

Execution first (when the request allows it, the sandbox works and an entry point is found): every distinct
candidate runs over the probe set, candidates are grouped by the checks they pass and clustered by behaviour
(service/pipeline.py), and the judge only compares one representative of each top-group cluster, shown the
inputs on which the two disagree. Otherwise the judge compares every distinct candidate (judge only), and the
response says why.

Each round: one cache read for all its ordered pairs, every miss sent to the engine at once (so continuous
batching fills it and the shared problem prefix is reused), one cache write, then the orders are merged and
the tournament advances. Events go to `emit` as they happen (the SSE stream), in this order: start,
execution, clusters, then per round match_start..., reasoning..., verdict..., round_end, and finally result.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Protocol

from pydantic import BaseModel

from daj.candidates import group_identical
from daj.lora import Adapter
from daj.probes import disagreements, group_candidates
from daj.protocol import PROMPT_V1, Disagreement, JudgeMode, encode_prompt, render_evidence, render_prompt
from service.adapters import AdapterRegistry
from service.cache import CachedVerdict, VerdictCache, verdict_cache_key
from service.engine.base import EngineError, JudgeCall, JudgeEngine, JudgeResult
from service.errors import ApiError
from service.execution import ExecutionBudgetExceeded, ExecutionUnavailable, Executor
from service.explain import Executed, candidate_summary, execution_report, unexecuted_report, winner_reason
from service.generation import generate_inputs
from service.metrics import Metrics
from service.pipeline import seeded_order, with_consensus
from service.planning import ExecutionPlan, plan_execution
from service.protocol import (
    Candidate,
    ClustersEvent,
    ExecutionMode,
    ExecutionReport,
    JudgeInfo,
    Judgment,
    MatchResult,
    MatchStartEvent,
    RankedCandidate,
    ReasoningEvent,
    RoundEndEvent,
    SelectRequest,
    SelectResponse,
    StartEvent,
    Usage,
    Winner,
)
from service.settings import Settings
from service.tournament import (
    Knockout,
    MatchOutcome,
    OrderedVerdict,
    Tournament,
    make_tournament,
    merge_orders,
)

logger = logging.getLogger(__name__)

Emit = Callable[[str, BaseModel], Awaitable[None]]

# Sampling temperature when several reasoning votes are drawn (one vote is greedy).
REASONING_VOTE_TEMPERATURE = 0.7
# Slack for tokens that merge differently at the boundaries of the fenced fields.
CONTEXT_MARGIN_TOKENS = 8


@dataclass(frozen=True)
class PreparedSelection:
    request: SelectRequest
    ids: list[str]
    codes: list[str]
    representative: list[int]  # index of the first identical candidate, for each candidate
    players: list[int]  # the representatives, in request order
    adapter: Adapter | None
    plan: ExecutionPlan
    prompt_version: str  # the adapter's own (from its metadata), else DAJ_PROMPT_VERSION
    # False when prepared while the judge was loading (no tokenizer yet): checked before the first judge call.
    context_checked: bool = True

    @property
    def mode(self) -> JudgeMode:
        return JudgeMode(self.request.mode)

    @property
    def answer_tokens(self) -> int:
        return 1 if self.mode is JudgeMode.VERDICT else self.request.max_reasoning_tokens


@dataclass
class _UsageCounter:
    judge_calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class _OrderedPair:
    round: int
    pair: tuple[int, int]
    order: tuple[int, int]
    cache_key: str
    evidence: tuple[Disagreement, ...] = ()


class JudgeGate(Protocol):
    """Whether the judge can take calls now (the service's start-up state): selections that execution decides
    are answered without it while it loads; the others get the gate's error."""

    engine_ready: bool

    def require_engine(self) -> None:
        """Raise the ApiError a request that needs the judge gets now (503 engine_loading, engine_failed)."""


class SelectionService:
    def __init__(
        self,
        engine: JudgeEngine | None,
        cache: VerdictCache,
        adapters: AdapterRegistry,
        settings: Settings,
        metrics: Metrics,
        executor: Executor | None = None,
        gate: JudgeGate | None = None,
    ) -> None:
        self._engine = engine
        self.gate = gate  # None: the engine is always ready (evaluation starts it before selecting)
        self.cache = cache
        self.adapters = adapters
        self.settings = settings
        self.metrics = metrics
        self.executor = executor
        # Set when the service begins to shut down: engine failures from then on are a retryable 503.
        self.shutting_down = False

    @property
    def engine(self) -> JudgeEngine:
        if self._engine is None:
            raise RuntimeError("this selection service was built without an engine: it can plan and execute only")
        return self._engine

    @property
    def judge_ready(self) -> bool:
        return self.gate is None or self.gate.engine_ready

    @classmethod
    def build(cls, settings: Settings, engine: JudgeEngine | None, verdict_cache: VerdictCache, executor: Executor,
              metrics: Metrics, gate: JudgeGate | None = None) -> SelectionService:
        """The service as the app's start-up builds it, around a verdict cache and an executor (with its run
        cache) the caller chooses. Without an engine it can plan and execute (the exec-* evaluation methods) but
        not judge."""
        adapters = AdapterRegistry(settings.adapters_dir, max_rank=engine.max_lora_rank if engine else None,
                                   merged=engine.merged_adapter if engine else None)
        return cls(engine, verdict_cache, adapters, settings, metrics, executor, gate)

    # ---- validation -------------------------------------------------------------------------------------

    def prepare(self, request: SelectRequest) -> PreparedSelection:
        """Check every limit before any work starts; raise ApiError naming the field at fault."""
        limits = self.settings
        if len(request.candidates) > limits.max_candidates:
            raise ApiError(422, f"candidates: {len(request.candidates)} given, at most {limits.max_candidates} "
                           "allowed (max_candidates)", "too_many_candidates", "candidates")
        if len(request.problem) > limits.max_field_chars:
            raise ApiError(422, f"problem: {len(request.problem)} characters, at most {limits.max_field_chars} "
                           "allowed (max_field_chars)", "field_too_long", "problem")
        if request.votes > 1 and request.mode == JudgeMode.VERDICT:
            raise ApiError(422, "votes: verdict mode reads an exact probability from the logprobs, so votes must "
                           "be 1; use mode=reasoning to sample several votes", "invalid_value", "votes")
        ids, codes = self._unpack_candidates(request.candidates)
        adapter_name = request.adapter if request.adapter is not None else limits.default_adapter
        adapter = self.adapters.resolve(adapter_name)
        representative = group_identical(codes)
        players = sorted(set(representative))
        plan = plan_execution(request, [codes[p] for p in players], self.settings, self.executor)
        prompt_version = adapter.prompt_version if adapter and adapter.prompt_version else limits.prompt_version
        # While the judge loads there is no tokenizer to count with: the check waits for the first judge call.
        ready = self.judge_ready
        prepared = PreparedSelection(request, ids, codes, representative, players, adapter, plan, prompt_version,
                                     context_checked=ready)
        if ready:
            self._check_context(prepared)
        return prepared

    def _require_judge(self, prepared: PreparedSelection) -> None:
        """Before a selection's first judge call: the judge must be loaded (else the gate's 503), and the pairs must
        fit its context if that could not be checked when the request came in."""
        if self.gate is not None:
            self.gate.require_engine()
        if not prepared.context_checked:
            self._check_context(prepared)

    def plan_execution(self, request: SelectRequest, codes: list[str]) -> ExecutionPlan:
        """Whether and on what these distinct programs would run (service/planning.py)."""
        return plan_execution(request, codes, self.settings, self.executor)

    def _unpack_candidates(self, candidates: list[str | Candidate]) -> tuple[list[str], list[str]]:
        ids: list[str] = []
        codes: list[str] = []
        seen: dict[str, int] = {}
        for index, candidate in enumerate(candidates):
            param = _candidate_param(candidate, index)
            if isinstance(candidate, Candidate):
                candidate_id, code = candidate.id, candidate.code
            else:
                candidate_id, code = str(index), candidate
            if len(code) > self.settings.max_field_chars:
                raise ApiError(422, f"{param}: {len(code)} characters, at most {self.settings.max_field_chars} "
                               "allowed (max_field_chars)", "field_too_long", param)
            if candidate_id in seen:
                raise ApiError(422, f"candidates[{index}].id: {candidate_id!r} is also the id of "
                               f"candidates[{seen[candidate_id]}]; ids must be unique", "duplicate_id",
                               f"candidates[{index}].id")
            seen[candidate_id] = index
            ids.append(candidate_id)
            codes.append(code)
        return ids, codes

    def _token_count(self, text: str) -> int:
        return len(self.engine.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _check_context(self, prepared: PreparedSelection) -> None:
        """Every pair the tournament could judge must fit the context: check the two longest candidates. (The
        evidence section is shortened or left out per pair when it does not fit.)"""
        if len(prepared.players) < 2:
            return
        tokenizer = self.engine.tokenizer
        overhead = len(encode_prompt(tokenizer, render_prompt(tokenizer, "", "", "", prepared.mode,
                                                              version=prepared.prompt_version)))
        problem_tokens = self._token_count(prepared.request.problem)
        sizes = sorted(((self._token_count(prepared.codes[p]), p) for p in prepared.players), reverse=True)
        (largest, worst), (second, runner_up) = sizes[0], sizes[1]
        budget = self.settings.max_model_len - prepared.answer_tokens - overhead - CONTEXT_MARGIN_TOKENS
        if problem_tokens + largest + second <= budget:
            return
        if problem_tokens + 2 > budget:
            raise ApiError(422, f"problem: {problem_tokens} tokens leave no room for the candidates in the model "
                           f"context of {self.settings.max_model_len} tokens (max_model_len)", "context_overflow",
                           "problem")
        raise ApiError(
            422,
            f"{self._param(prepared, worst)}: {largest} tokens; with the problem ({problem_tokens}) and the next "
            f"longest candidate ({self._param(prepared, runner_up)}, {second}) the judge prompt needs "
            f"{problem_tokens + largest + second + overhead + CONTEXT_MARGIN_TOKENS} tokens plus "
            f"{prepared.answer_tokens} for the answer, over the model context of {self.settings.max_model_len} "
            "(max_model_len). No truncation is applied: shorten the candidate or raise the limit.",
            "context_overflow",
            self._param(prepared, worst),
        )

    @staticmethod
    def _param(prepared: PreparedSelection, index: int) -> str:
        return _candidate_param(prepared.request.candidates[index], index)

    # ---- running ----------------------------------------------------------------------------------------

    def judge_info(self, prepared: PreparedSelection) -> JudgeInfo:
        adapter = prepared.adapter
        return JudgeInfo(model=self.settings.model, adapter=adapter.name if adapter else None,
                         adapter_hash=adapter.content_hash if adapter else None,
                         prompt_version=prepared.prompt_version)

    async def run(self, prepared: PreparedSelection, selection_id: str, emit: Emit | None = None) -> SelectResponse:
        started = time.perf_counter()
        usage = _UsageCounter()
        request = prepared.request
        await _emit(emit, "start", StartEvent(candidates=len(prepared.codes), unique_candidates=len(prepared.players),
                                              strategy=request.strategy, judge=self.judge_info(prepared)))
        codes = [prepared.codes[rep] for rep in prepared.representative]  # identical ones run once
        executed, report = await self.execute(prepared.plan, codes, request.execution is ExecutionMode.REQUIRED)
        await _emit(emit, "execution", report)
        players = list(prepared.players)
        if executed is not None:
            players = executed.grouping.players()
            if request.strategy == "knockout":
                players = seeded_order(players)
            await _emit(emit, "clusters", ClustersEvent(clusters=report.clusters, players=players))
        self.metrics.selection_path.labels("execution" if executed else report.status).inc()
        tournament = make_tournament(request.strategy, players)
        judgments: list[Judgment] = []
        evidence_shown: dict[tuple[int, int], int] = {}
        judge_loading = not self.judge_ready
        while (pairs := tournament.next_round()) is not None:
            if tournament.round_index == 0:
                self._require_judge(prepared)
            round_index = tournament.round_index
            verdicts, round_judgments = await self._play_round(prepared, executed, selection_id, round_index, pairs,
                                                               usage, emit, evidence_shown)
            judgments.extend(round_judgments)
            outcomes = [self._outcome(executed, round_index, pair, verdicts[pair]) for pair in pairs]
            tournament.record(outcomes)
            remaining = tournament.alive if isinstance(tournament, Knockout) else list(players)
            await _emit(emit, "round_end", RoundEndEvent(
                round=round_index, results=[_result(o, evidence_shown) for o in outcomes], remaining=list(remaining)))
        response = self._response(prepared, executed, report, tournament, judgments, usage, started, evidence_shown)
        if judge_loading and not tournament.outcomes:
            response.winner.reason += "; answered by execution alone, the judge is not loaded"
            self.metrics.answered_while_judge_loads.inc()
        self.metrics.selections.labels(request.strategy.value, request.mode.value).inc()
        return response

    def _outcome(self, executed: Executed | None, round_index: int, pair: tuple[int, int],
                 verdicts: list[OrderedVerdict]) -> MatchOutcome:
        outcome = merge_orders(round_index, pair, verdicts)
        if executed is None:
            return outcome
        sizes = (executed.grouping.size(pair[0]), executed.grouping.size(pair[1]))
        return with_consensus(outcome, verdicts, sizes, self.settings.consensus_margin)

    async def execute(self, plan: ExecutionPlan, codes: list[str],
                      required: bool = False) -> tuple[Executed | None, ExecutionReport]:
        """Run the distinct programs of `codes` over the plan's probe set and group them. None when the plan says
        not to run, the run failed or told nothing apart: the report then says why (and what ran, if anything).
        Evaluation calls this too."""
        if plan.probe_set is None or self.executor is None:
            return None, unexecuted_report(plan)
        generated = None
        if plan.generator is not None:
            plan, generated = await generate_inputs(self.executor, plan)
        probe_set = plan.probe_set
        assert probe_set is not None  # generating inputs only adds probes
        if generated is not None and not probe_set.probes:
            reason = f"{plan.reason or 'nothing to run'}; the input generator gave no valid input"
            if required:
                raise ApiError(422, f"execution: required, but there is {reason}", "no_probes", "input_generator")
            report = unexecuted_report(replace(plan, status="skipped", reason=reason))
            return None, report.model_copy(update={"generator": generated})
        try:
            execution = await self.executor.run(codes, probe_set, plan.budget_s)
        except (ExecutionBudgetExceeded, ExecutionUnavailable) as exc:
            if required:
                raise ApiError(503, f"execution: {exc}", "execution_failed", "execution") from exc
            logger.warning("selection falls back to the judge alone: %s", exc)
            failed = unexecuted_report(ExecutionPlan("skipped", f"execution failed: {exc}", plan.entry_point,
                                                     shape=plan.shape))
            return None, failed.model_copy(update={"generator": generated})
        runs = [execution.runs[code] for code in codes]
        grouping = group_candidates(runs, probe_set)
        report = execution_report(plan, grouping, execution.fresh_runs, execution.cached_runs, execution.elapsed_s)
        report.generator = generated
        if not grouping.informative:
            # The candidates ran, but every call raised or timed out: the judge alone decides (the report keeps
            # the runs, so the caller sees that they ran and how they failed).
            reason = "no candidate completed a single probe (every call raised or timed out): nothing to tell apart"
            return None, report.model_copy(update={"status": "skipped", "reason": reason})
        return Executed(plan, probe_set, runs, grouping, report), report

    def _ordered_pairs(self, prepared: PreparedSelection, executed: Executed | None, round_index: int,
                       pairs: list[tuple[int, int]]) -> list[_OrderedPair]:
        both = prepared.request.orders == "both"
        ordered = []
        for i, j in pairs:
            shown: tuple[Disagreement, ...] = ()
            if executed is not None and prepared.prompt_version != PROMPT_V1:
                shown = tuple(disagreements(executed.probe_set, executed.grouping, executed.runs[i],
                                            executed.runs[j], self.settings.evidence_inputs))
            for first, second in ((i, j), (j, i)) if both else ((i, j),):
                evidence = shown if first == i else tuple(item.swapped() for item in shown)
                evidence = self._fitting_evidence(prepared, first, second, evidence)
                key = self._cache_key(prepared, prepared.codes[first], prepared.codes[second], evidence)
                ordered.append(_OrderedPair(round_index, (i, j), (first, second), key, evidence))
        return ordered

    def _fitting_evidence(self, prepared: PreparedSelection, first: int, second: int,
                          evidence: tuple[Disagreement, ...]) -> tuple[Disagreement, ...]:
        """The most evidence items (in order) whose prompt still fits the context."""
        while evidence:
            if len(self._prompt_ids(prepared, first, second, evidence)) + prepared.answer_tokens \
                    <= self.settings.max_model_len:
                return evidence
            evidence = evidence[:-1]
        return evidence

    def _prompt_ids(self, prepared: PreparedSelection, first: int, second: int,
                    evidence: tuple[Disagreement, ...]) -> list[int]:
        tokenizer = self.engine.tokenizer
        prompt = render_prompt(tokenizer, prepared.request.problem, prepared.codes[first], prepared.codes[second],
                               prepared.mode, evidence, prepared.prompt_version)
        return encode_prompt(tokenizer, prompt)

    def _sampling(self, prepared: PreparedSelection) -> dict[str, object]:
        if prepared.mode is JudgeMode.VERDICT:
            return {"max_tokens": 1, "temperature": 0.0}
        request = prepared.request
        return {"votes": request.votes, "max_tokens": request.max_reasoning_tokens,
                "temperature": self._temperature(prepared)}

    @staticmethod
    def _temperature(prepared: PreparedSelection) -> float:
        return REASONING_VOTE_TEMPERATURE if prepared.request.votes > 1 else 0.0

    def _cache_key(self, prepared: PreparedSelection, code_a: str, code_b: str,
                   evidence: tuple[Disagreement, ...] = ()) -> str:
        adapter = prepared.adapter
        return verdict_cache_key(
            model=self.settings.model, adapter=adapter.name if adapter else None,
            adapter_hash=adapter.content_hash if adapter else None, prompt_version=prepared.prompt_version,
            mode=prepared.mode.value, sampling=self._sampling(prepared), problem=prepared.request.problem,
            code_a=code_a, code_b=code_b, evidence=render_evidence(evidence),
            dtype=self.engine.dtype_choice.dtype if self.engine.dtype_choice else None,
        )

    async def _play_round(
        self,
        prepared: PreparedSelection,
        executed: Executed | None,
        selection_id: str,
        round_index: int,
        pairs: list[tuple[int, int]],
        usage: _UsageCounter,
        emit: Emit | None,
        evidence_shown: dict[tuple[int, int], int],
    ) -> tuple[dict[tuple[int, int], list[OrderedVerdict]], list[Judgment]]:
        ordered = self._ordered_pairs(prepared, executed, round_index, pairs)
        for item in ordered:
            evidence_shown[item.pair] = max(evidence_shown.get(item.pair, 0), len(item.evidence))
        cached = await self.cache.get_many([item.cache_key for item in ordered])
        for item in ordered:
            await _emit(emit, "match_start", MatchStartEvent(round=round_index, pair=item.pair, order=item.order))
        judgments: dict[int, Judgment] = {}
        for position, (item, hit) in enumerate(zip(ordered, cached, strict=True)):
            if hit is not None:
                usage.cache_hits += 1
                judgments[position] = _judgment(item, hit.choice, hit.p_a, hit.reasoning, cached=True)
                await _emit(emit, "verdict", judgments[position])
        self.metrics.cache_hits.inc(len(judgments))
        misses = [position for position in range(len(ordered)) if position not in judgments]
        self.metrics.cache_misses.inc(len(misses))
        fresh: dict[str, CachedVerdict] = {}
        round_started = time.perf_counter()
        try:
            async with asyncio.TaskGroup() as group:
                for position in misses:
                    group.create_task(self._judge_one(prepared, selection_id, ordered[position], position, usage,
                                                      judgments, fresh, emit))
        except* EngineError as failures:
            if self.shutting_down:
                raise ApiError(503, "the service is shutting down; retry the selection", "shutting_down",
                               headers={"Retry-After": "1"}) from failures
            raise ApiError(500, f"judge engine failed: {failures.exceptions[0]}", "engine_error") from failures
        except* ApiError as failures:
            raise failures.exceptions[0] from None
        if misses:
            self.metrics.judge_latency.observe(time.perf_counter() - round_started)
        await self.cache.set_many(fresh)
        verdicts: dict[tuple[int, int], list[OrderedVerdict]] = {pair: [] for pair in pairs}
        for position, item in enumerate(ordered):
            judgment = judgments[position]
            verdicts[item.pair].append(OrderedVerdict(item.order[0], item.order[1], judgment.probability
                                                      if judgment.verdict != "unparseable" else None))
        return verdicts, [judgments[position] for position in range(len(ordered))]

    async def _judge_one(
        self,
        prepared: PreparedSelection,
        selection_id: str,
        item: _OrderedPair,
        position: int,
        usage: _UsageCounter,
        judgments: dict[int, Judgment],
        fresh: dict[str, CachedVerdict],
        emit: Emit | None,
    ) -> None:
        first, second = item.order
        prompt_ids = self._prompt_ids(prepared, first, second, item.evidence)
        if len(prompt_ids) + prepared.answer_tokens > self.settings.max_model_len:
            raise ApiError(422, f"the judge prompt for candidates {first} and {second} needs {len(prompt_ids)} tokens "
                           f"plus {prepared.answer_tokens} for the answer, over max_model_len="
                           f"{self.settings.max_model_len}", "context_overflow", f"candidates[{first}]")
        call = JudgeCall(
            request_id=f"{selection_id}-r{item.round}-{first}v{second}",
            prompt_token_ids=prompt_ids,
            mode=prepared.mode,
            votes=prepared.request.votes,
            max_tokens=prepared.request.max_reasoning_tokens,
            temperature=self._temperature(prepared),
            adapter=prepared.adapter,
        )

        async def on_delta(vote: int, text: str) -> None:
            await _emit(emit, "reasoning", ReasoningEvent(round=item.round, order=item.order, vote=vote, delta=text))

        result: JudgeResult = await self.engine.judge(call, on_delta if emit is not None else None)
        usage.judge_calls += 1
        usage.prompt_tokens += result.prompt_tokens
        usage.completion_tokens += result.completion_tokens
        self.metrics.judge_calls.labels(prepared.mode.value).inc()
        self.metrics.tokens.labels("prompt").inc(result.prompt_tokens)
        self.metrics.tokens.labels("completion").inc(result.completion_tokens)
        verdict = result.verdict
        fresh[item.cache_key] = CachedVerdict(verdict.choice, verdict.p_a, verdict.reasoning, result.prompt_tokens,
                                              result.completion_tokens)
        judgments[position] = _judgment(item, verdict.choice, verdict.p_a, verdict.reasoning, cached=False)
        await _emit(emit, "verdict", judgments[position])

    def _response(self, prepared: PreparedSelection, executed: Executed | None, report: ExecutionReport,
                  tournament: Tournament, judgments: list[Judgment], usage: _UsageCounter, started: float,
                  evidence_shown: dict[tuple[int, int], int]) -> SelectResponse:
        order = _ranked_candidates(prepared, executed, tournament)
        ranking = []
        for rank, members in order:
            for index in members:
                rep = prepared.representative[index]
                # A cluster's members share the standing of the representative the judge compared.
                player = executed.grouping.clusters[executed.grouping.cluster_of[index]][0] if executed else rep
                standing = tournament.standings.get(player)
                ranking.append(RankedCandidate(
                    index=index, id=prepared.ids[index], rank=rank,
                    score=round(standing.score, 6) if standing else 0.0,
                    wins=standing.wins if standing else 0, losses=standing.losses if standing else 0,
                    duplicate_of=rep if rep != index else None,
                    cluster=executed.grouping.cluster_of[index] if executed else None,
                    execution=candidate_summary(executed, index) if executed else None,
                ))
        winner = ranking[0].index
        reason = winner_reason(prepared.representative[winner] if executed is None else winner, executed, report,
                               tournament)
        return SelectResponse(
            winner=Winner(index=winner, id=prepared.ids[winner], reason=reason),
            no_candidate_passes=bool(executed and executed.grouping.no_candidate_passes),
            execution=report,
            ranking=ranking,
            matches=judgments,
            results=[_result(outcome, evidence_shown) for outcome in tournament.outcomes],
            usage=Usage(judge_calls=usage.judge_calls, cache_hits=usage.cache_hits, prompt_tokens=usage.prompt_tokens,
                        completion_tokens=usage.completion_tokens,
                        elapsed_ms=round((time.perf_counter() - started) * 1000, 2)),
            judge=self.judge_info(prepared),
            strategy=prepared.request.strategy,
            mode=prepared.mode,
        )


def _ranked_candidates(prepared: PreparedSelection, executed: Executed | None,
                       tournament: Tournament) -> list[tuple[int, list[int]]]:
    """(rank, candidate indices) best first. Judge only: the tournament's order, identical candidates sharing
    a rank. With execution: the top group's clusters in the tournament's order, then the other clusters by
    checks passed and size; a cluster's members share its rank."""
    standings = [standing.player for standing in tournament.ranking()]
    if executed is None:
        groups = {rep: [k for k in range(len(prepared.codes)) if prepared.representative[k] == rep]
                  for rep in standings}
        return [(position + 1, groups[rep]) for position, rep in enumerate(standings)]
    grouping = executed.grouping
    judged = [grouping.cluster_of[rep] for rep in standings]
    rest = [cid for cid in range(len(grouping.clusters)) if cid not in set(judged)]
    return [(position + 1, grouping.clusters[cid]) for position, cid in enumerate(judged + rest)]


def _candidate_param(candidate: str | Candidate, index: int) -> str:
    """The request field holding a candidate's code, as error messages name it."""
    return f"candidates[{index}].code" if isinstance(candidate, Candidate) else f"candidates[{index}]"


def _judgment(item: _OrderedPair, choice: str, p_a: float | None, reasoning: str | None, cached: bool) -> Judgment:
    return Judgment(round=item.round, pair=item.pair, order=item.order, verdict=choice,
                    probability=p_a, reasoning=reasoning, cached=cached)


def _result(outcome: MatchOutcome, evidence_shown: dict[tuple[int, int], int]) -> MatchResult:
    return MatchResult(round=outcome.round, pair=outcome.pair, winner=outcome.winner,
                       probability=round(outcome.p_first, 6), decided_by=outcome.decided_by,
                       evidence=evidence_shown.get(outcome.pair, 0))


async def _emit(emit: Emit | None, name: str, payload: BaseModel) -> None:
    if emit is not None:
        await emit(name, payload)
