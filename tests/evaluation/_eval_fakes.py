"""Hand-made pools and a deterministic judge for the evaluation tests (imported by name: a module called
`conftest` would clash with the other test folders' conftest files when several folders are collected).

The fake judge runs inside the real `SelectionService` (real prompt rendering, tournament, cache, response);
only the engine's answer is scripted: it prefers the candidate whose code contains the marker `GOOD`, and
returns exactly 0.5 when both or neither do. So the right answers of every metric are known by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from daj.pools import Pool
from daj.protocol import Verdict
from evaluation.backends import InProcessBackend, JudgeOptions
from evaluation.pointwise import PointwiseScore
from service.engine.base import JudgeCall, JudgeEngine, JudgeResult

MARKER = "GOOD"


def program(name: str, value: int, good: bool) -> str:
    return f"def {name}():\n    return {value}{'  # ' + MARKER if good else ''}\n"


def make_pool(task_id: str, passed: list[bool], name: str = "f") -> Pool:
    """Candidate i returns i; passing ones carry the marker the fake judge recognises."""
    candidates = [program(name, i, good) for i, good in enumerate(passed)]
    return Pool(task_id, f'def {name}():\n    """Return the answer."""\n', candidates, list(passed), "hand-made")


class MarkerEngine(JudgeEngine):
    """Scripted verdicts on real rendered prompts; counts its calls."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.calls = 0

    async def start(self) -> None:
        return None

    async def judge(self, call: JudgeCall, on_delta: Any = None) -> JudgeResult:
        self.calls += 1
        text = self.tokenizer.decode(call.prompt_token_ids)
        shown_a, shown_b = text.split("## Candidate A", 1)[1].split("## Candidate B", 1)
        a_good, b_good = MARKER in shown_a, MARKER in shown_b.split("Which candidate", 1)[0]
        p_a = 0.5 if a_good == b_good else (0.9 if a_good else 0.1)
        return JudgeResult(Verdict(choice="A" if p_a >= 0.5 else "B", p_a=p_a), len(call.prompt_token_ids), 1)

    async def abort(self, request_ids: list[str]) -> None:
        return None

    async def check_health(self) -> None:
        return None

    def running_requests(self) -> int:
        return 0

    async def close(self) -> None:
        return None


class MarkerScorer:
    """Pointwise: 0.8 for marked programs, 0.3 otherwise."""

    def __init__(self) -> None:
        self.calls = 0

    async def score(self, problem: str, code: str, request_id: str) -> PointwiseScore:
        self.calls += 1
        return PointwiseScore(0.8 if MARKER in code else 0.3, 10)


class FakeJudge:
    """A backend factory over the real SelectionService with the scripted engine; counts factory calls."""

    def __init__(self, tokenizer: Any, tmp_path: Path) -> None:
        self.engine = MarkerEngine(tokenizer)
        self.scorer = MarkerScorer()
        self.started = 0
        self.tmp_path = tmp_path

    async def __call__(self) -> InProcessBackend:
        from service.adapters import AdapterRegistry
        from service.cache import MemoryVerdictCache
        from service.metrics import Metrics
        from service.selection import SelectionService
        from service.settings import Settings

        self.started += 1
        settings = Settings(
            model="fake", adapters_dir=self.tmp_path / "none", redis_url=None, api_keys=[], default_adapter=None
        )
        service = SelectionService(
            self.engine, MemoryVerdictCache(1000, 3600), AdapterRegistry(settings.adapters_dir), settings, Metrics()
        )
        return InProcessBackend(service, JudgeOptions(), scorer=self.scorer)


def read_report(out: Path) -> dict[str, Any]:
    return json.loads((out / "report.json").read_text())
