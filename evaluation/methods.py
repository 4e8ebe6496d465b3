"""Selection methods: the judge (pairwise tournaments, pointwise scores) and the judge-free baselines.

Each selector turns one draw into a `SelectionRecord`. Where a method breaks ties at random, the record holds
the EXPECTED pass of its pick (the mean over the tied choices), so baselines add no sampling noise of their
own and the only randomness left is which candidates were drawn.
"""

from __future__ import annotations

import ast
import asyncio
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Protocol

from daj.candidates import normalize_code
from daj.pools import Pool
from daj.probes import Grouping
from evaluation.backends import ExecutionBackend, JudgeBackend, SelectionRejected
from evaluation.metrics import oracle, random_expected
from evaluation.records import NO_STRATEGY, JudgmentRecord, SelectionRecord
from evaluation.sampling import Draw

JUDGE_METHODS = ("pairwise", "pointwise", "exec+judge")
BASELINE_METHODS = ("random", "oracle", "majority", "first")
"""Judge-free: random and oracle (always run), majority (identical programs), first (the drawn candidate with the
lowest pool index: in a pool with one program per policy, always the first policy's, e.g. o1-mini)."""
EXECUTION_METHODS = ("exec-filter", "exec-filter-all", "exec-cluster")
"""Execution without the judge, through the service's own probes, sandbox runs and grouping:
- exec-filter: uniform over the top group (the most examples and tests passed; the service's group rule);
- exec-filter-all: the same, but uniform over ALL candidates when none passes every check (the offline
  baseline of sandbox/baselines.py);
- exec-cluster: the largest behaviour cluster of the top group (consensus); tied clusters uniformly."""


class Selector(Protocol):
    method: str
    strategy: str

    async def select(self, pool: Pool, draw: Draw) -> SelectionRecord: ...


def _record(selector: Selector, pool: Pool, draw: Draw, selected: float, **fields: Any) -> SelectionRecord:
    """A record carries the drawn labels, so metrics never need the pools again."""
    labels = _labels(pool, draw)
    return SelectionRecord(
        selector.method, selector.strategy, draw.n, draw.seed, draw.task_id, labels, selected, **fields
    )


def _labels(pool: Pool, draw: Draw) -> list[bool]:
    return [bool(pool.passed[i]) for i in draw.indices]


def expected_pick(labels: Sequence[bool], tied: Sequence[int]) -> float:
    """Expected pass when the pick is uniform over `tied` positions."""
    return sum(labels[i] for i in tied) / len(tied)


class RandomSelector:
    method, strategy = "random", NO_STRATEGY

    async def select(self, pool: Pool, draw: Draw) -> SelectionRecord:
        return _record(self, pool, draw, random_expected(_labels(pool, draw)))


class OracleSelector:
    method, strategy = "oracle", NO_STRATEGY

    async def select(self, pool: Pool, draw: Draw) -> SelectionRecord:
        return _record(self, pool, draw, oracle(_labels(pool, draw)))


class FirstSelector:
    """The drawn candidate that comes first in the pool (lowest pool index), wherever the draw shows it: with
    N == pool size, pool index 0 in every rotation. In a pool with one program per policy model (`daj pools
    merge`, `daj pools lcb`) that is "always the first policy"."""

    method, strategy = "first", NO_STRATEGY

    async def select(self, pool: Pool, draw: Draw) -> SelectionRecord:
        labels = _labels(pool, draw)
        position = min(range(len(draw.indices)), key=lambda p: draw.indices[p])
        return _record(self, pool, draw, float(labels[position]), picked=position)


def canonical_program(code: str) -> str:
    """AST dump (ignores formatting and comments); programs that do not parse fall back to whitespace norm."""
    try:
        return ast.dump(ast.parse(code))
    except (SyntaxError, ValueError):
        return "unparsed:" + normalize_code(code)


def majority_groups(codes: Sequence[str]) -> list[list[int]]:
    """Positions grouped by identical (AST-normalised) program, in order of first appearance."""
    groups: dict[str, list[int]] = defaultdict(list)
    for position, code in enumerate(codes):
        groups[canonical_program(code)].append(position)
    return list(groups.values())


