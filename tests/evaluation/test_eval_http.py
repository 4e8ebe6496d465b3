"""`--url`: the same evaluation through a real HTTP service (uvicorn + FastAPI) and the client SDK.

The service runs the scripted engine of conftest.py, so no vLLM start is needed; the numbers must equal the
in-process path on the same draws, and pointwise (no service endpoint) is reported as left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _eval_fakes import FakeJudge, MarkerEngine

from evaluation.runner import EvalConfig, run_eval
from service.settings import Settings
from service.testing import start_service


def test_url_backend_matches_in_process(
    small_pools: Path, tmp_path: Path, tiny_tokenizer: Any, loop_thread: Any, fake_judge: FakeJudge
) -> None:
    settings = Settings(model="fake", adapters_dir=tmp_path / "none", redis_url=None, api_keys=[], default_adapter=None)
    service = start_service(loop_thread, settings, MarkerEngine(tiny_tokenizer))
    try:
        common: dict[str, Any] = {
            "ns": (2, 4),
            "strategies": ("knockout",),
            "seeds": 2,
            "n_boot": 50,
            "methods": ("pointwise", "pairwise"),
        }
        over_http = run_eval(EvalConfig(pools=(small_pools,), out=tmp_path / "http", url=service.url, **common))
        local = run_eval(EvalConfig(pools=(small_pools,), out=tmp_path / "local", **common), backend_factory=fake_judge)
    finally:
        service.stop()
    assert any("pointwise left out" in note for note in over_http.notes)
    remote = {r.key: r for r in over_http.records if r.method == "pairwise"}
    here = {r.key: r for r in local.records if r.method == "pairwise"}
    assert remote.keys() == here.keys() and len(remote) == 4 * 2 * 2
    for key, record in remote.items():
        assert (record.selected, record.picked, record.judgments) == (
            here[key].selected,
            here[key].picked,
            here[key].judgments,
        )
    assert all(r.error is None and r.judge_calls > 0 for r in remote.values() if len(set(r.labels)) > 1)
    assert pytest.approx(1.0) == sum(r.selected for r in remote.values() if any(r.labels)) / sum(
        1 for r in remote.values() if any(r.labels)
    )
