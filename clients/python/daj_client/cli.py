"""`daj-client select --problem FILE CANDIDATE_FILE...`: the winner's file name, then its code, on stdout.

With `--stream`, progress (execution, clusters, reasoning text as it is written, verdicts, rounds) goes to stderr
as it happens, so stdout is the same in both modes. What execution did (the shape, the time limit, notes, each
candidate's CPU time), why the winner won (and, when no candidate passes every example and test, a warning with
the winner's first failure) go to stderr too. API errors: the message on stderr, exit code 1. argparse only, to
stay light.

Tests and inputs, in the order given: `--test ASSERT` and `--input TEXT` as strings, `--test-json` and
`--input-json` as JSON (`{"stdin": "1 2\\n", "stdout": "3\\n"}`, `{"args": [[1, 2], 3], "expected": 4}`, or a
JSON string), `--tests-file` and `--inputs-file` as a file of them (a JSON array, or JSON Lines: one a line).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from ._base import SelectOptions
from ._client import Client, Stream
from ._version import __version__
from .errors import DajError
from .types import (
    CallerInput,
    CallerTest,
    Candidate,
    ClustersEvent,
    Event,
    ExecutionEvent,
    ExecutionMode,
    ExecutionReport,
    Failure,
    JudgeMode,
    MatchStartEvent,
    Orders,
    ProgramShape,
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
        "--shape",
        choices=[s.value for s in ProgramShape],
        help="how the candidates are called: a function, a whole program on stdin, a class Solution method "
        "(default: detected)",
    )
    select.add_argument(
        "--time-limit",
        type=float,
        dest="time_limit_s",
        metavar="SECONDS",
        help="CPU seconds per probe (default: the statement's, else 2 s for stdin programs, else the server's)",
    )
    select.add_argument(
        "--test",
        action="append",
        dest="tests",
        metavar="ASSERT",
        help="an assert statement every correct candidate passes (repeatable)",
    )
    select.add_argument(
        "--test-json",
        action="append",
        dest="tests",
        type=_json_item(CallerTest),
        metavar="JSON",
        help='a test as JSON: {"stdin": ..., "stdout": ...} or {"args": [...], "expected": ...} (repeatable)',
    )
    select.add_argument(
        "--tests-file",
        action="extend",
        dest="tests",
        type=_json_file(CallerTest),
        metavar="FILE",
        help="tests as a JSON array or JSON Lines: assert statements (strings) or objects as for --test-json",
    )
    select.add_argument(
        "--input",
        action="append",
        dest="inputs",
        metavar="TEXT",
        help="an input to run the candidates on: an argument list, e.g. '[1, 2], 3', or a stdin program's input "
        "(repeatable)",
    )
    select.add_argument(
        "--input-json",
        action="append",
        dest="inputs",
        type=_json_item(CallerInput),
        metavar="JSON",
        help='an input as JSON: {"stdin": ...} or {"args": [...]} (repeatable)',
    )
    select.add_argument(
        "--inputs-file",
        action="extend",
        dest="inputs",
        type=_json_file(CallerInput),
        metavar="FILE",
        help="inputs as a JSON array or JSON Lines: strings or objects as for --input-json",
    )
    select.add_argument(
        "--checker",
        type=_program_file,
        metavar="FILE",
        help="stdin programs: a Python checker run as `checker INPUT OUTPUT ANSWER`, exit 0 = a valid output",
    )
    select.add_argument(
        "--input-generator",
        type=_program_file,
        metavar="FILE",
        help="a Python program that prints one valid input, seeded by argv[1]",
    )
    select.add_argument("--generated-inputs", type=int, metavar="K", help="how many inputs the input generator makes")
    select.add_argument(
        "--execution-budget",
        type=float,
        dest="execution_budget_s",
        metavar="SECONDS",
        help="time budget for running the candidates (capped by the server)",
    )
    select.add_argument("--timeout", type=float, default=300.0, help="seconds per request (default 300)")
    return parser


_Item = str | CallerTest | CallerInput


def _item(value: Any, model: type[CallerTest] | type[CallerInput]) -> _Item:
    """A JSON string as is (an assert statement, an argument list, a stdin input); an object as `model`."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object or string, got {json.dumps(value)[:80]}")
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        reasons = "; ".join(_reason(error["loc"], error["msg"]) for error in exc.errors())
        raise argparse.ArgumentTypeError(f"{json.dumps(value)[:80]}: {reasons}") from None


