"""Adapters are checked before vLLM sees them: a corrupt one would kill the whole engine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from daj.lora import adapter_problem, adapter_prompt_version, prompt_version_problem
from daj.protocol import PROMPT_VERSIONS
from service.adapters import AdapterRegistry
from service.errors import ApiError


@pytest.fixture
def adapter(tiny_lora_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "adapters" / "judge"
    shutil.copytree(tiny_lora_dir, folder)
    return folder


def test_a_good_adapter_passes(adapter: Path) -> None:
    assert adapter_problem(adapter, max_rank=16) is None


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda f: (f / "adapter_config.json").write_text("{not json"), "not readable JSON"),
        (lambda f: _edit_config(f, r=None), "positive integer rank"),
        (lambda f: _edit_config(f, r=4), "does not match rank 4"),
        (lambda f: (f / "adapter_model.safetensors").unlink(), "is missing"),
        (lambda f: (f / "adapter_model.safetensors").write_bytes(b"\\x00" * 64), "not a valid safetensors"),
    ],
)
def test_damaged_adapters_are_explained(adapter: Path, damage, problem: str) -> None:  # type: ignore[no-untyped-def]
    damage(adapter)
    assert problem in (adapter_problem(adapter, max_rank=16) or "")


def test_rank_above_the_engine_limit(adapter: Path) -> None:
    assert "max_lora_rank 4" in (adapter_problem(adapter, max_rank=4) or "")


def test_registry_answers_422_for_a_broken_adapter_and_recovers_when_fixed(adapter: Path, tiny_lora_dir: Path) -> None:
    good = (adapter / "adapter_model.safetensors").read_bytes()
    (adapter / "adapter_model.safetensors").write_bytes(b"garbage")
    registry = AdapterRegistry(adapter.parent, max_rank=16)
    with pytest.raises(ApiError) as caught:
        registry.get("judge")
    assert caught.value.status == 422 and caught.value.code == "adapter_invalid"
    (adapter / "adapter_model.safetensors").write_bytes(good)
    assert registry.get("judge").name == "judge"  # rescanned: a fixed adapter is usable without a restart


def _edit_config(folder: Path, **changes: object) -> None:
    path = folder / "adapter_config.json"
    config = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    path.write_text(json.dumps(config))


def test_a_merged_adapter_is_the_only_choice(adapter: Path) -> None:
    from daj.lora import Adapter, adapter_content_hash

    merged = Adapter("judge", adapter, adapter_content_hash(adapter), int_id=0)
    (adapter.parent / "other").mkdir()
    registry = AdapterRegistry(adapter.parent, max_rank=16, merged=merged)
    assert registry.names() == ["judge"]
    assert registry.resolve("judge") is merged and registry.get("judge") is merged
    for asked in ("other", None, ""):
        with pytest.raises(ApiError) as caught:
            registry.resolve(asked)
        assert caught.value.status == 422 and caught.value.code == "adapter_not_served"
        assert caught.value.param == "adapter" and "DAJ_MERGE_DEFAULT_ADAPTER=off" in caught.value.message


@pytest.mark.parametrize(
    ("metadata", "version", "problem"),
    [
        (None, None, None),  # no daj metadata: the service's setting decides
        ({"prompt_version": "daj-pairwise-v2"}, "daj-pairwise-v2", None),
        ({"format": "daj-adapter-v1"}, None, None),
        ({"prompt_version": "daj-pairwise-v9"}, "daj-pairwise-v9", "trained on judge prompt 'daj-pairwise-v9'"),
        ({"prompt_version": 2}, ValueError, "prompt_version is 2, not a string"),
        ("{not json", ValueError, "daj_adapter.json is not readable JSON"),
    ],
)
def test_an_adapter_names_its_prompt_version(adapter: Path, metadata, version, problem) -> None:  # type: ignore[no-untyped-def]
    path = adapter / "daj_adapter.json"
    path.unlink(missing_ok=True)
    if metadata is not None:
        path.write_text(metadata if isinstance(metadata, str) else json.dumps(metadata))
    if version is ValueError:
        with pytest.raises(ValueError):
            adapter_prompt_version(adapter)
    else:
        assert adapter_prompt_version(adapter) == version
    found = prompt_version_problem(adapter, PROMPT_VERSIONS)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_registry_refuses_an_adapter_trained_on_an_unrendered_prompt(adapter: Path) -> None:
    (adapter / "daj_adapter.json").write_text(json.dumps({"prompt_version": "daj-pairwise-v9"}))
    registry = AdapterRegistry(adapter.parent, max_rank=16)
    with pytest.raises(ApiError) as caught:
        registry.get("judge")
    assert caught.value.status == 422 and caught.value.code == "adapter_invalid" and caught.value.param == "adapter"
    assert "'daj-pairwise-v9'" in caught.value.message
    (adapter / "daj_adapter.json").write_text(json.dumps({"prompt_version": "daj-pairwise-v2"}))
    assert AdapterRegistry(adapter.parent, max_rank=16).get("judge").prompt_version == "daj-pairwise-v2"


def test_a_default_adapter_on_an_unrendered_prompt_stops_the_start_up(adapter: Path, tiny_model_dir: Path) -> None:
    from service.app import merged_default_adapter
    from service.settings import Settings

    settings = Settings(model=str(tiny_model_dir), adapters_dir=adapter.parent, default_adapter="judge",
                        merge_default_adapter="on")
    assert merged_default_adapter(settings).prompt_version is None  # type: ignore[union-attr]  # no metadata
    (adapter / "daj_adapter.json").write_text(json.dumps({"prompt_version": "daj-pairwise-v9"}))
    with pytest.raises(ValueError, match="default adapter 'judge' cannot be served: it was trained on judge prompt"):
        merged_default_adapter(settings)
