"""LoRA adapter folders: whether one is loadable (`adapter_problem`), and folding one into its base weights
(`merge_lora`: W' = W + (alpha / r) * B @ A, tensor by tensor).

The check is shared by the service (before vLLM sees an adapter: a corrupt file would kill the engine core)
and by training (`model.init_adapter`, `judge_training merge`). The merge is one implementation for the
training export and the service, which merges its default adapter at start-up on CPU, where vLLM's LoRA path
is ~88x slower than plain weights. It needs only torch and safetensors, not peft, so the serving image stays
lean; tests check it against peft's own `merge_and_unload`. Only the plain LoRA that daj trains is supported
(no DoRA, no extra trained modules, no per-module rank or alpha patterns): anything else is refused with the
config field that makes it so.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_METADATA = "daj_adapter.json"  # written by training: the judge prompt version, data, metrics
MERGE_INFO = "daj_merge.json"
_PEFT_PREFIX = "base_model.model."


@dataclass(frozen=True)
class Adapter:
    """A LoRA adapter folder known to the service. `content_hash` goes into every verdict-cache key, so
    retraining an adapter under the same name never serves verdicts of the old weights."""

    name: str
    path: Path
    content_hash: str
    int_id: int
    prompt_version: str | None = None  # the judge prompt it was trained on (None: no metadata, the setting's)


def adapter_content_hash(path: Path) -> str:
    """A short digest of the adapter's own files (`adapter_*`): the identity of its weights and config."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.iterdir() if p.is_file() and p.name.startswith("adapter_")):
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def adapter_problem(folder: Path, max_rank: int | None = None) -> str | None:
    """Why vLLM could not load this adapter, or None if it looks loadable (config, header, shapes, rank)."""
    try:
        config = json.loads((folder / ADAPTER_CONFIG).read_text())
    except (OSError, ValueError) as exc:
        return f"{ADAPTER_CONFIG} is not readable JSON ({exc})"
    rank = config.get("r") if isinstance(config, dict) else None
    if not isinstance(rank, int) or rank < 1:
        return f"{ADAPTER_CONFIG} has no positive integer rank 'r'"
    if max_rank is not None and rank > max_rank:
        return f"rank {rank} is above the engine's max_lora_rank {max_rank}"
    weights = folder / ADAPTER_WEIGHTS
    if not weights.is_file():
        return f"{ADAPTER_WEIGHTS} is missing"
    from safetensors import safe_open

    try:
        with safe_open(str(weights), framework="numpy") as handle:
            keys = list(handle.keys())
            shapes = {key: handle.get_slice(key).get_shape() for key in keys}
    except Exception as exc:  # safetensors raises its own error types for every kind of corruption
        return f"{ADAPTER_WEIGHTS} is not a valid safetensors file ({type(exc).__name__}: {exc})"
    if not any("lora_A" in key for key in keys):
        return f"{ADAPTER_WEIGHTS} holds no lora_A tensors"
    for key, shape in shapes.items():
        if ("lora_A" in key and shape[0] != rank) or ("lora_B" in key and shape[-1] != rank):
            return f"tensor {key} has shape {list(shape)}, which does not match rank {rank}"
    return None


def adapter_prompt_version(folder: Path) -> str | None:
    """The judge prompt version the adapter was trained on (its `daj_adapter.json`), or None when it has no
    metadata (an adapter trained elsewhere). Raises ValueError when the metadata is there but unreadable."""
    path = folder / ADAPTER_METADATA
    if not path.is_file():
        return None
    try:
        metadata = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{ADAPTER_METADATA} is not readable JSON ({exc})") from exc
    version = metadata.get("prompt_version") if isinstance(metadata, dict) else None
    if version is not None and not isinstance(version, str):
        raise ValueError(f"{ADAPTER_METADATA}: prompt_version is {version!r}, not a string")
    return version


def prompt_version_problem(folder: Path, rendered: tuple[str, ...]) -> str | None:
    """Why a service that renders the `rendered` prompt versions must not judge with this adapter, or None."""
    try:
        version = adapter_prompt_version(folder)
    except ValueError as exc:
        return str(exc)
    if version is None or version in rendered:
        return None
    return (f"it was trained on judge prompt {version!r}, which this build does not render (it renders "
            f"{', '.join(rendered)}): judging with another prompt would give wrong verdicts; upgrade daj or "
            "retrain the adapter")


class MergeError(ValueError):
    """The adapter cannot be folded into the base weights (the message names the reason)."""


@dataclass(frozen=True)
class LoraFactors:
    """The A/B factors and scale of one adapted linear layer, keyed by the base weight's tensor name."""

    base_key: str
    lora_a: Any
    lora_b: Any
    scale: float


def _unsupported(config: dict[str, Any]) -> str | None:
    checks = [
        (config.get("peft_type") != "LORA", f"peft_type is {config.get('peft_type')!r}, not 'LORA'"),
        (bool(config.get("use_dora")), "use_dora is true (DoRA magnitudes are not plain LoRA)"),
        (bool(config.get("modules_to_save")), "modules_to_save is set (fully trained modules)"),
        (bool(config.get("fan_in_fan_out")), "fan_in_fan_out is true"),
        (bool(config.get("rank_pattern")), "rank_pattern is not empty"),
        (bool(config.get("alpha_pattern")), "alpha_pattern is not empty"),
        (bool(config.get("trainable_token_indices")), "trainable_token_indices is set"),
        (config.get("bias", "none") != "none", f"bias is {config.get('bias')!r}, not 'none'"),
        (bool(config.get("lora_bias")), "lora_bias is true"),
    ]
    return next((reason for bad, reason in checks if bad), None)