class MajoritySelector:
    """Largest group of identical programs; ties between groups broken uniformly (-> expected value)."""

    method, strategy = "majority", NO_STRATEGY

    async def select(self, pool: Pool, draw: Draw) -> SelectionRecord:
        labels = _labels(pool, draw)
        groups = majority_groups([pool.candidates[i] for i in draw.indices])
        largest = max(len(group) for group in groups)
        tied = [group for group in groups if len(group) == largest]
        selected = sum(expected_pick(labels, group) for group in tied) / len(tied)
        scores = [0.0] * len(labels)
        for group in groups:
            for position in group:
                scores[position] = float(len(group))
        return _record(self, pool, draw, selected, scores=scores)


class PairwiseSelector:
    """A tournament of the pairwise judge, through the service's code (in-process) or its HTTP API: `pairwise`
    is the judge alone (execution off), `exec+judge` the service's default pipeline (execution auto)."""

    def __init__(self, backend: JudgeBackend, strategy: str, method: str = "pairwise") -> None:
        self.backend = backend
        self.strategy = strategy
        self.method = method
        self.execution = "off" if method == "pairwise" else "auto"

    async def select(self, pool: Pool, draw: Draw) -> SelectionRecord:
        codes = [pool.candidates[i] for i in draw.indices]
        stem = "exec" if self.execution != "off" else "judge"
        request_id = f"eval-{stem}-{self.strategy}-n{draw.n}-s{draw.seed}-{draw.task_id.replace('/', '_')}"
        started = time.perf_counter()
        try:
            response = await self.backend.select(pool.problem, codes, self.strategy, request_id, self.execution)
        except SelectionRejected as exc:
            return _record(self, pool, draw, 0.0, error=str(exc))
        return record_from_response(self, pool, draw, response, time.perf_counter() - started)


class ExecutionSelector:
    """The service's execution and grouping without the judge (see EXECUTION_METHODS)."""

    strategy = NO_STRATEGY

    def __init__(self, method: str, executor: ExecutionBackend) -> None:
        self.method = method
        self.executor = executor

    async def select(self, pool: Pool, draw: Draw) -> SelectionRecord:
        labels = _labels(pool, draw)
        codes = [pool.candidates[i] for i in draw.indices]
        started = time.perf_counter()
        grouping = await self.executor.group(pool.problem, codes)
        if grouping is None:  # the service would not run them (no entry point, nothing to run, nothing told apart)
            return _record(self, pool, draw, random_expected(labels), wall_s=time.perf_counter() - started,
                           executed=False)
        selected = exec_expected(self.method, grouping, labels)
        scores = [float(grouping.checks_passed[c]) + len(grouping.clusters[grouping.cluster_of[c]]) / (len(codes) + 1)
                  for c in range(len(codes))]
        return _record(self, pool, draw, selected, scores=scores, wall_s=time.perf_counter() - started, executed=True)


def _tied_groups(method: str, grouping: Grouping) -> list[list[int]]:
    """The groups an exec-* method's pick is uniform over (a one-element list: uniform over that group)."""
    top = [c for cid in grouping.top_clusters for c in grouping.clusters[cid]]
    if method == "exec-filter":
        return [top]
    if method == "exec-filter-all":
        return [top] if not grouping.no_candidate_passes else [list(range(len(grouping.cluster_of)))]
    largest = max(len(grouping.clusters[cid]) for cid in grouping.top_clusters)
    return [grouping.clusters[cid] for cid in grouping.top_clusters if len(grouping.clusters[cid]) == largest]


def exec_expected(method: str, grouping: Grouping, labels: Sequence[bool]) -> float:
    """An exec-* method's expected pass: one of its tied groups uniformly, then a member uniformly (exec-cluster:
    one of the largest top-group clusters)."""
    tied = _tied_groups(method, grouping)
    return sum(expected_pick(labels, group) for group in tied) / len(tied)


