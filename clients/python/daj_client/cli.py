"""`daj-client select --problem FILE CANDIDATE_FILE...`: the winner's file name, then its code, on stdout.

With `--stream`, progress (reasoning text as it is written, verdicts, rounds) goes to stderr as it happens, so
stdout is the same in both modes. API errors: the message on stderr, exit code 1. argparse only, to stay light.
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
    Event,
    JudgeMode,
    MatchStartEvent,
    Orders,
    ReasoningEvent,
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
    for name in ("strategy", "mode", "orders", "votes", "max_reasoning_tokens", "adapter"):
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
    _print_winner(response, candidates, sys.stdout)
    return 0


def _print_winner(response: SelectResponse, candidates: list[Candidate], out: TextIO) -> None:
    winner = candidates[response.winner.index]
    out.write(f"winner: {winner.id}\n")
    out.write(winner.code if winner.code.endswith("\n") else winner.code + "\n")


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
    if isinstance(event, MatchStartEvent):
        return f"[round {event.round}] match {names[event.pair[0]]} vs {names[event.pair[1]]}"
    if isinstance(event, VerdictEvent):
        a, b = (names[i] for i in event.order)
        probability = f" (P(A)={event.probability:.3f})" if event.probability is not None else ""
        return f"[round {event.round}] verdict {a} (A) vs {b} (B): {event.verdict}{probability}"
    if isinstance(event, RoundEndEvent):
        return f"[round {event.round}] done; remaining: {', '.join(names[i] for i in event.remaining)}"
    return f"result: {names[event.winner.index]} wins"


if __name__ == "__main__":
    raise SystemExit(main())
