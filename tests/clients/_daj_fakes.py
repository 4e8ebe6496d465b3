"""A scripted stand-in for the service behind `httpx.MockTransport`: the SDK's logic is tested without a server.

Bodies are built from the *service's* own models (`service.protocol`), so these fakes cannot drift from what the
real server sends.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

import httpx

from service import protocol as p

FAILURE = p.Failure(input="f(2)", expected="4", actual="3")
STDIN_FAILURE = p.Failure(input="3\n1 2 3\n", expected="6\n", actual="timeout")
SEVERAL_ANSWERS_NOTE = (
    "the statement allows several correct answers: its sample outputs are not checks (a `checker` would make them "
    "checks); the samples run as inputs"
)


def execution_report(
    codes: list[str], executed: bool = False, passes: bool = True, shape: str | None = None
) -> p.ExecutionReport:
    """Judge only (`executed=False`, execution off), or every candidate ran and is its own behaviour cluster, all
    in the top group: passing the example and the test (`passes`), or all failing both. `shape="stdin"`: whole
    programs with a 2 s time limit and a note; `"function"`: `f` with the server's 0.5 s; None: as a server from
    before shapes answered (no shape, time limit or notes)."""
    if not executed:
        return p.ExecutionReport(status="off", reason="execution is off in the request")
    clusters = [
        p.Cluster(id=i, members=[i], checks_passed=2 if passes else 0, top_group=True) for i in range(len(codes))
    ]
    probes = p.ProbeCounts(examples=1, tests=1, inputs=6, dropped_inputs=1)
    shaped: dict = {}
    if shape == "stdin":
        shaped = {"shape": "stdin", "time_limit_s": 2.0, "notes": [SEVERAL_ANSWERS_NOTE]}
    elif shape is not None:
        shaped = {"shape": shape, "time_limit_s": 0.5}
    return p.ExecutionReport(
        status="ran",
        entry_point=None if shape == "stdin" else "f",
        probes=probes,
        clusters=clusters,
        runs=len(codes),
        cached_runs=0,
        elapsed_ms=42.0,
        **shaped,
    )


def execution_summary(passes: bool, shape: str | None = None, index: int = 0) -> p.ExecutionSummary:
    """A stdin program also reports its CPU time (candidate `index` took 0.01 * (index + 1) s at most) and, when
    it fails, one timeout."""
    timed = shape == "stdin"
    cpu_s = (2.0 if not passes else round(0.01 * (index + 1), 4)) if timed else None
    if passes:
        return p.ExecutionSummary(
            status="passed", examples_passed=1, examples_total=1, tests_passed=1, tests_total=1, cpu_s=cpu_s
        )
    return p.ExecutionSummary(
        status="failed" if not timed else "timeout",
        examples_passed=0,
        examples_total=1,
        tests_passed=0,
        tests_total=1,
        first_failure=STDIN_FAILURE if timed else FAILURE,
        cpu_s=cpu_s,
        timeouts=1 if timed else 0,
    )


def knockout_response(
    codes: list[str], winner: int, executed: bool = False, passes: bool = True, shape: str | None = None
) -> dict:
    """A valid knockout SelectResponse over `codes` in which `winner` beats everyone it meets; with `executed`,
    the candidates ran first (see `execution_report`, and `execution_summary` for `shape`)."""
    others = [i for i in range(len(codes)) if i != winner]
    evidence = 2 if executed else 0
    matches, results = [], []
    for round_, loser in enumerate(others, start=1):
        pair = (winner, loser)
        for order in (pair, pair[::-1]):
            verdict = "A" if order[0] == winner else "B"
            probability = 0.8 if verdict == "A" else 0.2
            matches.append(
                p.Judgment(round=round_, pair=pair, order=order, verdict=verdict, probability=probability, cached=False)
            )
        results.append(
            p.MatchResult(
                round=round_, pair=pair, winner=winner, probability=0.8, decided_by="judge", evidence=evidence
            )
        )
    execution = (lambda i: execution_summary(passes, shape, i)) if executed else (lambda i: None)
    cluster = (lambda i: i) if executed else (lambda i: None)
    ranking = [
        p.RankedCandidate(
            index=winner,
            id=str(winner),
            rank=1,
            score=0.8 * len(others),
            wins=len(others),
            losses=0,
            cluster=cluster(winner),
            execution=execution(winner),
        )
    ]
    ranking += [
        p.RankedCandidate(
            index=i, id=str(i), rank=2, score=0.2, wins=0, losses=1, cluster=cluster(i), execution=execution(i)
        )
        for i in others
    ]
    report = execution_report(codes, executed, passes, shape)
    if executed:
        reason = f"passes {2 if passes else 0}/2 checks; beat cluster {others[-1]} (judge, p=0.80)"
    else:
        reason = f"won the judge tournament ({len(results)} matches; execution off: {report.reason})"
    response = p.SelectResponse(
        winner=p.Winner(index=winner, id=str(winner), reason=reason),
        no_candidate_passes=executed and not passes,
        execution=report,
        ranking=ranking,
        matches=matches,
        results=results,
        usage=p.Usage(
            judge_calls=len(matches),
            cache_hits=0,
            prompt_tokens=100 * len(matches),
            completion_tokens=len(matches),
            elapsed_ms=12.5,
        ),
        judge=judge_info(),
        strategy=p.Strategy.KNOCKOUT,
        mode="verdict",
    )
    return response.model_dump(mode="json")


def judge_info() -> p.JudgeInfo:
    return p.JudgeInfo(model="tiny", adapter=None, adapter_hash=None, prompt_version="v1")


def stream_events(
    codes: list[str],
    winner: int,
    reasoning: bool = False,
    executed: bool = False,
    passes: bool = True,
    shape: str | None = None,
) -> list[tuple[str, dict]]:
    """The event sequence the service sends for `knockout_response(codes, winner, executed, passes, shape)`:
    `execution` always follows `start`; `clusters` only when the candidates ran."""
    final = knockout_response(codes, winner, executed, passes, shape)
    start = p.StartEvent(candidates=len(codes), unique_candidates=len(codes), strategy="knockout", judge=judge_info())
    events: list[tuple[str, dict]] = [("start", start.model_dump(mode="json")), ("execution", final["execution"])]
    if executed:
        clusters = p.ClustersEvent(clusters=final["execution"]["clusters"], players=list(range(len(codes))))
        events.append(("clusters", clusters.model_dump(mode="json")))
    others = [i for i in range(len(codes)) if i != winner]
    for result in final["results"]:
        round_ = result["round"]
        judgments = [m for m in final["matches"] if m["round"] == round_]
        events += [("match_start", {"round": round_, "pair": m["pair"], "order": m["order"]}) for m in judgments]
        if reasoning:
            for m in judgments:
                events += [
                    ("reasoning", {"round": round_, "order": m["order"], "vote": 0, "delta": piece})
                    for piece in ("Both parse. ", "A handles the edge case.")
                ]
        events += [("verdict", m) for m in judgments]
        remaining = [winner, *others[round_:]]
        events.append(("round_end", {"round": round_, "results": [result], "remaining": remaining}))
    events.append(("result", final))
    return events


def sse_body(events: list[tuple[str, dict]]) -> bytes:
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()


def error_body(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "code": code, "param": param}}


@dataclass
class TrackedBody(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body that records whether the SDK closed it, and can fail after some chunks."""

    chunks: list[bytes]
    fail_after: int | None = None  # raise ReadError after this many chunks
    closed: bool = False

    def _next_chunks(self) -> Iterator[bytes]:
        for i, chunk in enumerate(self.chunks):
            if self.fail_after is not None and i >= self.fail_after:
                raise httpx.ReadError("connection reset by peer")
            yield chunk
        if self.fail_after is not None and self.fail_after >= len(self.chunks):
            raise httpx.ReadError("connection reset by peer")

    def __iter__(self) -> Iterator[bytes]:
        yield from self._next_chunks()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._next_chunks():
            yield chunk

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


