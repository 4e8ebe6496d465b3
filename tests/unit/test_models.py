"""Backbone resolution: embedded alias, local folder, hub id, and clear errors otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from daj.models import DEFAULT_MODEL, ModelNotAvailableError, resolve_model


def test_a_local_transformers_folder_resolves_to_itself(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    assert resolve_model(str(tmp_path)) == str(tmp_path.resolve())


def test_a_folder_without_config_is_rejected_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailableError, match=r"no config\.json"):
        resolve_model(str(tmp_path))


def test_a_missing_local_path_is_rejected() -> None:
    with pytest.raises(ModelNotAvailableError, match="does not exist"):
        resolve_model("./no/such/model")


def test_a_hub_id_is_passed_through_for_users_with_a_hub_cache() -> None:
    assert resolve_model("Qwen/Qwen2.5-Coder-1.5B-Instruct") == "Qwen/Qwen2.5-Coder-1.5B-Instruct"


def test_an_unprepared_alias_says_how_to_prepare_it(tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailableError, match="daj models prepare"):
        resolve_model(DEFAULT_MODEL, cache_dir=tmp_path, prepare=False)