def _program_file(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _reason(loc: tuple[int | str, ...], message: str) -> str:
    """`stdout: Extra inputs are not permitted`; a model-level rule's message as it is."""
    message = message.removeprefix("Value error, ")
    return f"{'.'.join(str(part) for part in loc)}: {message}" if loc else message


def _json_item(model: type[CallerTest] | type[CallerInput]) -> Callable[[str], _Item]:
    def parse(text: str) -> _Item:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise argparse.ArgumentTypeError(f"not JSON ({exc})") from None
        return _item(value, model)

    return parse


def _json_file(model: type[CallerTest] | type[CallerInput]) -> Callable[[str], list[_Item]]:
    """A file of items: one JSON array, or JSON Lines (one item a line, blank lines skipped)."""

    def parse(path: str) -> list[_Item]:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        try:
            whole = json.loads(text)
        except json.JSONDecodeError:
            whole = None
        if isinstance(whole, list):
            values = whole
        else:
            values = []
            for number, line in enumerate(text.splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    values.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise argparse.ArgumentTypeError(
                        f"{path}: line {number} is not JSON ({exc}); give a JSON array or one JSON value a line"
                    ) from None
        items = []
        for index, value in enumerate(values):
            try:
                items.append(_item(value, model))
            except argparse.ArgumentTypeError as exc:
                raise argparse.ArgumentTypeError(f"{path}: item {index}: {exc}") from None
        return items

    return parse


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
    names = [c.id for c in candidates]
    try:
        with Client(args.url, args.api_key, timeout=args.timeout) as client:
            if args.stream:
                with client.select(problem, candidates, stream=True, **options) as stream:
                    response = _follow(stream, names, sys.stderr)
            else:
                response = client.select(problem, candidates, **options)
    except DajError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not args.stream:  # a stream has shown it as it happened
        sys.stderr.write(f"{_execution(response.execution)}\n")
    _print_cpu(response, names, sys.stderr)
    _print_reason(response, sys.stderr)
    _print_winner(response, candidates, sys.stdout)
    return 0


def _print_winner(response: SelectResponse, candidates: list[Candidate], out: TextIO) -> None:
    winner = candidates[response.winner.index]
    out.write(f"winner: {winner.id}\n")
    out.write(winner.code if winner.code.endswith("\n") else winner.code + "\n")


def _print_cpu(response: SelectResponse, names: list[str], out: TextIO) -> None:
    """Each candidate's most CPU seconds on one probe (whole programs) and its timeouts, in request order."""
    summaries = sorted(
        ((r.index, r.execution) for r in response.ranking if r.execution is not None), key=lambda pair: pair[0]
    )
    if not any(s.cpu_s is not None or s.timeouts for _, s in summaries):
        return
    parts = []
    for index, summary in summaries:
        cpu = f"{summary.cpu_s:.3f} s" if summary.cpu_s is not None else "-"
        timeouts = f" ({summary.timeouts} timeout{'s' if summary.timeouts != 1 else ''})" if summary.timeouts else ""
        parts.append(f"{names[index]} {cpu}{timeouts}")
    out.write(f"cpu (most on one probe): {', '.join(parts)}\n")


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
    texts = (failure.input, failure.actual, failure.expected or "")
    # A stdin program's input and outputs span lines: quoted as JSON strings, they stay on one line.
    show = json.dumps if any("\n" in text for text in texts) else str
    if failure.expected is None:  # an assert statement
        return f"{show(failure.input)} -> {show(failure.actual)}"
    return f"{show(failure.input)} -> {show(failure.actual)} (expected {show(failure.expected)})"


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


def _execution(report: ExecutionReport) -> str:
    """The execution line (the shape, the time limit, what ran), then one `note:` line per note."""
    if report.shape == "stdin":
        what = "stdin programs"
    elif report.shape:
        what = f"{report.shape} {report.entry_point}" if report.entry_point else report.shape
    else:
        what = report.entry_point or "the candidates"
    limit = f" ({report.time_limit_s:g} s per probe)" if report.time_limit_s is not None else ""
    if report.status != "ran" or report.probes is None:
        line = f"execution: {report.status}" + (f", {what}{limit}" if report.shape else "")
        line += f" ({report.reason})" if report.reason else ""
    else:
        probes = report.probes
        line = (
            f"execution: ran {what}{limit}: {probes.examples} examples, {probes.tests} tests, {probes.inputs} inputs "
            f"({probes.dropped_inputs} dropped); {report.runs} runs ({report.cached_runs} cached), "
            f"{report.elapsed_ms:.0f} ms"
        )
    return "\n".join([line, *(f"note: {note}" for note in report.notes)])


def _describe(event: Event, names: list[str]) -> str:
    if isinstance(event, StartEvent):
        return (
            f"start: {event.candidates} candidates ({event.unique_candidates} unique), {event.strategy.value}, "
            f"judge {event.judge.model}"
        )
    if isinstance(event, ExecutionEvent):
        return _execution(event)
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
