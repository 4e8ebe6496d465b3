"""The SDK stays light: two pinned dependencies, and importing it pulls in nothing heavy or server-side."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

CLIENT_DIR = Path(__file__).resolve().parents[2] / "clients" / "python"


def test_declared_dependencies_are_only_httpx_and_pydantic() -> None:
    project = tomllib.loads((CLIENT_DIR / "pyproject.toml").read_text())["project"]
    assert project["name"] == "daj-client" and project["version"] == "0.1.0"
    assert project["requires-python"] == ">=3.11"
    names = {re.split(r"[<>=!~\[; ]", dep, maxsplit=1)[0].lower() for dep in project["dependencies"]}
    assert names == {"httpx", "pydantic"}
    assert sorted(project["dependencies"]) == ["httpx==0.28.1", "pydantic==2.14.3"]
    # The one extra is `rl` (TRL and torch, for examples/grpo_trl.py): opt-in, never in the base install.
    assert set(project.get("optional-dependencies", {})) <= {"rl"}
    assert project["scripts"] == {"daj-client": "daj_client.cli:main"}


def test_importing_the_sdk_imports_nothing_heavy_or_server_side(tmp_path: Path) -> None:
    forbidden = ["torch", "vllm", "fastapi", "starlette", "service", "daj", "transformers", "typer"]
    code = (
        "import json, sys\n"
        "import daj_client, daj_client.cli\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({forbidden!r}))))\n"
    )
    # Run outside the repository so `service` and `daj` are not importable by accident from the cwd.
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_the_sdk_source_never_imports_the_service() -> None:
    sources = list((CLIENT_DIR / "daj_client").rglob("*.py"))
    assert sources
    for path in sources:
        text = path.read_text()
        assert not re.search(r"^\s*(from|import)\s+(service|daj)\b", text, re.MULTILINE), path


def test_python_examples_in_the_docs_are_valid_and_use_only_public_names() -> None:
    import daj_client

    docs = [CLIENT_DIR.parents[1] / "docs" / "client.md", CLIENT_DIR / "README.md"]
    blocks = [block for doc in docs for block in re.findall(r"```python\n(.*?)```", doc.read_text(), re.DOTALL)]
    assert len(blocks) >= 4
    for block in blocks:
        compile(block, "docs", "exec")
        for names in re.findall(r"from daj_client import ([\w, ]+)", block):
            assert {name.strip() for name in names.split(",")} <= set(daj_client.__all__), names
        for name in re.findall(r"daj_client\.(\w+)", block):
            assert name in daj_client.__all__, name
