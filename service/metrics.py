"""Prometheus metrics, in a registry owned by the app (no process-global state)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter("daj_requests", "HTTP requests", ["path", "status"], registry=r)
        self.request_latency = Histogram(
            "daj_request_latency_seconds", "HTTP request latency", ["path"], buckets=_LATENCY_BUCKETS, registry=r
        )
        self.selections = Counter("daj_selections", "Selections completed", ["strategy", "mode"], registry=r)
        self.judge_calls = Counter("daj_judge_calls", "Engine judge calls", ["mode"], registry=r)
        self.judge_latency = Histogram(
            "daj_judge_round_latency_seconds", "Wall time of one round's engine calls", buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.cache_hits = Counter("daj_cache_hits", "Verdict cache hits", registry=r)
        self.cache_misses = Counter("daj_cache_misses", "Verdict cache misses", registry=r)
        self.cache_errors = Counter("daj_cache_errors", "Verdict cache failures (served uncached)", ["op"], registry=r)
        self.errors = Counter("daj_errors", "Error responses by code", ["code"], registry=r)
        self.inflight = Gauge("daj_inflight_selections", "Selections in flight", registry=r)
        self.tokens = Counter("daj_tokens", "Tokens processed by the judge", ["kind"], registry=r)
        self.sandbox_ready = Gauge("daj_sandbox_ready", "1 when the sandbox self-check passed", registry=r)
        self.sandbox_runs = Counter(
            "daj_sandbox_runs", "Candidate runs by sandbox status (timeout, killed, ...)", ["status"], registry=r
        )
        self.sandbox_seconds = Histogram(
            "daj_sandbox_run_seconds", "Wall time of one candidate's run", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.sandbox_errors = Counter(
            "daj_sandbox_errors", "Executions that failed in the sandbox itself (fell back to the judge)", registry=r
        )
        self.execution_cache = Counter("daj_execution_cache", "Execution cache lookups", ["result"], registry=r)
        self.execution_budget_exceeded = Counter(
            "daj_execution_budget_exceeded", "Selections whose execution ran over its budget", registry=r
        )
        self.execution_queue = Gauge(
            "daj_execution_queue", "Sandbox runs submitted and not finished (running or waiting)", registry=r
        )
        self.reward_batches = Counter("daj_reward_batches", "Reward batches answered", ["reward"], registry=r)
        self.reward_completions = Counter(
            "daj_reward_completions", "Completions scored by /rewards, by status", ["status"], registry=r
        )
        self.judge_dtype = Gauge(
            "daj_judge_dtype", "1 for the dtype the judge computes in, with the reason it was chosen",
            ["dtype", "reason"], registry=r,
        )
        self.answered_while_judge_loads = Counter(
            "daj_answered_while_judge_loads", "Selections execution decided before the judge was loaded", registry=r
        )
        self.selection_path = Counter(
            "daj_selection_path", "Selections by path: execution or judge only (and why)", ["path"], registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
