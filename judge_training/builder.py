"""Turning a config into what the trainer consumes: the backbone with LoRA, and the encoded pair sets."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from daj.digest import file_sha256
from judge_training.config import DataConfig, ModelConfig
from judge_training.data import (
    EncodedPair,
    PairExample,
    cap_per_domain,
    encode_pairs,
    pairs_digest,
    split_meta,
)
from judge_training.sources import SourceContext, chosen_sources
from judge_training.sources.meta import load_meta_pools, pool_pairs

logger = logging.getLogger(__name__)

TINY_TEST_BASE = "tiny-test"


@dataclass
class TrainData:
    """Encoded pairs; ``domains[i]`` names domain index i. ``info`` goes into the adapter metadata."""

    train: list[EncodedPair]
    meta_train: list[EncodedPair]
    meta_eval: list[EncodedPair]
    domains: list[str]
    info: dict[str, Any] = field(default_factory=dict)


def resolve_base(spec: str) -> str:
    """Folder of the backbone: ``tiny-test`` builds the cached tiny random Llama (tests), else daj.models."""
    if spec == TINY_TEST_BASE:
        from daj.testing.tiny_model import build_tiny_model

        return str(build_tiny_model())
    from daj.models import resolve_model

    return resolve_model(spec)


def load_backbone(cfg: ModelConfig) -> tuple[Any, Any, str]:
    """(peft model with fresh LoRA, tokenizer, base folder). Base weights are frozen by peft."""
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = resolve_base(cfg.base)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=getattr(torch, cfg.dtype), attn_implementation="eager")
    if cfg.init_adapter:  # continue a previous stage: its LoRA shape and weights, trainable
        return PeftModel.from_pretrained(model, cfg.init_adapter, is_trainable=True), tokenizer, base
    layers = None
    if cfg.lora_last_layers:
        total = int(model.config.num_hidden_layers)
        layers = list(range(max(0, total - cfg.lora_last_layers), total))
    lora = LoraConfig(
        layers_to_transform=layers,
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.target_modules),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora), tokenizer, base


def source_context(cfg: DataConfig) -> SourceContext:
    """What the sources of a build read, from the config's data section."""
    return SourceContext(
        data_dir=Path(cfg.data_dir),
        pools_dir=Path(cfg.pools_dir),
        seed=cfg.seed,
        mutants_per_problem=cfg.mutants_per_problem,
        truncations_per_problem=cfg.truncations_per_problem,
        # With evidence, an LDB MBPP problem carries its visible test in the statement (as MBPP shows it):
        # prose alone gives execution nothing to check.
        visible_tests=cfg.evidence,
        synthetic_domains=tuple(cfg.synthetic_domains),
        synthetic_flipped=tuple(cfg.synthetic_flipped),
        synthetic_pairs_per_domain=cfg.synthetic_pairs_per_domain,
    )


def real_pairs(cfg: DataConfig, info: dict[str, Any]) -> list[PairExample]:
    """The pairs of the config's sources (judge_training/sources/, in registry order); what each source reports
    and the sha256 of the data files they read go into ``info``."""
    ctx = source_context(cfg)
    pairs: list[PairExample] = []
    files: set[Path] = set()
    for source in chosen_sources(cfg.sources):
        drawn = source.draw(ctx)
        pairs += drawn.pairs
        info.update(drawn.info)
        files.update(source.files(ctx.data_dir))
    info["source_files"] = {str(f.relative_to(ctx.data_dir)): file_sha256(f) for f in sorted(files) if f.is_file()}
    return pairs


def _own_meta(cfg: DataConfig) -> Callable[[SourceContext], list[PairExample]] | None:
    """The meta set of a chosen source that brings its own (`synthetic`, which stands alone), else None."""
    return next((s.meta for s in chosen_sources(cfg.sources) if s.meta is not None), None)


def meta_pools(cfg: DataConfig, info: dict[str, Any]) -> list[Any]:
    """The meta split's pools: ``meta_pool``, and ``meta_pools`` with the candidates of one task merged across
    files (a task whose statement differs between files keeps the first file's); refuses any pool outside the
    meta split."""
    from daj.pools import merge_pools

    splits = Path(cfg.data_dir) / "splits.json"
    paths = [Path(cfg.meta_pool), *(Path(p) for p in cfg.meta_pools)]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"meta pool {path} is missing: run the sandbox labelling (sandbox label ...)")
    groups = [load_meta_pools(path, splits) for path in paths]
    info["meta_pool"] = {"path": str(paths[0]), "sha256": file_sha256(paths[0])}
    info["meta_pools"] = {str(path): file_sha256(path) for path in paths}
    # LDB's files differ in a few statements' text (HumanEval/116): the first file's statement is kept
    return [groups[0], merge_pools(groups[1:], skip_conflicts=True)] if len(groups) > 1 else groups


