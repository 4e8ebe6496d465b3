"""The default adapter served merged into the base weights (`DAJ_MERGE_DEFAULT_ADAPTER`): a real vLLM engine on
the tiny model with a LoRA folded in gives the verdicts vLLM's LoRA path gives, and the service refuses every
other adapter with the one error shape.

The adapter here is a gentle one (std 0.15): the default test LoRA's update dwarfs the tiny model's weights, so
its outputs swing with bf16 rounding, and two correct serving paths can differ by 0.1 in probability.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from daj.lora import Adapter, adapter_content_hash
from daj.protocol.prompt import encode_prompt, render_prompt
from daj.testing.loop_thread import LoopThread
from daj.testing.tiny_model import build_tiny_lora
from service.app import merged_default_adapter
from service.settings import Settings
from service.testing import InProcessService, start_service

pytestmark = pytest.mark.engine

PROBLEM = 'def add(a, b):\n    """Return the sum of a and b."""\n'
PAIRS = [("def add(a, b):\n    return a + b\n", "def add(a, b):\n    return a - b\n"),
         ("def add(a, b):\n    return sum([a, b])\n", "def add(a, b):\n    return a * b\n"),
         ("def add(a, b):\n    total = a\n    total += b\n    return total\n", "def add(a, b):\n    pass\n")]


@pytest.fixture(scope="module")
def gentle_lora(tiny_model_dir: Path) -> Path:
    return build_tiny_lora(tiny_model_dir, name="gentle", std=0.15)


@pytest.fixture(scope="module")
def merged_settings(base_settings: Settings, gentle_lora: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    adapters = tmp_path_factory.mktemp("merged-adapters")
    (adapters / "judge").symlink_to(gentle_lora, target_is_directory=True)
    return base_settings.model_copy(update={"adapters_dir": adapters, "default_adapter": "judge",
                                            "merge_default_adapter": "on",
                                            "cache_dir": tmp_path_factory.mktemp("merge-cache")})


@pytest.fixture(scope="module")
def merged_service(loop_thread: LoopThread, merged_settings: Settings) -> Iterator[InProcessService]:
    from service.engine.vllm_local import VllmEngine

    adapter = merged_default_adapter(merged_settings)
    assert adapter is not None and adapter.name == "judge"
    engine = VllmEngine(merged_settings.model, max_model_len=4096, kv_cache_gib=1, merged_adapter=adapter,
                        merge_cache_dir=merged_settings.cache_dir)
    service = start_service(loop_thread, merged_settings, engine, timeout_s=180)
    yield service
    service.stop()
    loop_thread.run(engine.close())


def _select(service: InProcessService, **body) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.post(f"{service.url}/select", json={"problem": PROBLEM, **body}, timeout=120)


def _margin(logprobs: dict[int, float | None], id_a: int, id_b: int) -> float:
    return float(logprobs[id_a]) - float(logprobs[id_b])  # type: ignore[arg-type]


def test_merged_verdicts_match_the_lora_path(merged_service: InProcessService, tiny_engine, gentle_lora: Path,
                                             loop_thread: LoopThread) -> None:  # fmt: skip
    merged_engine = merged_service.app.state.daj.engine
    lora = Adapter("gentle", gentle_lora, adapter_content_hash(gentle_lora), int_id=90)
    id_a, id_b = tiny_engine.choice_token_ids()
    gaps, effects = [], []
    for k, (code_a, code_b) in enumerate(PAIRS):
        ids = encode_prompt(tiny_engine.tokenizer, render_prompt(tiny_engine.tokenizer, PROBLEM, code_a, code_b))
        merged = _margin(loop_thread.run(merged_engine.first_token_logprobs(f"m{k}", ids, [id_a, id_b],
                                                                            merged_engine.merged_adapter)), id_a, id_b)
        via_lora = _margin(loop_thread.run(tiny_engine.first_token_logprobs(f"l{k}", ids, [id_a, id_b], lora)),
                           id_a, id_b)
        base = _margin(loop_thread.run(tiny_engine.first_token_logprobs(f"b{k}", ids, [id_a, id_b])), id_a, id_b)
        gaps.append(abs(merged - via_lora))
        effects.append(abs(base - via_lora))
    assert min(effects) > 0.05, f"the adapter must change the verdicts: {effects}"
    assert max(gaps) < 0.25 * min(effects), f"merged vs LoRA gaps {gaps}, adapter effects {effects}"


def test_a_merged_service_judges_with_its_adapter_and_refuses_others(merged_service: InProcessService) -> None:
    programs = [f"def add(a, b):\n    # {uuid.uuid4().hex}\n    return a + b + {k}\n" for k in range(3)]
    result = _select(merged_service, candidates=programs)
    assert result.status_code == 200, result.text
    assert result.json()["judge"]["adapter"] == "judge" and result.json()["usage"]["judge_calls"] == 4
    listed = httpx.get(f"{merged_service.url}/v1/adapters", timeout=10).json()["adapters"]
    assert [(a["name"], a["serving"]) for a in listed] == [("judge", "merged")]
    for asked in ("other", ""):
        response = _select(merged_service, candidates=programs, adapter=asked)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "adapter_not_served" and error["param"] == "adapter"
        assert "DAJ_MERGE_DEFAULT_ADAPTER=off" in error["message"]


def test_the_merge_is_cached_by_content_hash(merged_service: InProcessService, merged_settings: Settings) -> None:
    folders = list((merged_settings.cache_dir / "merged").iterdir())
    adapter = merged_default_adapter(merged_settings)
    assert adapter is not None and [folder.name.endswith(adapter.content_hash) for folder in folders] == [True]


def test_auto_merges_on_this_cpu_and_falls_back_to_lora_for_what_cannot_be_merged(
    base_settings: Settings, tiny_lora_dir: Path, tmp_path: Path
) -> None:
    shutil.copytree(tiny_lora_dir, tmp_path / "judge")
    settings = base_settings.model_copy(update={"adapters_dir": tmp_path, "default_adapter": "judge"})
    assert merged_default_adapter(settings.model_copy(update={"merge_default_adapter": "auto"})) is not None
    assert merged_default_adapter(settings.model_copy(update={"merge_default_adapter": "off"})) is None
    assert merged_default_adapter(settings.model_copy(update={"default_adapter": None})) is None
    config = tmp_path / "judge" / "adapter_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "use_dora": True}))
    assert merged_default_adapter(settings.model_copy(update={"merge_default_adapter": "auto"})) is None
    with pytest.raises(ValueError, match="use_dora"):
        merged_default_adapter(settings.model_copy(update={"merge_default_adapter": "on"}))