def record_from_response(
    selector: Selector, pool: Pool, draw: Draw, response: dict[str, Any], wall_s: float
) -> SelectionRecord:
    """A `SelectResponse` (as a dict) -> record: winner's label, ranking scores, every ordered verdict."""
    labels = _labels(pool, draw)
    winner = int(response["winner"]["index"])
    scores = [0.0] * len(labels)
    for ranked in response["ranking"]:
        scores[int(ranked["index"])] = float(ranked["score"])
    judgments = [
        JudgmentRecord(m["round"], tuple(m["pair"]), tuple(m["order"]), m["verdict"], m["probability"])
        for m in response["matches"]
    ]
    usage = response["usage"]
    return _record(
        selector,
        pool,
        draw,
        float(labels[winner]),
        picked=winner,
        scores=scores,
        judgments=judgments,
        matches=len(response["results"]),
        ties=sum(1 for result in response["results"] if result["decided_by"] == "tie_rule"),
        judge_decided=sum(1 for result in response["results"] if result["decided_by"] == "judge"),
        executed=response["execution"]["status"] == "ran" if "execution" in response else None,
        judge_calls=len(judgments),
        engine_calls=int(usage["judge_calls"]),
        prompt_tokens=int(usage["prompt_tokens"]),
        completion_tokens=int(usage["completion_tokens"]),
        wall_s=wall_s,
    )


class PointwiseSelector:
    """Score each distinct program alone (P("Yes")), pick the highest; exact ties -> expected value."""

    method, strategy = "pointwise", NO_STRATEGY

    def __init__(self, backend: JudgeBackend) -> None:
        self.backend = backend

    async def select(self, pool: Pool, draw: Draw) -> SelectionRecord:
        labels = _labels(pool, draw)
        codes = [pool.candidates[i] for i in draw.indices]
        groups = _identical_groups(codes)
        started = time.perf_counter()
        stem = f"eval-pointwise-n{draw.n}-s{draw.seed}-{draw.task_id.replace('/', '_')}"
        results = await asyncio.gather(
            *(self.backend.score(pool.problem, codes[group[0]], f"{stem}-{group[0]}") for group in groups)
        )
        scores = [0.0] * len(labels)
        for group, result in zip(groups, results, strict=True):
            for position in group:
                scores[position] = result.p_yes
        best = max(scores)
        tied = [position for position, score in enumerate(scores) if score == best]
        return _record(
            self,
            pool,
            draw,
            expected_pick(labels, tied),
            picked=tied[0] if len(tied) == 1 else None,
            scores=scores,
            judge_calls=len(groups),
            engine_calls=len(groups),
            prompt_tokens=sum(r.prompt_tokens for r in results),
            completion_tokens=len(groups),
            wall_s=time.perf_counter() - started,
        )


def _identical_groups(codes: Sequence[str]) -> list[list[int]]:
    """Whitespace-identical programs, as the service collapses them (scored once)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for position, code in enumerate(codes):
        groups[normalize_code(code)].append(position)
    return list(groups.values())


ALL_METHODS = BASELINE_METHODS + EXECUTION_METHODS + JUDGE_METHODS


def selector_specs(methods: Sequence[str], strategies: Sequence[str]) -> list[tuple[str, str]]:
    """(method, strategy) of every selector to run, cheap baselines first; random and oracle always run."""
    unknown = sorted(set(methods) - set(ALL_METHODS))
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; known: {list(ALL_METHODS)}")
    specs = [(name, NO_STRATEGY) for name in BASELINE_METHODS if name in {"random", "oracle", *methods}]
    specs.extend((name, NO_STRATEGY) for name in EXECUTION_METHODS if name in methods)
    if "pointwise" in methods:
        specs.append(("pointwise", NO_STRATEGY))
    for name in ("pairwise", "exec+judge"):
        if name in methods:
            specs.extend((name, strategy) for strategy in strategies)
    return specs


def needs_judge(method: str) -> bool:
    return method in JUDGE_METHODS


def needs_execution(method: str) -> bool:
    return method in EXECUTION_METHODS


def build_selector(
    method: str, strategy: str, backend: JudgeBackend | None, executor: ExecutionBackend | None = None
) -> Selector:
    """One selector; judge methods need a backend, execution methods an executor (each built only when some
    of their work is pending)."""
    if method == "random":
        return RandomSelector()
    if method == "oracle":
        return OracleSelector()
    if method == "majority":
        return MajoritySelector()
    if method == "first":
        return FirstSelector()
    if needs_execution(method):
        if executor is None:
            raise ValueError(f"method {method!r} needs an execution backend")
        return ExecutionSelector(method, executor)
    if backend is None:
        raise ValueError(f"method {method!r} needs a judge backend")
    if method == "pointwise":
        return PointwiseSelector(backend)
    return PairwiseSelector(backend, strategy, method)
