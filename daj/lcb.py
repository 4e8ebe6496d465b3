"""LiveCodeBench pools: one pool per problem with the o1-mini and the o1-preview program (`daj pools lcb`).

The data (`../shared/data/livecodebench/`, LiveCodeBench/submissions) is one JSON list per policy model, 880
problems each, in the same order, one program per problem (`code_list[0]`) with its grade (`graded_list[0]`) and,
for a failure, what the grader saw (`metadata[0]`, a JSON string: `output`, `inputs`, `expected`, `error_code`,
`error_message`). There are no tests, only these labels.

A pool (task id `lcb/<question_id>`) holds the two programs in policy order (o1-mini first), their labels, and
`info` (docs/evaluation.md, "LiveCodeBench pools"):

- `platform`, `difficulty`, `contest_date`, `contest_id`, `question_title`: as LiveCodeBench gives them;
- `policies`: `["o1-mini", "o1-preview"]`, aligned with the candidates;
- `split`: `meta` for contests before 2024-09-01 (tuning allowed), `test` on or after it;
- `label_notes`: aligned with the candidates, `null` or why a label is doubtful (`label_note`);
- `starter_code`: the exact starter code, only where there is one (LeetCode).

The problem is `question_content`; where there is starter code it is appended after a line `Starter code:` in a
fenced python block (`problem_text`, read back by `starter_code_in`).
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from daj.pools import Pool

POLICY_FILES: tuple[tuple[str, str], ...] = (
    ("o1-mini", "O1-Mini-2024-09-12.codegeneration_1_0.2_eval_all.json.gz"),
    ("o1-preview", "O1-Preview-2024-09-12.codegeneration_1_0.2_eval_all.json.gz"),
)
SOURCE = "LiveCodeBench o1-mini-2024-09-12 + o1-preview-2024-09-12"
TASK_PREFIX = "lcb/"
SPLIT_DATE = date(2024, 9, 1)  # contests before it: meta (tuning allowed); on or after it: test
STARTER_HEADER = "Starter code:"
ARTIFACT_NOTE = "threaded program graded on an empty output (grader artifact)"
PROBLEM_FIELDS = ("question_title", "question_content", "platform", "contest_id", "contest_date", "starter_code",
                  "difficulty")  # fmt: skip
"""Fields of a problem that every policy's file must give alike."""

_THREAD = re.compile(r"\bthreading\.Thread\(")
_START = re.compile(r"\.start\(\s*\)")
_EMPTY_JOIN = re.compile(r"\.join\(\s*\)")
_THREAD_NAME = re.compile(r"\b(\w+)\s*=\s*threading\.Thread\(")
_STARTER = re.compile(r"^Starter code:\n(`{3,})python\n(.*?)\n\1$", re.MULTILINE | re.DOTALL)


def split_of(contest_date: str) -> str:
    """`meta` for a contest before 2024-09-01, `test` on or after it (the date part of the ISO timestamp)."""
    return "meta" if datetime.fromisoformat(contest_date).date() < SPLIT_DATE else "test"


def starts_unjoined_thread(code: str) -> bool:
    """The program builds a `threading.Thread(`, calls `.start()` and joins no thread: no `.join()` without
    arguments anywhere, and no `NAME.join(` for a NAME it assigned a `threading.Thread(` to (a string's
    `sep.join(parts)` is not a thread join)."""
    if not (_THREAD.search(code) and _START.search(code)) or _EMPTY_JOIN.search(code):
        return False
    names = set(_THREAD_NAME.findall(code))
    return not any(re.search(rf"\b{re.escape(name)}\.join\(", code) for name in names)


def label_note(code: str, passed: bool, metadata: dict[str, Any]) -> str | None:
    """Why a label is doubtful, or None. The one rule: a program graded failing whose recorded output (metadata
    `output`) is exactly the empty string and which starts its work in a thread it never joins
    (`starts_unjoined_thread`). Such a program printed nothing by the time the grader read its output, which says
    more about when the grader stopped listening (the work was still running in the thread) than about the
    program's answer: the label may be wrong either way, so it is noted, not changed."""
    if passed or metadata.get("output") != "":
        return None
    return ARTIFACT_NOTE if starts_unjoined_thread(code) else None


def _fence(code: str) -> str:
    """Three backticks, or one more than the longest backtick run in the code."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    return "`" * max(3, longest + 1)


def problem_text(question_content: str, starter_code: str) -> str:
    """The statement, plus the starter code (when there is one) after a line `Starter code:` in a python fence."""
    if not starter_code.strip():
        return question_content
    code = starter_code.rstrip()
    fence = _fence(code)
    return f"{question_content.rstrip()}\n\n{STARTER_HEADER}\n{fence}python\n{code}\n{fence}\n"


def starter_code_in(problem: str) -> str | None:
    """The starter code `problem_text` appended (trailing whitespace stripped), or None."""
    found = list(_STARTER.finditer(problem))
    return found[-1].group(2) if found else None


def _metadata(entry: dict[str, Any]) -> dict[str, Any]:
    items = entry.get("metadata") or []
    try:
        value = json.loads(items[0]) if items else {}
    except (TypeError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def load_submissions(path: Path) -> list[dict[str, Any]]:
    """One policy's LiveCodeBench file (a JSON list, gzip if `.gz`)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of problems")
    return data


