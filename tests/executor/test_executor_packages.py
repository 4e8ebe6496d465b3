"""An executor whose candidates may import numpy: BigCodeBench tasks that need it run through /select.

The executor's candidate interpreter is a venv built from a requirements file (numpy here, as the image's
EXECUTOR_REQUIREMENTS build argument makes it), with its site-packages exposed (DAJ_EXECUTOR_SITE_PACKAGES). The
same selections on the default in-process sandbox, the standard library only, cannot run a single probe.
Each task: the reference program and AST mutants of it (as the training sources make them). Execution must run
and tell them apart. (Whether the reference passes the statement's example is another matter: a numpy scalar is
not a plain value, so `np.float64(3.5)` does not equal an expected `3.5` under the harness's rule.)
"""

from __future__ import annotations

import ast
import gzip
import json
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from daj.paths import default_cache_dir, repo_root
from daj.testing.executors import ExecutorProcess
from judge_training.sources._mutation import ast_mutants

pytestmark = [pytest.mark.engine]

NUMPY = "numpy==2.3.5"
TASKS = ("BigCodeBench/275", "BigCodeBench/735", "BigCodeBench/737", "BigCodeBench/872")
BIGCODEBENCH = repo_root().parent / "shared" / "data" / "bigcodebench" / "BigCodeBench.hf_data.jsonl.gz"


@pytest.fixture(scope="module")
def numpy_python() -> Path:
    """A venv with numpy and nothing else, built once and kept in the cache folder."""
    venv = default_cache_dir() / "test-venvs" / NUMPY.replace("==", "-")
    python = venv / "bin" / "python"
    if not (venv / ".complete").is_file():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", NUMPY], check=True, timeout=600)
        (venv / ".complete").write_text(NUMPY)
    return python


@pytest.fixture(scope="module")
def numpy_executor(numpy_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExecutorProcess]:
    executor = ExecutorProcess(tmp_path_factory.mktemp("numpy-executor") / "executor.log",
                               {"DAJ_EXECUTOR_PYTHON": str(numpy_python), "DAJ_EXECUTOR_SITE_PACKAGES": "true"})
    yield executor
    executor.kill()


@pytest.fixture(scope="module")
def numpy_service(loop_thread, tiny_engine, base_settings, numpy_executor):  # type: ignore[no-untyped-def]
    from service.testing import start_service

    settings = base_settings.model_copy(update={"executor_urls": [numpy_executor.url],
                                                "executor_token": numpy_executor.token})
    service = start_service(loop_thread, settings, tiny_engine)
    yield service
    service.stop()


def tasks() -> list[dict[str, Any]]:
    with gzip.open(BIGCODEBENCH, "rt") as lines:
        rows = {row["task_id"]: row for row in map(json.loads, lines)}
    return [rows[task_id] for task_id in TASKS]


def candidates(task: dict[str, Any]) -> list[str]:
    reference = ast.unparse(ast.parse(task["code_prompt"] + task["canonical_solution"]))
    mutants = [code for _, code in ast_mutants(reference, random.Random(task["task_id"]), 3)]
    return [reference, *mutants]


def test_bigcodebench_tasks_that_import_numpy_run_on_such_an_executor(numpy_service: Any, numpy_executor: Any,
                                                                      memory_service: Any) -> None:
    ready = httpx.get(f"{numpy_executor.url}/ready", headers=numpy_executor.auth, timeout=30).json()
    assert ready["site_packages"] is True and NUMPY in ready["packages"]
    for task in tasks():
        body = {"problem": task["complete_prompt"], "candidates": candidates(task), "execution": "auto"}
        with_numpy = httpx.post(f"{numpy_service.url}/select", json=body, timeout=300)
        assert with_numpy.status_code == 200, with_numpy.text
        result = with_numpy.json()
        execution = result["execution"]
        assert execution["status"] == "ran", (task["task_id"], execution)
        assert len(execution["clusters"]) >= 2, (task["task_id"], execution)  # behaviour tells mutants apart
        reference = next(r for r in result["ranking"] if r["index"] == 0)["execution"]
        assert reference["status"] in ("passed", "failed"), (task["task_id"], reference)  # it ran its probes

        stdlib_only = httpx.post(f"{memory_service.url}/select", json=body, timeout=300).json()["execution"]
        assert stdlib_only["status"] == "skipped", (task["task_id"], stdlib_only)
        assert "no candidate completed a single probe" in stdlib_only["reason"]

