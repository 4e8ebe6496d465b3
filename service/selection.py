"""A selection, end to end: validate, collapse identical candidates, run the tournament round by round.

Each round: one cache read for all its ordered pairs, every miss sent to the engine at once (so continuous
batching fills it and the shared problem prefix is reused), one cache write, then the orders are merged and
the tournament advances. Events go to `emit` as they happen (the SSE stream), in this order: start, then per
round match_start..., reasoning..., verdict..., round_end, and finally result.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel

from daj.protocol import PROMPT_VERSION, JudgeMode, encode_prompt, render_prompt
from service.adapters import AdapterRegistry
from service.cache import CachedVerdict, VerdictCache, verdict_cache_key
from service.engine.base import Adapter, EngineError, JudgeCall, JudgeEngine, JudgeResult
from service.errors import ApiError
from service.metrics import Metrics
from service.protocol import (
    Candidate,
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
from service.tournament import Knockout, MatchOutcome, OrderedVerdict, group_identical, make_tournament, merge_orders

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


class SelectionService:
    def __init__(
        self,
        engine: JudgeEngine,
        cache: VerdictCache,
        adapters: AdapterRegistry,
        settings: Settings,
        metrics: Metrics,
    ) -> None:
        self.engine = engine
        self.cache = cache
        self.adapters = adapters
        self.settings = settings
        self.metrics = metrics
        # Set when the service begins to shut down: engine failures from then on are a retryable 503.
        self.shutting_down = False

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
        prepared = PreparedSelection(request, ids, codes, representative, players, adapter)
        self._check_context(prepared)
        return prepared

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
        """Every pair the tournament could judge must fit the context: check the two longest candidates."""
        if len(prepared.players) < 2:
            return
        tokenizer = self.engine.tokenizer
        overhead = len(encode_prompt(tokenizer, render_prompt(tokenizer, "", "", "", prepared.mode)))
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
                         adapter_hash=adapter.content_hash if adapter else None, prompt_version=PROMPT_VERSION)

    async def run(self, prepared: PreparedSelection, selection_id: str, emit: Emit | None = None) -> SelectResponse:
        started = time.perf_counter()
        usage = _UsageCounter()
        request = prepared.request
        await _emit(emit, "start", StartEvent(candidates=len(prepared.codes), unique_candidates=len(prepared.players),
                                              strategy=request.strategy, judge=self.judge_info(prepared)))
        tournament = make_tournament(request.strategy, prepared.players)
        judgments: list[Judgment] = []
        while (pairs := tournament.next_round()) is not None:
            round_index = tournament.round_index
            verdicts, round_judgments = await self._play_round(prepared, selection_id, round_index, pairs, usage, emit)
            judgments.extend(round_judgments)
            outcomes = [merge_orders(round_index, pair, verdicts[pair]) for pair in pairs]
            tournament.record(outcomes)
            remaining = tournament.alive if isinstance(tournament, Knockout) else list(prepared.players)
            await _emit(emit, "round_end", RoundEndEvent(round=round_index, results=[_result(o) for o in outcomes],
                                                         remaining=list(remaining)))
        response = self._response(prepared, tournament, judgments, usage, started)
        self.metrics.selections.labels(request.strategy.value, request.mode.value).inc()
        return response

    def _ordered_pairs(self, prepared: PreparedSelection, round_index: int,
                       pairs: list[tuple[int, int]]) -> list[_OrderedPair]:
        both = prepared.request.orders == "both"
        ordered = []
        for i, j in pairs:
            for first, second in ((i, j), (j, i)) if both else ((i, j),):
                key = self._cache_key(prepared, prepared.codes[first], prepared.codes[second])
                ordered.append(_OrderedPair(round_index, (i, j), (first, second), key))
        return ordered

    def _sampling(self, prepared: PreparedSelection) -> dict[str, object]:
        if prepared.mode is JudgeMode.VERDICT:
            return {"max_tokens": 1, "temperature": 0.0}
        request = prepared.request
        return {"votes": request.votes, "max_tokens": request.max_reasoning_tokens,
                "temperature": self._temperature(prepared)}

    @staticmethod
    def _temperature(prepared: PreparedSelection) -> float:
        return REASONING_VOTE_TEMPERATURE if prepared.request.votes > 1 else 0.0

    def _cache_key(self, prepared: PreparedSelection, code_a: str, code_b: str) -> str:
        adapter = prepared.adapter
        return verdict_cache_key(
            model=self.settings.model, adapter=adapter.name if adapter else None,
            adapter_hash=adapter.content_hash if adapter else None, prompt_version=PROMPT_VERSION,
            mode=prepared.mode.value, sampling=self._sampling(prepared), problem=prepared.request.problem,
            code_a=code_a, code_b=code_b,
        )

    async def _play_round(
        self,
        prepared: PreparedSelection,
        selection_id: str,
        round_index: int,
        pairs: list[tuple[int, int]],
        usage: _UsageCounter,
        emit: Emit | None,
    ) -> tuple[dict[tuple[int, int], list[OrderedVerdict]], list[Judgment]]:
        ordered = self._ordered_pairs(prepared, round_index, pairs)
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
        tokenizer = self.engine.tokenizer
        first, second = item.order
        prompt = render_prompt(tokenizer, prepared.request.problem, prepared.codes[first], prepared.codes[second],
                               prepared.mode)
        prompt_ids = encode_prompt(tokenizer, prompt)
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

    def _response(self, prepared: PreparedSelection, tournament, judgments: list[Judgment],  # type: ignore[no-untyped-def]
                  usage: _UsageCounter, started: float) -> SelectResponse:
        order = [standing.player for standing in tournament.ranking()]
        rank_of = {player: position + 1 for position, player in enumerate(order)}
        ranking = []
        for index in sorted(range(len(prepared.codes)), key=lambda k: (rank_of[prepared.representative[k]], k)):
            rep = prepared.representative[index]
            standing = tournament.standings[rep]
            ranking.append(RankedCandidate(
                index=index, id=prepared.ids[index], rank=rank_of[rep], score=round(standing.score, 6),
                wins=standing.wins, losses=standing.losses, duplicate_of=rep if rep != index else None,
            ))
        winner = tournament.winner()
        return SelectResponse(
            winner=Winner(index=winner, id=prepared.ids[winner]),
            ranking=ranking,
            matches=judgments,
            results=[_result(outcome) for outcome in tournament.outcomes],
            usage=Usage(judge_calls=usage.judge_calls, cache_hits=usage.cache_hits, prompt_tokens=usage.prompt_tokens,
                        completion_tokens=usage.completion_tokens,
                        elapsed_ms=round((time.perf_counter() - started) * 1000, 2)),
            judge=self.judge_info(prepared),
            strategy=prepared.request.strategy,
            mode=prepared.mode,
        )


def _candidate_param(candidate: str | Candidate, index: int) -> str:
    """The request field holding a candidate's code, as error messages name it."""
    return f"candidates[{index}].code" if isinstance(candidate, Candidate) else f"candidates[{index}]"


def _judgment(item: _OrderedPair, choice: str, p_a: float | None, reasoning: str | None, cached: bool) -> Judgment:
    return Judgment(round=item.round, pair=item.pair, order=item.order, verdict=choice,  # type: ignore[arg-type]
                    probability=p_a, reasoning=reasoning, cached=cached)


def _result(outcome: MatchOutcome) -> MatchResult:
    return MatchResult(round=outcome.round, pair=outcome.pair, winner=outcome.winner,
                       probability=round(outcome.p_first, 6), decided_by=outcome.decided_by)  # type: ignore[arg-type]


async def _emit(emit: Emit | None, name: str, payload: BaseModel) -> None:
    if emit is not None:
        await emit(name, payload)
