"""The pool format that evaluation and training consume (see ../shared/data/README.md).

One JSON object per line, one line per problem::

    {"task_id": "HumanEval/1", "problem": "<prompt>", "candidates": ["<full program>", ...],
     "passed": [true, false, null, ...], "source": "<policy model, how sampled>", "info": {...}}

``passed[i]`` is the hidden-test verdict for ``candidates[i]``; ``null`` means not labelled yet. ``info`` is
optional: a JSON object of facts about the problem and its candidates that selection never reads (e.g. a
LiveCodeBench pool's platform, difficulty, contest date, split, per-candidate policies and label notes; see
``daj/lcb.py``). The evaluation report breaks its results down by some of them. It is written only when it is
not empty, so a pool without it keeps exactly the bytes it had before the field existed. Files may be
plain or gzip (``.gz``). Reading validates every line so that a bad pool fails loudly at load time, naming the
file, the line and the field, instead of silently skewing an evaluation.
"""

from __future__ import annotations

import copy
import dataclasses
import gzip
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from daj.jsonl import open_text

FIELDS = ("task_id", "problem", "candidates", "passed", "source")
OPTIONAL_FIELDS = ("info",)


class PoolFormatError(ValueError):
    """A malformed pool line; the message names file, line number and field."""


@dataclass
class Pool:
    """All candidates for one problem, with their labels (None = unknown)."""

    task_id: str
    problem: str
    candidates: list[str]
    passed: list[bool | None]
    source: str
    info: dict[str, Any] = dataclasses.field(default_factory=dict)  # optional facts (platform, split, ...)

    def __post_init__(self) -> None:
        if len(self.candidates) != len(self.passed):
            raise ValueError(f"{self.task_id}: {len(self.candidates)} candidates but {len(self.passed)} labels")

    @property
    def labelled(self) -> bool:
        return all(p is not None for p in self.passed)

    @property
    def pass_rate(self) -> float | None:
        """Fraction of candidates that pass (None if any label is unknown or there are no candidates)."""
        if not self.candidates or not self.labelled:
            return None
        return sum(bool(p) for p in self.passed) / len(self.passed)

    def to_dict(self) -> dict:
        """The pool's JSON line as a dict; `info` only when it is not empty (older files stay byte-identical)."""
        data = asdict(self)
        if not data["info"]:
            del data["info"]
        return data


def _fail(path: Path, lineno: int, field: str, why: str) -> PoolFormatError:
    return PoolFormatError(f"{path}:{lineno}: field {field!r}: {why}")


def _check_line(obj: object, path: Path, lineno: int) -> Pool:
    if not isinstance(obj, dict):
        raise _fail(path, lineno, "<line>", f"expected a JSON object, got {type(obj).__name__}")
    for name in FIELDS:
        if name not in obj:
            raise _fail(path, lineno, name, "missing")
    extra = sorted(set(obj) - set(FIELDS) - set(OPTIONAL_FIELDS))
    if extra:
        raise _fail(path, lineno, extra[0], "unknown field")
    for name in ("task_id", "problem", "source"):
        if not isinstance(obj[name], str):
            raise _fail(path, lineno, name, f"expected a string, got {type(obj[name]).__name__}")
    if not obj["task_id"]:
        raise _fail(path, lineno, "task_id", "empty")
    candidates, passed = obj["candidates"], obj["passed"]
    if not isinstance(candidates, list) or not all(isinstance(c, str) for c in candidates):
        raise _fail(path, lineno, "candidates", "expected a list of strings")
    if not isinstance(passed, list) or not all(p is None or isinstance(p, bool) for p in passed):
        raise _fail(path, lineno, "passed", "expected a list of true/false/null")
    if len(passed) != len(candidates):
        raise _fail(path, lineno, "passed", f"{len(passed)} labels for {len(candidates)} candidates")
    info = obj.get("info", {})
    if not isinstance(info, dict):
        raise _fail(path, lineno, "info", f"expected a JSON object, got {type(info).__name__}")
    return Pool(obj["task_id"], obj["problem"], candidates, passed, obj["source"], info)


def iter_pools(path: str | Path) -> Iterator[Pool]:
    """Yield validated pools line by line (blank lines are skipped)."""
    path = Path(path)
    seen: set[str] = set()
    with open_text(path, "r") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise _fail(path, lineno, "<line>", f"invalid JSON ({exc.msg})") from None
            pool = _check_line(obj, path, lineno)
            if pool.task_id in seen:
                raise _fail(path, lineno, "task_id", f"duplicate task_id {pool.task_id!r}")
            seen.add(pool.task_id)
            yield pool


def read_pools(path: str | Path) -> list[Pool]:
    """All pools of a file (plain or .gz), validated; raises PoolFormatError naming file:line and field."""
    return list(iter_pools(path))


def write_pools(path: str | Path, pools: Iterable[Pool]) -> int:
    """Write pools (gzip if the name ends in .gz, with a fixed mtime so identical content is identical bytes).

    Returns the number of pools written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    lines = []
    for pool in pools:
        Pool(**pool.to_dict())  # re-validate lengths
        lines.append(json.dumps(pool.to_dict(), ensure_ascii=False) + "\n")
        count += 1
    data = "".join(lines).encode("utf-8")
    if path.suffix == ".gz":
        with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            gz.write(data)
    else:
        path.write_bytes(data)
    return count


def merge_pools(groups: Iterable[Iterable[Pool]], skip_conflicts: bool = False) -> list[Pool]:
    """One pool per task holding every group's candidates for it, in group order (e.g. one program each from
    several policy models -> a Best-of-N pool across policies). Tasks keep their first-seen order and the first
    pool's `info` (a later group's info of the same task is not merged in); a task
    whose problem text differs between groups is refused, since the candidates would answer different
    statements (with `skip_conflicts`, the later group's candidates of that task are left out instead)."""
    merged: dict[str, Pool] = {}
    for group in groups:
        for pool in group:
            into = merged.get(pool.task_id)
            if into is None:
                merged[pool.task_id] = Pool(pool.task_id, pool.problem, list(pool.candidates), list(pool.passed),
                                            pool.source, copy.deepcopy(pool.info))  # fmt: skip
                continue
            if into.problem.strip() != pool.problem.strip():
                if skip_conflicts:
                    continue
                raise ValueError(f"{pool.task_id}: the problem text differs between the pools being merged")
            into.candidates.extend(pool.candidates)
            into.passed.extend(pool.passed)
            if pool.source not in into.source.split(" + "):
                into.source = f"{into.source} + {pool.source}"
    return list(merged.values())


META_HALVES = ("outer", "tuning")


def meta_half(task_id: str, tuning_fraction: float = 0.5) -> str:
    """Which half of the HumanEval `meta` split a problem is in: `outer` (drives the bi-level outer loop) or
    `tuning` (the pipeline's combine rule, picking checkpoints and what is shipped). A stable hash of the task
    id decides, so training and evaluation split the 41 problems the same way, once."""
    bucket = int(hashlib.sha256(task_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "tuning" if bucket < tuning_fraction else "outer"
