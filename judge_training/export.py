"""Merged export: fold a LoRA adapter into its base weights and save a plain transformers folder.

vLLM then serves the judge as an ordinary model (no LoRA kernels). On the 2-core CPU machine the LoRA path of
vLLM-CPU is far slower than the base model, so evaluations at scale run on the merged folder; on a GPU the
trade-off is smaller (LoRA costs ~1.3x per token there). The judge's answers are the same up to rounding of
the merged weights to the base model's dtype (bf16 for the default backbone). The folder carries the
adapter's ``daj_adapter.json`` plus where it came from, so it stays traceable.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from judge_training.trainer import METADATA_FILE  # the adapter's metadata, carried into the merged folder


def merge_adapter(adapter: Path, out: Path, base: str | None = None) -> dict[str, Any]:
    """Write base + LoRA (merged) to ``out``; returns the metadata written next to the weights."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from judge_training.builder import resolve_base

    meta_path = adapter / METADATA_FILE
    metadata = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    base_spec = base or metadata.get("base_model")
    if not base_spec:
        raise ValueError(f"{adapter} has no {METADATA_FILE} naming its base model: pass the base explicitly")
    base_dir = resolve_base(base_spec)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    config = json.loads((Path(base_dir) / "config.json").read_text())
    target = getattr(torch, str(config.get("dtype") or config.get("torch_dtype") or "float32"))
    if out.exists():
        shutil.rmtree(out)
    merged.to(target).save_pretrained(out)
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(out)
    info = {**metadata, "merged_from_adapter": str(adapter), "merged_base": base_dir, "merged_dtype": str(target)}
    (out / METADATA_FILE).write_text(json.dumps(info, indent=1) + "\n")
    return info
