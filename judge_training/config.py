"""Training configuration: dataclasses loaded from YAML, validated completely before any work starts.

An unknown key or an impossible value raises ``ConfigError`` naming the dotted key and what is allowed, so
a typo in a 20-minute run's config fails in the first second instead of being silently ignored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from daj.lora import adapter_problem
from daj.protocol import EVIDENCE_VERSIONS, PROMPT_V1, PROMPT_VERSIONS
from judge_training.data import DOMAIN_KEYS

SOURCES = (
    "bigcodebench_mutant", "ldb_mbpp", "ldb_mbpp_mutant", "mbppplus_mutant", "mbppplus_truncation", "synthetic"
)
STAGES = ("sft", "dpo", "grpo")
SFT_FORMATS = ("verdict", "reasoning")
MODES = ("uniform", "bilevel")
HYPERGRADS = ("first_order", "second_order")
DTYPES = ("float32", "bfloat16")
DEVICES = ("cpu", "cuda")
TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")


class ConfigError(ValueError):
    """A config problem; the message names the key and the allowed values."""


@dataclass
class DataConfig:
    data_dir: str = "../shared/data"
    pools_dir: str = "data/pools"
    meta_pool: str = "data/pools/humaneval_codegen16b_meta.jsonl.gz"
    sources: list[str] = field(default_factory=lambda: ["ldb_mbpp", "mbppplus_mutant"])
    domain_key: str = "source+difficulty"
    mutants_per_problem: int = 2
    truncations_per_problem: int = 2
    max_pairs_per_domain: int = 400
    max_prompt_tokens: int = 768
    meta_max_prompt_tokens: int = 768
    meta_pairs_per_problem: int = 4
    meta_eval_fraction: float = 0.5  # share of meta problems in the tuning half (meta_eval): never steers weights
    meta_pools: list[str] = field(default_factory=list)  # more pools of meta problems (other policy models)
    # Execution evidence (judge_training/evidence.py): run every pair on the service's probe set, render the
    # disagreements, tag the stage; the meta set becomes the pairs the service's judge meets on the meta pools.
    evidence: bool = False
    prompt_version: str = PROMPT_V1  # what every pair is rendered with and the adapter names (v2/v3 need evidence)
    no_evidence_share: float = 0.2  # evidence runs only: this share of training pairs stays code-only
    run_store: str = "runs/.evidence-runs.jsonl"  # evidence runs only: program runs kept across builds ("" = none)
    synthetic_domains: list[str] = field(default_factory=lambda: ["syn_a", "syn_b", "syn_c"])
    synthetic_flipped: list[str] = field(default_factory=list)  # synthetic domains whose labels are flipped
    synthetic_pairs_per_domain: int = 32
    seed: int = 0


@dataclass
class ModelConfig:
    base: str = "smollm2-135m-instruct"  # alias, local folder, or "tiny-test" (random tiny Llama, tests only)
    dtype: str = "float32"
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    lora_last_layers: int = 0  # 0 = LoRA in every layer; N = only the last N (backward stops there: faster on CPU)
    init_adapter: str = ""  # start from this peft adapter (e.g. the SFT warm-up) instead of a fresh LoRA


@dataclass
class TrainConfig:
    stage: str = "sft"  # sft (verdict BCE) | dpo (correct vs wrong judgment) | grpo (sampled reasoning, reward)
    sft_format: str = "verdict"  # sft only: verdict (the A/B token) | reasoning (written rationale + verdict line)
    dpo_beta: float = 0.1
    grpo_group_size: int = 4  # sampled judgments per prompt (one prompt per pair, in a random order)
    grpo_max_new_tokens: int = 128  # a judgment cut off here is unparseable: reward 0
    grpo_temperature: float = 1.0
    steps: int = 60
    pairs_per_batch: int = 2  # each pair is shown in both orders: 2 pairs = 4 sequences
    lr: float = 5e-4
    weight_decay: float = 0.0
    warmup_steps: int = 5
    grad_clip: float = 1.0
    threads: int = 2
    device: str = "cpu"
    seed: int = 0


@dataclass
class ReweightConfig:
    mode: str = "bilevel"
    hypergrad: str = "first_order"
    domains: bool = True
    instance_net: bool = True
    instance_hidden: int = 16
    domain_lr: float = 0.1
    instance_lr: float = 1e-3
    lookahead_lr: float = 5e-4
    meta_pairs_per_step: int = 2
    outer_every: int = 1  # outer (hypergradient) step every k inner steps; between them the weights are held
    outer_start: int = (
        0  # first step with an outer update: before it the LoRA is near init and the meta signal is noise
    )
    fd_eps: float = 1e-3


@dataclass
class OutputConfig:
    dir: str = "runs/default"  # logs, checkpoint, adapter/ (scratch, gitignored)
    export_dir: str = ""  # if set, the final adapter + metadata + plot are also written here (e.g. adapters/default)
    checkpoint_every: int = 20
    eval_before: bool = True
    eval_after: bool = True
    eval_meta_train: bool = True  # also evaluate on the meta_train pairs (costs a forward pass over them)
    eval_batch: int = 8
    reasoning_eval_pairs: int = 0  # > 0: also judge this many meta_eval pairs (both orders) in reasoning mode
    reasoning_eval_max_tokens: int = 128  # greedy; an answer cut off here counts as unparseable
    plot: bool = True


@dataclass
class Config:
    name: str = "default"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    reweight: ReweightConfig = field(default_factory=ReweightConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_CHOICES: dict[str, tuple[str, ...]] = {
    "data.domain_key": DOMAIN_KEYS,
    "data.prompt_version": PROMPT_VERSIONS,
    "model.dtype": DTYPES,
    "train.stage": STAGES,
    "train.sft_format": SFT_FORMATS,
    "train.device": DEVICES,
    "reweight.mode": MODES,
    "reweight.hypergrad": HYPERGRADS,
}
_LIST_CHOICES: dict[str, tuple[str, ...]] = {"data.sources": SOURCES, "model.target_modules": TARGET_MODULES}
_POSITIVE = {
    "data.mutants_per_problem", "data.truncations_per_problem", "data.max_pairs_per_domain", "data.max_prompt_tokens",
    "data.meta_max_prompt_tokens", "data.meta_pairs_per_problem",
    "data.synthetic_pairs_per_domain", "model.lora_r", "model.lora_alpha", "train.steps", "train.pairs_per_batch",
    "train.dpo_beta", "train.grpo_group_size", "train.grpo_max_new_tokens", "train.grpo_temperature",
    "train.lr", "train.threads", "reweight.instance_hidden", "reweight.domain_lr", "reweight.instance_lr",
    "reweight.lookahead_lr", "reweight.meta_pairs_per_step", "reweight.outer_every", "reweight.fd_eps",
    "output.checkpoint_every", "output.eval_batch", "output.reasoning_eval_max_tokens",
}  # fmt: skip
_NON_NEGATIVE = {
    "reweight.outer_start",
    "model.lora_last_layers",
    "model.lora_dropout",
    "train.weight_decay",
    "train.warmup_steps",
    "train.grad_clip",
    "output.reasoning_eval_pairs",
}
_FRACTIONS = {"data.meta_eval_fraction": (0.0, 1.0)}
_UNIT = {"data.no_evidence_share"}  # 0 <= x < 1


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    """Check a leaf value against its dataclass annotation (int accepted where float is expected)."""
    if str(annotation).startswith("list"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key}: expected a list of strings, got {value!r}")
        return list(value)
    expected = {"int": int, "float": float, "str": str, "bool": bool}[str(annotation)]
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is float and isinstance(value, str):  # YAML 1.1 reads "1e-3" (no dot) as a string
        try:
            return float(value)
        except ValueError as exc:
            raise ConfigError(f"{key}: expected float, got {value!r}") from exc
    if (expected is int and isinstance(value, bool)) or not isinstance(value, expected):
        raise ConfigError(f"{key}: expected {expected.__name__}, got {value!r}")
    return value


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {raw!r}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(f"unknown key {where}{unknown[0]!r}; allowed keys: {', '.join(known)}")
    kwargs = {}
    for name, value in raw.items():
        key = f"{prefix}.{name}" if prefix else name
        annotation = known[name].type
        sub = _SECTIONS.get(name) if not prefix else None
        kwargs[name] = _build(sub, value, key) if sub else _coerce(key, value, annotation)
    return cls(**kwargs)


_SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "reweight": ReweightConfig,
    "output": OutputConfig,
}


def _leaves(config: Config) -> dict[str, Any]:
    out: dict[str, Any] = {"name": config.name}
    for section in _SECTIONS:
        for key, value in asdict(getattr(config, section)).items():
            out[f"{section}.{key}"] = value
    return out


def validate(config: Config) -> Config:
    """Every value checked against its allowed set or range; raises on the first problem found."""
    leaves = _leaves(config)
    for key, allowed in _CHOICES.items():
        if leaves[key] not in allowed:
            raise ConfigError(f"{key}: {leaves[key]!r} is not allowed; allowed values: {', '.join(allowed)}")
    for key, allowed in _LIST_CHOICES.items():
        bad = [v for v in leaves[key] if v not in allowed]
        if bad or not leaves[key]:
            raise ConfigError(f"{key}: {bad or leaves[key]!r} is not allowed; allowed values: {', '.join(allowed)}")
    for key in _POSITIVE:
        if not leaves[key] > 0:
            raise ConfigError(f"{key}: must be > 0, got {leaves[key]!r}")
    for key in _NON_NEGATIVE:
        if leaves[key] < 0:
            raise ConfigError(f"{key}: must be >= 0, got {leaves[key]!r}")
    for key, (low, high) in _FRACTIONS.items():
        if not low < leaves[key] < high:
            raise ConfigError(f"{key}: must be strictly between {low} and {high}, got {leaves[key]!r}")
    for key in _UNIT:
        if not 0 <= leaves[key] < 1:
            raise ConfigError(f"{key}: must be >= 0 and < 1, got {leaves[key]!r}")
    if config.data.evidence != (config.data.prompt_version in EVIDENCE_VERSIONS):
        raise ConfigError(f"data.prompt_version: {config.data.prompt_version!r} with data.evidence="
                          f"{config.data.evidence}; evidence pairs need one of {', '.join(EVIDENCE_VERSIONS)}, "
                          f"code-only pairs {PROMPT_V1}")
    if config.data.evidence and (config.train.stage == "grpo" or config.train.sft_format == "reasoning"):
        raise ConfigError("data.evidence: evidence pairs train verdict judges (train.stage sft with sft_format "
                          "verdict, or dpo); reasoning prompts do not render evidence yet")
    if config.data.domain_key in ("stage", "source+stage") and not config.data.evidence:
        raise ConfigError(f"data.domain_key: {config.data.domain_key!r} needs data.evidence=true (stages come from "
                          "execution)")
    if config.reweight.mode == "bilevel" and not (config.reweight.domains or config.reweight.instance_net):
        raise ConfigError("reweight.domains / reweight.instance_net: bilevel mode needs at least one of them true")
    if config.train.stage == "grpo" and config.train.grpo_group_size < 2:
        raise ConfigError("train.grpo_group_size: GRPO needs at least 2 samples per prompt (advantages are relative)")
    if config.train.sft_format == "reasoning" and config.train.stage != "sft":
        raise ConfigError(f"train.sft_format: 'reasoning' is a format of the sft stage, not of "
                          f"{config.train.stage!r}; use train.stage=sft (grpo already trains reasoning judgments)")
    if config.model.init_adapter:
        problem = adapter_problem(Path(config.model.init_adapter))
        if problem:
            raise ConfigError(f"model.init_adapter: {config.model.init_adapter!r} is not a usable peft adapter "
                              f"folder: {problem}")
    if "synthetic" in config.data.sources and len(config.data.sources) > 1:
        raise ConfigError("data.sources: 'synthetic' (tests) cannot be mixed with real sources")
    return config


def from_dict(raw: dict[str, Any]) -> Config:
    return validate(_build(Config, raw, ""))


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {dotted!r}: {part!r} is not a section")
    node[leaf] = value


def load_config(path: Path, overrides: list[str] | None = None) -> Config:
    """YAML file plus ``section.key=value`` overrides (values parsed as YAML: 5, 1e-3, true, [a, b])."""
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected section.key=value")
        dotted, text = item.split("=", 1)
        _set_dotted(raw, dotted.strip(), yaml.safe_load(text))
    return from_dict(raw)


def replace(config: Config, **sections: dict[str, Any]) -> Config:
    """A validated copy with some section fields changed (tests and the uniform baseline use it)."""
    raw = config.to_dict()
    for section, values in sections.items():
        raw.setdefault(section, {}).update(values)
    return from_dict(raw)


__all__ = ["Config", "ConfigError", "from_dict", "load_config", "replace", "validate"]