def build_pools(per_policy: Sequence[tuple[str, Sequence[dict[str, Any]]]]) -> list[Pool]:
    """One pool per problem, in the first policy's order; every policy must hold the same problems alike."""
    policies = [name for name, _ in per_policy]
    by_policy = []
    for name, entries in per_policy:
        index = {entry["question_id"]: entry for entry in entries}
        if len(index) != len(entries):
            raise ValueError(f"{name}: duplicate question_id")
        by_policy.append(index)
    first = [entry["question_id"] for entry in per_policy[0][1]]
    for name, index in zip(policies[1:], by_policy[1:], strict=True):
        if set(index) != set(first):
            raise ValueError(f"{name}: not the same problems as {policies[0]}")
    pools = []
    for qid in first:
        entries = [index[qid] for index in by_policy]
        head = entries[0]
        for name, entry in zip(policies[1:], entries[1:], strict=True):
            differs = [key for key in PROBLEM_FIELDS if entry.get(key) != head.get(key)]
            if differs:
                raise ValueError(f"{qid}: {name} differs from {policies[0]} in {differs}")
        candidates = [entry["code_list"][0] for entry in entries]
        passed = [bool(entry["graded_list"][0]) for entry in entries]
        notes = [label_note(code, ok, _metadata(entry)) for code, ok, entry in zip(candidates, passed, entries,
                                                                                  strict=True)]  # fmt: skip
        info: dict[str, Any] = {
            "platform": head["platform"],
            "difficulty": head["difficulty"],
            "contest_date": head["contest_date"],
            "contest_id": head["contest_id"],
            "question_title": head["question_title"],
            "policies": policies,
            "split": split_of(head["contest_date"]),
            "label_notes": notes,
        }
        starter = head.get("starter_code") or ""
        if starter.strip():
            info["starter_code"] = starter
        problem = problem_text(head["question_content"], starter)
        pools.append(Pool(f"{TASK_PREFIX}{qid}", problem, candidates, list(passed), SOURCE, info))
    return pools


def build_lcb_pools(data_dir: Path) -> list[Pool]:
    """The o1-mini + o1-preview pools from the LiveCodeBench folder (POLICY_FILES)."""
    return build_pools([(name, load_submissions(data_dir / file)) for name, file in POLICY_FILES])


@dataclass(frozen=True)
class LcbSummary:
    pools: int
    by_platform_split: dict[str, dict[str, int]]
    labels_differ: int
    labels_differ_with_note: int
    artifact_pools: int  # some candidate carries a label note
    notes: int  # candidates with a label note
    random_pass1: float
    oracle_pass1: float
    first_pass1: float  # always the first policy's program (o1-mini)
    clean_random_pass1: float | None
    clean_oracle_pass1: float | None
    clean_first_pass1: float | None


def _rates(pools: Sequence[Pool]) -> tuple[float | None, float | None, float | None]:
    if not pools:
        return None, None, None
    count = len(pools)
    return (sum(pool.pass_rate or 0.0 for pool in pools) / count,
            sum(any(pool.passed) for pool in pools) / count,
            sum(bool(pool.passed[0]) for pool in pools) / count)  # fmt: skip


def has_note(pool: Pool) -> bool:
    return any(note for note in pool.info.get("label_notes") or [])


def summarize(pools: Sequence[Pool]) -> LcbSummary:
    """What `daj pools lcb` prints: counts, how many differing labels carry a note, baseline pass@1."""
    table: dict[str, Counter[str]] = {}
    for pool in pools:
        table.setdefault(str(pool.info.get("platform")), Counter())[str(pool.info.get("split"))] += 1
    differ = [pool for pool in pools if len(set(pool.passed)) > 1]
    clean = [pool for pool in pools if not has_note(pool)]
    random_, best, first = _rates(pools)
    clean_random, clean_best, clean_first = _rates(clean)
    return LcbSummary(
        pools=len(pools),
        by_platform_split={platform: dict(sorted(splits.items())) for platform, splits in sorted(table.items())},
        labels_differ=len(differ),
        labels_differ_with_note=sum(has_note(pool) for pool in differ),
        artifact_pools=len(pools) - len(clean),
        notes=sum(sum(1 for note in pool.info.get("label_notes") or [] if note) for pool in pools),
        random_pass1=random_ or 0.0,
        oracle_pass1=best or 0.0,
        first_pass1=first or 0.0,
        clean_random_pass1=clean_random,
        clean_oracle_pass1=clean_best,
        clean_first_pass1=clean_first,
    )


def summary_lines(summary: LcbSummary) -> list[str]:
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.1f}%"

    lines = [f"pools: {summary.pools}"]
    for platform, splits in summary.by_platform_split.items():
        lines.append(f"  {platform}: " + ", ".join(f"{split} {count}" for split, count in splits.items()))
    splits_total: Counter[str] = Counter()
    for splits in summary.by_platform_split.values():
        splits_total.update(splits)
    lines.append("  all: " + ", ".join(f"{split} {count}" for split, count in sorted(splits_total.items())))
    lines += [
        f"labels differ: {summary.labels_differ} problems, {summary.labels_differ_with_note} of them with a label "
        f"note ({ARTIFACT_NOTE})",
        f"labels: clean {summary.pools - summary.artifact_pools}, artifact {summary.artifact_pools} "
        f"({summary.notes} candidates with a note)",
        f"pass@1 (all): random {pct(summary.random_pass1)}, oracle {pct(summary.oracle_pass1)}, "
        f"always o1-mini {pct(summary.first_pass1)}",
        f"pass@1 (clean): random {pct(summary.clean_random_pass1)}, oracle {pct(summary.clean_oracle_pass1)}, "
        f"always o1-mini {pct(summary.clean_first_pass1)}",
    ]
    return lines
