"""The import contracts (pyproject.toml, checked by `lint-imports` in `make test`) keep up with the tree."""

from __future__ import annotations

import pkgutil
import tomllib

import service
from daj.paths import repo_root

PUBLIC_SERVICE_MODULES = {"service.embedded"}


def _contracts() -> list[dict]:
    config = tomllib.loads((repo_root() / "pyproject.toml").read_text())
    return config["tool"]["importlinter"]["contracts"]


def test_evaluation_is_kept_from_every_service_module_but_the_public_one() -> None:
    """A service module added later is internal unless this test's list says otherwise: the forbidden list must
    name it, or evaluation could start importing it unnoticed."""
    (contract,) = [c for c in _contracts() if c["type"] == "forbidden" and c["source_modules"] == ["evaluation"]]
    children = {f"service.{info.name}" for info in pkgutil.iter_modules(service.__path__)}
    assert set(contract["forbidden_modules"]) == children - PUBLIC_SERVICE_MODULES
    assert contract["allow_indirect_imports"] is True  # service.embedded itself imports the internals


def test_no_contract_excuses_an_import() -> None:
    assert all("ignore_imports" not in contract for contract in _contracts())