def merge_problem(adapter: Path) -> str | None:
    """Why this folder cannot be merged (unloadable, or not plain LoRA), or None; reads only the config and
    the weights' header, so the service can decide at start-up whether to merge."""
    problem = adapter_problem(adapter)
    if problem:
        return problem
    config = json.loads((adapter / ADAPTER_CONFIG).read_text())
    reason = _unsupported(config)
    if reason:
        return f"{ADAPTER_CONFIG}: {reason}"
    if not isinstance(config.get("lora_alpha"), int | float):
        return f"{ADAPTER_CONFIG} has no numeric 'lora_alpha'"
    return None


def read_lora_factors(adapter: Path) -> list[LoraFactors]:
    """The adapter's factors, validated: a merge either covers every tensor or refuses to start."""
    from safetensors.torch import load_file

    problem = merge_problem(adapter)
    if problem:
        raise MergeError(f"cannot merge {adapter}: {problem}")
    config = json.loads((adapter / ADAPTER_CONFIG).read_text())
    rank, alpha = config["r"], config["lora_alpha"]
    scale = alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank
    tensors = load_file(str(adapter / ADAPTER_WEIGHTS))
    factors = []
    for key, lora_a in sorted(tensors.items()):
        if not key.endswith(".lora_A.weight"):
            if ".lora_B." not in key:
                raise MergeError(f"cannot merge {adapter}: tensor {key} is neither a lora_A nor a lora_B factor")
            continue
        module = key.removesuffix(".lora_A.weight")
        lora_b = tensors.get(f"{module}.lora_B.weight")
        if lora_b is None:
            raise MergeError(f"cannot merge {adapter}: {key} has no matching lora_B tensor")
        factors.append(LoraFactors(f"{module.removeprefix(_PEFT_PREFIX)}.weight", lora_a, lora_b, scale))
    if not factors:
        raise MergeError(f"cannot merge {adapter}: {ADAPTER_WEIGHTS} holds no lora_A tensors")
    return factors


def _base_weight_files(base: Path) -> list[Path]:
    files = sorted(base.glob("*.safetensors"))
    if not files:
        raise MergeError(f"cannot merge into {base}: the base folder has no .safetensors weights")
    return files


def merge_lora(adapter: Path, base: Path, out: Path) -> dict[str, Any]:
    """Write base + LoRA to ``out`` (same files, shards and dtypes as the base); returns what was merged.

    The sum is taken in float32 and rounded once to the base tensor's dtype. ``out`` is replaced atomically:
    it is built in a sibling temporary folder and renamed, so a crash never leaves half a model behind.
    """
    from safetensors import safe_open
    from safetensors.torch import save_file

    factors = {factor.base_key: factor for factor in read_lora_factors(adapter)}
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for item in base.iterdir():  # config, tokenizer, generation config, shard index: as they are
            if item.is_file() and item.suffix != ".safetensors":
                shutil.copy2(item, staging / item.name)
        merged: set[str] = set()
        for weights in _base_weight_files(base):
            with safe_open(str(weights), framework="pt") as handle:
                metadata = handle.metadata()
                tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (not a dict)
            for key, weight in tensors.items():
                factor = factors.get(key)
                if factor is None:
                    continue
                delta = factor.lora_b.float() @ factor.lora_a.float()
                if delta.shape != weight.shape:
                    raise MergeError(f"cannot merge {adapter}: B @ A for {key} has shape {list(delta.shape)}, "
                                     f"the base weight {list(weight.shape)}")
                tensors[key] = (weight.float() + factor.scale * delta).to(weight.dtype)
                merged.add(key)
            save_file({key: tensor.contiguous() for key, tensor in tensors.items()}, str(staging / weights.name),
                      metadata=metadata)
        missing = sorted(set(factors) - merged)
        if missing:
            raise MergeError(f"cannot merge {adapter}: the base model {base} has no weight {missing[0]} "
                             f"({len(missing)} adapted layers not found); is it the adapter's base model?")
        info = {"adapter": str(adapter), "base": str(base), "merged_tensors": len(merged),
                "scale": next(iter(factors.values())).scale}
        (staging / MERGE_INFO).write_text(json.dumps(info, indent=1) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return info


def cached_merge(adapter: Path, base: Path, cache_dir: Path, key: str) -> Path:
    """The merged folder for (base, adapter) under ``cache_dir``, merging only when it is not there yet.

    ``key`` must change whenever the adapter's weights do (the service passes the adapter's content hash), so a
    retrained adapter is merged afresh and never served from a stale folder.
    """
    out = cache_dir / "merged" / f"{base.name}--{adapter.name}--{key}"
    if not (out / MERGE_INFO).is_file():
        merge_lora(adapter, base, out)
    return out