def frames(events: list[tuple[str, dict]]) -> list[bytes]:
    """One chunk per SSE frame, so a test can cut the connection between events."""
    return [sse_body([event]) for event in events]


@dataclass
class Script:
    """Answers requests in turn from a list of responders; records every request it saw."""

    responders: list[Callable[[httpx.Request], httpx.Response]]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        responder = self.responders[min(len(self.requests), len(self.responders)) - 1]
        return responder(request)

    @property
    def bodies(self) -> list[dict]:
        return [json.loads(r.content) for r in self.requests]


Responder = Callable[[httpx.Request], httpx.Response]


def json_reply(status: int, body: dict, headers: dict[str, str] | None = None) -> Responder:
    return lambda _: httpx.Response(status, json=body, headers={"x-request-id": "req-1", **(headers or {})})


def select_reply(winner: int) -> Callable[[httpx.Request], httpx.Response]:
    """A JSON selection whose winner is `winner`, over the candidates the request actually sent."""

    def reply(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)["candidates"]
        codes = [c if isinstance(c, str) else c["code"] for c in sent]
        return httpx.Response(200, json=knockout_response(codes, winner), headers={"x-request-id": "req-ok"})

    return reply


def stream_reply(body: TrackedBody) -> Callable[[httpx.Request], httpx.Response]:
    return lambda _: httpx.Response(
        200, stream=body, headers={"content-type": "text/event-stream", "x-request-id": "req-stream"}
    )


def raise_connect_error(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)
