"""`daj.lora.merge_lora` folds a LoRA into its base weights: the same tensors peft's `merge_and_unload` gives,
written atomically, cached by content hash, and refused (with the reason) for anything but plain LoRA."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from daj.lora import MERGE_INFO, MergeError, cached_merge, merge_lora, merge_problem


def _edit_config(folder: Path, **changes: object) -> None:
    path = folder / "adapter_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.fixture
def adapter(tiny_lora_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "adapter"
    shutil.copytree(tiny_lora_dir, folder)
    return folder


def test_merged_tensors_equal_peft_merge_and_unload(tiny_model_dir: Path, adapter: Path, tmp_path: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    info = merge_lora(adapter, tiny_model_dir, tmp_path / "merged")
    ours = {k: v for f in sorted((tmp_path / "merged").glob("*.safetensors")) for k, v in load_file(f).items()}
    base = {k: v for f in sorted(tiny_model_dir.glob("*.safetensors")) for k, v in load_file(f).items()}
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    reference = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload().state_dict()
    changed = [key for key in base if not torch.equal(ours[key], base[key])]
    assert info["merged_tensors"] == len(changed) > 0
    assert all(("q_proj" in key or "v_proj" in key) for key in changed), changed
    assert set(ours) == set(base)
    for key, tensor in ours.items():
        assert tensor.dtype == base[key].dtype
        expected = reference[key].to(tensor.dtype).float()
        gap = (tensor.float() - expected).abs().max()
        assert torch.allclose(tensor.float(), expected, atol=1e-2, rtol=1e-2), (key, gap)
    for name in ("config.json", "tokenizer.json"):
        assert (tmp_path / "merged" / name).read_bytes() == (tiny_model_dir / name).read_bytes()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"use_dora": True}, "use_dora"),
        ({"modules_to_save": ["lm_head"]}, "modules_to_save"),
        ({"rank_pattern": {"q_proj": 4}}, "rank_pattern"),
        ({"peft_type": "IA3"}, "peft_type"),
        ({"lora_alpha": None}, "lora_alpha"),
    ],
)
def test_anything_but_plain_lora_is_refused_with_its_reason(adapter: Path, tiny_model_dir: Path, tmp_path: Path,
                                                            changes: dict, reason: str) -> None:  # fmt: skip
    _edit_config(adapter, **changes)
    assert reason in (merge_problem(adapter) or "")
    with pytest.raises(MergeError, match=reason):
        merge_lora(adapter, tiny_model_dir, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_adapter_for_another_base_fails_and_leaves_nothing_behind(adapter: Path, tiny_model_dir: Path,
                                                                    tmp_path: Path) -> None:  # fmt: skip
    weights = adapter / "adapter_model.safetensors"
    tensors = load_file(weights)
    save_file({key.replace("layers.0.", "layers.99."): value for key, value in tensors.items()}, str(weights))
    with pytest.raises(MergeError, match="is it the adapter's base model"):
        merge_lora(adapter, tiny_model_dir, tmp_path / "cache" / "out")
    assert list((tmp_path / "cache").iterdir()) == []  # no half-written folder, no staging leftovers


def test_cached_merge_reuses_the_folder_for_the_same_key_only(adapter: Path, tiny_model_dir: Path,
                                                              tmp_path: Path) -> None:  # fmt: skip
    first = cached_merge(adapter, tiny_model_dir, tmp_path, key="aaaa")
    stamp = (first / MERGE_INFO).stat().st_mtime_ns
    assert cached_merge(adapter, tiny_model_dir, tmp_path, key="aaaa") == first
    assert (first / MERGE_INFO).stat().st_mtime_ns == stamp, "the same key must not merge again"
    second = cached_merge(adapter, tiny_model_dir, tmp_path, key="bbbb")
    assert second != first and (second / MERGE_INFO).is_file()
