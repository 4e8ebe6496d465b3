"""`daj-client select --problem FILE CANDIDATE_FILE...`: the winner's file name, then its code, on stdout.

With `--stream`, progress (execution, clusters, reasoning text as it is written, verdicts, rounds) goes to stderr
as it happens, so stdout is the same in both modes. Why the winner won (and, when no candidate passes every
example and test, a warning with the winner's first failure) goes to stderr too. API errors: the message on
stderr, exit code 1. argparse only, to stay light.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from ._base import SelectOptions
from ._client import Client, Stream
from ._version import __version__
from .errors import DajError
from .types import (
    Candidate,
    ClustersEvent,
    Event,
    ExecutionEvent,
    ExecutionMode,
    Failure,
    JudgeMode,
    MatchStartEvent,
    Orders,
    ReasoningEvent,
    ResultEvent,
    RoundEndEvent,
    SelectResponse,
    StartEvent,
    Strategy,
    VerdictEvent,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="daj-client", description="Client for the daj Best-of-N selection service.")
    parser.add_argument("--version", action="version", version=f"daj-client {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    select = commands.add_parser("select", help="pick the best of the candidate files")
    select.add_argument("--problem", required=True, type=Path, help="file with the problem statement")
    select.add_argument("candidates", nargs="+", type=Path, metavar="CANDIDATE_FILE", help="one program per file")
    select.add_argument("--stream", action="store_true", help="show reasoning and verdicts live (on stderr)")
    select.add_argument("--url", help="service base URL (default: $DAJ_BASE_URL or http://127.0.0.1:8000)")
    select.add_argument("--api-key", help="bearer key (default: $DAJ_API_KEY)")
    select.add_argument("--strategy", choices=[s.value for s in Strategy])
    select.add_argument("--mode", choices=[m.value for m in JudgeMode])
    select.add_argument("--orders", choices=[o.value for o in Orders])
    select.add_argument("--votes", type=int)
    select.add_argument("--max-reasoning-tokens", type=int)
    select.add_argument("--adapter", help="LoRA adapter name")
    select.add_argument("--execution", choices=[e.value for e in ExecutionMode], help="run the candidates first")
    select.add_argument("--entry-point", help="the function the candidates implement (default: inferred)")
    select.add_argument(
        "--test",
        action="append",
        dest="tests",
        metavar="ASSERT",
        help="an assert statement every correct candidate passes (repeatable)",
    )
    select.add_argument(
        "--input",
        action="append",
        dest="inputs",
        metavar="ARGS",
        help="an argument list to run the candidates on, e.g. '[1, 2], 3' (repeatable)",
    )
    select.add_argument(
        "--execution-budget",
        type=float,
        dest="execution_budget_s",
        metavar="SECONDS",
        help="time budget for running the candidates (capped by the server)",
    )
    select.add_argument("--timeout", type=float, default=300.0, help="seconds per request (default 300)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        problem = args.problem.read_text()
        candidates = [Candidate(id=str(path), code=path.read_text()) for path in args.candidates]
    except OSError as exc:
        parser.error(str(exc))
    options = SelectOptions()
    for name in SelectOptions.__annotations__:  # each option has a flag of the same dest
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)  # type: ignore[literal-required]
    try:
        with Client(args.url, args.api_key, timeout=args.timeout) as client:
            if args.stream:
                with client.select(problem, candidates, stream=True, **options) as stream:
                    response = _follow(stream, [c.id for c in candidates], sys.stderr)
            else:
                response = client.select(problem, candidates, **options)
    except DajError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    _print_reason(response, sys.stderr)
    _print_winner(response, candidates, sys.stdout)
    return 0


def _print_winner(response: SelectResponse, candidates: list[Candidate], out: TextIO) -> None:
    winner = candidates[response.winner.index]
    out.write(f"winner: {winner.id}\n")
    out.write(winner.code if winner.code.endswith("\n") else winner.code + "\n")


def _print_reason(response: SelectResponse, out: TextIO) -> None:
    """Why the winner won; when no candidate passes every example and test, a warning and what it got wrong."""
    if response.winner.reason:
        out.write(f"reason: {response.winner.reason}\n")
    if response.no_candidate_passes:
        out.write("warning: no candidate passes every example and test: repair the winner or sample again\n")
        ranked = next((r for r in response.ranking if r.index == response.winner.index), None)
        if ranked is not None and ranked.execution is not None and ranked.execution.first_failure is not None:
            out.write(f"first failure: {_failure(ranked.execution.first_failure)}\n")
    out.flush()


def _failure(failure: Failure) -> str:
    if failure.expected is None:  # an assert statement
        return f"{failure.input} -> {failure.actual}"
    return f"{failure.input} -> {failure.actual} (expected {failure.expected})"


def _follow(stream: Stream, names: list[str], out: TextIO) -> SelectResponse:
    """Print each event as it arrives; reasoning deltas go out unbuffered under a header per (order, vote)."""
    current: tuple[int, int, int, int] | None = None
    for event in stream:
        if isinstance(event, ReasoningEvent):
            key = (event.round, *event.order, event.vote)
            if key != current:
                a, b = (names[i] for i in event.order)
                out.write(f"\n[round {event.round}] {a} (A) vs {b} (B), vote {event.vote}: ")
                current = key
            out.write(event.delta)
        else:
            current = None
            out.write(f"\n{_describe(event, names)}")
        out.flush()
    out.write("\n")
    return stream.final_response()


def _describe(event: Event, names: list[str]) -> str:
    if isinstance(event, StartEvent):
        return (
            f"start: {event.candidates} candidates ({event.unique_candidates} unique), {event.strategy.value}, "
            f"judge {event.judge.model}"
        )
    if isinstance(event, ExecutionEvent):
        if event.status != "ran" or event.probes is None:
            return f"execution: {event.status}" + (f" ({event.reason})" if event.reason else "")
        probes = event.probes
        return (
            f"execution: ran {event.entry_point}: {probes.examples} examples, {probes.tests} tests, "
            f"{probes.inputs} inputs ({probes.dropped_inputs} dropped); {event.runs} runs "
            f"({event.cached_runs} cached), {event.elapsed_ms:.0f} ms"
        )
    if isinstance(event, ClustersEvent):
        clusters = "; ".join(
            f"#{c.id}{' top' if c.top_group else ''} ({', '.join(names[i] for i in c.members)}) "
            f"passes {c.checks_passed}"
            for c in event.clusters
        )
        return f"clusters: {clusters}; judged: {', '.join(names[i] for i in event.players)}"
    if isinstance(event, MatchStartEvent):
        return f"[round {event.round}] match {names[event.pair[0]]} vs {names[event.pair[1]]}"
    if isinstance(event, VerdictEvent):
        a, b = (names[i] for i in event.order)
        probability = f" (P(A)={event.probability:.3f})" if event.probability is not None else ""
        return f"[round {event.round}] verdict {a} (A) vs {b} (B): {event.verdict}{probability}"
    if isinstance(event, RoundEndEvent):
        return f"[round {event.round}] done; remaining: {', '.join(names[i] for i in event.remaining)}"
    if isinstance(event, ResultEvent):
        return f"result: {names[event.winner.index]} wins"
    return f"{type(event).__name__}"  # reasoning deltas are written by _follow, never described


if __name__ == "__main__":
    raise SystemExit(main())
