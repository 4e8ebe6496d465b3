"""Settings: read from the environment once, and documented: the README table lists every one."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from daj.paths import repo_root
from service.settings import Settings


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    readme = (repo_root() / "README.md").read_text()
    documented = set(re.findall(r"^\| `(?:DAJ_)?([A-Z_]+)`", readme, flags=re.MULTILINE))
    fields = {name.upper() for name in Settings.model_fields}
    assert fields <= documented, f"undocumented settings: {sorted(fields - documented)}"


def test_environment_overrides_and_key_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAJ_API_KEYS", " k1, k2 ,,")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("DAJ_DEFAULT_ADAPTER", "")
    settings = Settings()
    assert settings.api_keys == ["k1", "k2"]
    assert settings.redis_url == "redis://127.0.0.1:1/0"
    assert settings.default_adapter is None
    assert settings.host == "127.0.0.1"


def test_impossible_values_fail_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAJ_MAX_CANDIDATES", "1")
    with pytest.raises(ValidationError, match="max_candidates"):
        Settings()


def test_the_default_adapter_is_the_committed_judge_when_present(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("DAJ_DEFAULT_ADAPTER", raising=False)
    assert Settings(adapters_dir=tmp_path).default_adapter is None
    (tmp_path / "default").mkdir()
    (tmp_path / "default" / "adapter_config.json").write_text("{}")
    assert Settings(adapters_dir=tmp_path).default_adapter == "default"
    assert Settings(adapters_dir=tmp_path, default_adapter="").default_adapter is None