def meta_pairs(cfg: DataConfig, info: dict[str, Any], store: Any = None) -> list[PairExample]:
    """The meta set; with evidence, the runs go through `store` (default: the config's run store)."""
    own_meta = _own_meta(cfg)
    if own_meta is not None:
        return own_meta(source_context(cfg))
    if cfg.evidence and store is None:
        store = run_store(cfg)
    pairs: list[PairExample] = []
    for index, group in enumerate(meta_pools(cfg, info)):
        source = "humaneval_meta" if index == 0 else "humaneval_meta_more"
        if cfg.evidence:  # what the service's judge meets on these problems: ties of the top group
            from judge_training.evidence import EvidenceSettings, pool_pairs_as_served

            found, tally = pool_pairs_as_served(group, EvidenceSettings(), cfg.meta_pairs_per_problem, cfg.seed,
                                                source, store=store)
            info.setdefault("meta_evidence", {})[source] = dict(tally)
            pairs += found
        else:
            mixed = [p for p in group if p.pass_rate is not None and 0 < p.pass_rate < 1]
            info["meta_pool"]["mixed_problems"] = len(mixed)
            pairs += pool_pairs(mixed, cfg.meta_pairs_per_problem, cfg.seed, source)
    return pairs


def run_store(cfg: DataConfig) -> Any:
    from judge_training.evidence import RunStore

    return RunStore(Path(cfg.run_store) if cfg.run_store else None)


def training_pairs(cfg: DataConfig, info: dict[str, Any], store: Any = None) -> list[PairExample]:
    """The training sources' pairs; with evidence, run through execution (some left code-only) in `store`."""
    raw = real_pairs(cfg, info)
    if not cfg.evidence or _own_meta(cfg) is not None:  # a toy task trains code-only, like its own meta set
        return raw
    from judge_training.evidence import EvidenceSettings, with_evidence

    kept, tally = with_evidence(raw, EvidenceSettings(), cfg.no_evidence_share, cfg.seed,
                                store=store or run_store(cfg))
    info["evidence"] = {"prompt_version": cfg.prompt_version, "no_evidence_share": cfg.no_evidence_share,
                        "outcomes": dict(tally)}
    return kept


def build_data(cfg: DataConfig, tokenizer: Any) -> TrainData:
    """All pair sets for one run, rendered through daj.protocol, with hashes and counts in ``info``."""
    info: dict[str, Any] = {"domain_key": cfg.domain_key}
    store = run_store(cfg) if cfg.evidence else None  # read once, shared by the training and the meta pairs
    raw = training_pairs(cfg, info, store)
    capped = cap_per_domain(raw, cfg.domain_key, cfg.max_pairs_per_domain, cfg.seed)
    domains = sorted({p.domain(cfg.domain_key) for p in capped})
    train, dropped = encode_pairs(tokenizer, capped, domains, cfg.domain_key, cfg.max_prompt_tokens, cfg.prompt_version)
    meta_raw = meta_pairs(cfg, info, store)
    meta_domains = sorted({p.source for p in meta_raw})
    meta_all, meta_dropped = encode_pairs(
        tokenizer, meta_raw, meta_domains, "source", cfg.meta_max_prompt_tokens, cfg.prompt_version
    )
    _, meta_eval_pairs = split_meta([m.pair for m in meta_all], cfg.meta_eval_fraction)
    keep = {id(p) for p in meta_eval_pairs}
    meta_train = [m for m in meta_all if id(m.pair) not in keep]
    meta_eval = [m for m in meta_all if id(m.pair) in keep]
    if not train or not meta_train or not meta_eval:
        raise ValueError(f"empty pair set: train={len(train)} meta_train={len(meta_train)} meta_eval={len(meta_eval)}")
    counts = {name: sum(1 for e in train if e.domain == i) for i, name in enumerate(domains)}
    info.update(
        {
            "train_pairs": len(train),
            "train_pairs_per_domain": counts,
            "dropped_too_long": dropped,
            "meta_dropped_too_long": meta_dropped,
            "meta_domains": meta_domains,
            "meta_outer_problems": sorted({m.pair.task_id for m in meta_train}),
            "meta_tuning_problems": sorted({m.pair.task_id for m in meta_eval}),
            "meta_train_pairs": len(meta_train),
            "meta_eval_pairs": len(meta_eval),
            "meta_train_problems": len({m.pair.task_id for m in meta_train}),
            "meta_eval_problems": len({m.pair.task_id for m in meta_eval}),
            "train_sha256": pairs_digest(train),
            "meta_train_sha256": pairs_digest(meta_train),
            "meta_eval_sha256": pairs_digest(meta_eval),
        }
    )
    logger.info("data: %s", json.dumps({k: v for k, v in info.items() if k != "source_files"}))
    return TrainData(train, meta_train, meta_eval, domains, info)
