"""Merged export on the tiny model: base + LoRA folded into one folder gives the same logits as the adapter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from judge_training.cli import app
from judge_training.export import METADATA_FILE, merge_adapter


def test_train_merged_model_answers_like_base_plus_adapter(tiny_model_dir: Path, tiny_lora_dir: Path,
                                                           tmp_path: Path) -> None:  # fmt: skip
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "merged"
    info = merge_adapter(tiny_lora_dir, out, base=str(tiny_model_dir))
    assert json.loads((out / METADATA_FILE).read_text())["merged_from_adapter"] == str(tiny_lora_dir)
    assert info["merged_base"] == str(tiny_model_dir)
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    plain = base(input_ids=ids).logits
    with_adapter = PeftModel.from_pretrained(base, str(tiny_lora_dir))(input_ids=ids).logits
    merged = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)(input_ids=ids).logits
    assert not torch.allclose(with_adapter, plain, atol=1e-3), "the test LoRA must change the output"
    assert torch.allclose(merged, with_adapter, atol=2e-2), (merged - with_adapter).abs().max()


def test_train_merge_needs_a_base_and_an_adapter(tiny_lora_dir: Path, tmp_path: Path) -> None:
    if not (tiny_lora_dir / METADATA_FILE).is_file():
        with pytest.raises(ValueError, match="pass the base explicitly"):
            merge_adapter(tiny_lora_dir, tmp_path / "out")
    result = CliRunner().invoke(app, ["merge", "--adapter", str(tmp_path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "not a usable peft adapter folder" in result.output
