"""What one selection leaves behind: the unit of the resume cache and the input of every metric.

A record carries the labels of the drawn candidates, so metrics never need the pools again, and only plain
data (no pydantic), so it round-trips through one JSON line.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

NO_STRATEGY = "-"  # methods that are not tournaments (random, oracle, majority, pointwise)


@dataclass(frozen=True)
class JudgmentRecord:
    """One judge call on an ordered pair; indices are positions in the draw."""

    round: int
    pair: tuple[int, int]
    order: tuple[int, int]
    verdict: str  # "A", "B" or "unparseable"
    probability: float | None  # P(the candidate shown as A is correct)


@dataclass
class SelectionRecord:
    method: str
    strategy: str
    n: int
    seed: int
    task_id: str
    labels: list[bool]
    selected: float  # expected pass of the pick: the winner's label, or a mean over a random tie-break
    picked: int | None = None  # position in the draw, when one candidate was picked
    scores: list[float] | None = None  # per drawn candidate: the method's ranking score
    judgments: list[JudgmentRecord] = field(default_factory=list)
    matches: int = 0  # tournament matches after merging orders
    ties: int = 0  # matches decided by the tie rule (merged probability exactly 0.5)
    judge_decided: int | None = None  # matches the judge decided (not consensus or tie rule); None: not recorded
    executed: bool | None = None  # the candidates ran (exec methods); False: the service fell back to the judge
    judge_calls: int = 0  # judgments the selection needs (cache hits included: the cost without a cache)
    engine_calls: int = 0  # judgments actually sent to the engine in this run (cache misses)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0
    error: str | None = None

    @property
    def key(self) -> tuple[str, str, int, int, str]:
        return record_key(self.method, self.strategy, self.n, self.seed, self.task_id)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SelectionRecord:
        judgments = [
            JudgmentRecord(j["round"], tuple(j["pair"]), tuple(j["order"]), j["verdict"], j["probability"])
            for j in data.get("judgments", [])
        ]
        return cls(**{**data, "judgments": judgments})


def record_key(method: str, strategy: str, n: int, seed: int, task_id: str) -> tuple[str, str, int, int, str]:
    return (method, strategy, n, seed, task_id)
