"""Training configuration: pydantic models loaded from YAML, validated completely before any work starts.

An unknown key or an impossible value raises ``ConfigError`` naming the dotted key and what is allowed, so
a typo in a 20-minute run's config fails in the first second instead of being silently ignored. Every field
carries a description: the models are the reference for the config keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import yaml
from annotated_types import Ge, Gt, Le, Lt
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError

from daj.lora import adapter_problem
from daj.protocol import EVIDENCE_VERSIONS, PROMPT_V1, PROMPT_VERSIONS
from judge_training.data import DOMAIN_KEYS
from judge_training.sources import SOURCE_NAMES

# How the outer step gets the meta-gradient (judge_training/reweighting.py): defined here, the one place, so
# that reading a config does not import torch.
Hypergrad = Literal["first_order", "second_order"]
HYPERGRADS: tuple[str, ...] = get_args(Hypergrad)


class ConfigError(ValueError):
    """A config problem; the message names the key and the allowed values."""


def _yaml_float(value: Any) -> Any:
    """YAML 1.1 reads ``1e-3`` (no dot) as a string; a float field takes it as the number it means."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value  # left for the float check to refuse with the key's name
    return value


YamlFloat = Annotated[float, BeforeValidator(_yaml_float)]
TargetModule = Literal["q_proj", "k_proj", "v_proj", "o_proj"]


def _query_and_value() -> list[TargetModule]:
    return ["q_proj", "v_proj"]


def _not_allowed(value: Any, allowed: tuple[str, ...]) -> PydanticCustomError:
    context = {"value": repr(value), "allowed": ", ".join(allowed)}
    return PydanticCustomError("not_allowed", "{value} is not allowed; allowed values: {allowed}", context)


class _Section(BaseModel):
    # strict: a bool or "10" is not silently an int; the YAML values are already typed
    model_config = ConfigDict(extra="forbid", strict=True)


class DataConfig(_Section):
    """Where the pairs come from, how they are tagged into domains, and how the meta set is drawn."""

    data_dir: str = Field("../shared/data", description="Folder of the raw data sets (LDB, MBPP+, BigCodeBench).")
    pools_dir: str = Field("data/pools", description="Folder of the sandbox-labelled candidate pools.")
    meta_pool: str = Field(
        "data/pools/humaneval_codegen16b_meta.jsonl.gz", description="Pools of the HumanEval meta split (meta set)."
    )
    sources: list[str] = Field(
        default_factory=lambda: ["ldb_mbpp", "mbppplus_mutant"], min_length=1,
        description="Training pair sources; 'synthetic' (tests) cannot be mixed with real ones.",
    )  # fmt: skip
    domain_key: str = Field("source+difficulty", description="Pair tag the domain weights are learned over.")
    mutants_per_problem: int = Field(2, gt=0, description="AST mutants drawn per passing program.")
    truncations_per_problem: int = Field(2, gt=0, description="Prefixes and run-ons drawn per canonical solution.")
    max_pairs_per_domain: int = Field(400, gt=0, description="Cap of training pairs per domain.")
    max_prompt_tokens: int = Field(768, gt=0, description="Training pairs whose longer order exceeds this drop.")
    meta_max_prompt_tokens: int = Field(768, gt=0, description="Meta pairs whose longer order exceeds this drop.")
    meta_pairs_per_problem: int = Field(4, gt=0, description="Distinct (pass, fail) meta pairs per problem.")
    meta_eval_fraction: YamlFloat = Field(
        0.5, gt=0, lt=1, description="Share of meta problems in the tuning half (meta_eval): never steers weights."
    )
    meta_pools: list[str] = Field(
        default_factory=list, description="More pools of meta problems (other policy models)."
    )
    evidence: bool = Field(
        False, description="Run every pair on the service's probe set and render the disagreements "
        "(judge_training/evidence.py); the meta set becomes the pairs the service's judge meets.",
    )  # fmt: skip
    prompt_version: str = Field(
        PROMPT_V1, description="What every pair is rendered with and the adapter names (v2/v3 need evidence)."
    )
    no_evidence_share: YamlFloat = Field(
        0.2, ge=0, lt=1, description="Evidence runs only: this share of training pairs stays code-only."
    )
    run_store: str = Field(
        "runs/.evidence-runs.jsonl", description="Evidence runs only: program runs kept across builds ('' = none)."
    )
    synthetic_domains: list[str] = Field(
        default_factory=lambda: ["syn_a", "syn_b", "syn_c"], description="Domains of the synthetic test task."
    )
    synthetic_flipped: list[str] = Field(
        default_factory=list, description="Synthetic domains whose labels are flipped (the shift tests detect)."
    )
    synthetic_pairs_per_domain: int = Field(32, gt=0, description="Synthetic pairs per domain.")
    seed: int = Field(0, description="Seed of every draw while building the data.")

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, sources: list[str]) -> list[str]:
        # the registry owns the names: a new source module is accepted here without touching the config
        bad = [name for name in sources if name not in SOURCE_NAMES]
        if bad:
            raise _not_allowed(bad, SOURCE_NAMES)
        return sources

    @field_validator("domain_key", "prompt_version")
    @classmethod
    def _known_choice(cls, value: str, info: ValidationInfo) -> str:
        # these sets are owned by data.py and daj.protocol; a Literal here would be a second copy
        allowed = DOMAIN_KEYS if info.field_name == "domain_key" else PROMPT_VERSIONS
        if value not in allowed:
            raise _not_allowed(value, allowed)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DataConfig:
        if self.evidence != (self.prompt_version in EVIDENCE_VERSIONS):
            raise ValueError(
                f"data.prompt_version: {self.prompt_version!r} with data.evidence={self.evidence}; "
                f"evidence pairs need one of {', '.join(EVIDENCE_VERSIONS)}, code-only pairs {PROMPT_V1}"
            )
        if self.domain_key in ("stage", "source+stage") and not self.evidence:
            raise ValueError(
                f"data.domain_key: {self.domain_key!r} needs data.evidence=true (stages come from execution)"
            )
        if "synthetic" in self.sources and len(self.sources) > 1:
            raise ValueError("data.sources: 'synthetic' (tests) cannot be mixed with real sources")
        return self


class ModelConfig(_Section):
    """The backbone and the LoRA put on it."""

    base: str = Field(
        "smollm2-135m-instruct", description="Alias, local folder, or 'tiny-test' (random tiny Llama, tests only)."
    )
    dtype: Literal["float32", "bfloat16"] = Field("float32", description="Weights dtype of the backbone.")
    lora_r: int = Field(8, gt=0, description="LoRA rank.")
    lora_alpha: int = Field(16, gt=0, description="LoRA scaling numerator (scale = alpha / r).")
    lora_dropout: YamlFloat = Field(0.0, ge=0, lt=1, description="Dropout on the LoRA input.")
    target_modules: list[TargetModule] = Field(
        default_factory=_query_and_value, min_length=1, description="Attention projections with LoRA."
    )
    lora_last_layers: int = Field(
        0, ge=0, description="0 = LoRA in every layer; N = only the last N (backward stops there: faster on CPU)."
    )
    init_adapter: str = Field(
        "", description="Start from this peft adapter (e.g. the SFT warm-up) instead of a fresh LoRA."
    )

    @model_validator(mode="after")
    def _usable_adapter(self) -> ModelConfig:
        problem = adapter_problem(Path(self.init_adapter)) if self.init_adapter else None
        if problem:
            raise ValueError(
                f"model.init_adapter: {self.init_adapter!r} is not a usable peft adapter folder: {problem}"
            )
        return self


class TrainConfig(_Section):
    """The inner loop: stage, schedule and hardware."""

    stage: Literal["sft", "dpo", "grpo"] = Field(
        "sft", description="sft (verdict BCE) | dpo (correct vs wrong judgment) | grpo (sampled reasoning, reward)."
    )
    sft_format: Literal["verdict", "reasoning"] = Field(
        "verdict", description="sft only: verdict (the A/B token) | reasoning (written rationale + verdict line)."
    )
    dpo_beta: YamlFloat = Field(0.1, gt=0, description="DPO temperature on the A/B margin against the reference.")
    grpo_group_size: int = Field(
        4, gt=0, description="Sampled judgments per prompt (one prompt per pair, in a random order)."
    )
    grpo_max_new_tokens: int = Field(128, gt=0, description="A judgment cut off here is unparseable: reward 0.")
    grpo_temperature: YamlFloat = Field(1.0, gt=0, description="Sampling temperature of the GRPO rollouts.")
    steps: int = Field(60, gt=0, description="Inner (LoRA) steps; may change on --resume to extend or cut a run.")
    pairs_per_batch: int = Field(2, gt=0, description="Each pair is shown in both orders: 2 pairs = 4 sequences.")
    lr: YamlFloat = Field(5e-4, gt=0, description="Peak AdamW learning rate of the LoRA.")
    weight_decay: YamlFloat = Field(0.0, ge=0, description="AdamW weight decay of the LoRA.")
    warmup_steps: int = Field(5, ge=0, description="Linear warm-up; then linear decay to 0.1x at the last step.")
    grad_clip: YamlFloat = Field(1.0, ge=0, description="Gradient-norm clip of the inner step (0 = none).")
    threads: int = Field(2, gt=0, description="torch CPU threads.")
    device: Literal["cpu", "cuda"] = Field("cpu", description="Where the model and the batches live.")
    seed: int = Field(0, description="Seed of the weights' init, the batch order and the rollouts.")

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        if self.stage == "grpo" and self.grpo_group_size < 2:
            raise ValueError(
                "train.grpo_group_size: GRPO needs at least 2 samples per prompt (advantages are relative)"
            )
        if self.sft_format == "reasoning" and self.stage != "sft":
            raise ValueError(
                f"train.sft_format: 'reasoning' is a format of the sft stage, not of {self.stage!r}; "
                "use train.stage=sft (grpo already trains reasoning judgments)"
            )
        return self


class ReweightConfig(_Section):
    """The outer loop: how sample weights are learned (judge_training/reweighting.py)."""

    mode: Literal["uniform", "bilevel"] = Field(
        "bilevel", description="uniform: every weight 1 (the baseline) | bilevel: weights learned on the meta set."
    )
    hypergrad: Hypergrad = Field(
        "first_order", description="first_order (finite-difference alignment) | second_order (exact lookahead)."
    )
    domains: bool = Field(True, description="Learn one weight per domain.")
    instance_net: bool = Field(True, description="Learn the Meta-Weight-Net (per-sample loss -> weight).")
    instance_hidden: int = Field(16, gt=0, description="Hidden width of the instance net.")
    domain_lr: YamlFloat = Field(0.1, gt=0, description="Adam learning rate of the domain logits.")
    instance_lr: YamlFloat = Field(1e-3, gt=0, description="Adam learning rate of the instance net.")
    lookahead_lr: YamlFloat = Field(5e-4, gt=0, description="Step size of the virtual (lookahead) LoRA step.")
    meta_pairs_per_step: int = Field(2, gt=0, description="Meta pairs per outer step.")
    outer_every: int = Field(
        1, gt=0, description="Outer (hypergradient) step every k inner steps; between them the weights are held."
    )
    outer_start: int = Field(
        0, ge=0, description="First step with an outer update: before it the LoRA is near init, the meta signal noise."
    )
    fd_eps: YamlFloat = Field(1e-3, gt=0, description="first_order: finite-difference step along the meta gradient.")

    @model_validator(mode="after")
    def _something_to_learn(self) -> ReweightConfig:
        if self.mode == "bilevel" and not (self.domains or self.instance_net):
            raise ValueError("reweight.domains / reweight.instance_net: bilevel mode needs at least one of them true")
        return self


class OutputConfig(_Section):
    """Where the run writes, and what it evaluates and exports at the end; none of it changes the weights."""

    dir: str = Field("runs/default", description="Logs, checkpoint, adapter/ (scratch, gitignored).")
    export_dir: str = Field(
        "", description="If set, the final adapter + metadata + plot are also written here (e.g. adapters/default)."
    )
    checkpoint_every: int = Field(20, gt=0, description="Steps between resumable checkpoints.")
    eval_before: bool = Field(True, description="Evaluate the base model on the meta set before training.")
    eval_after: bool = Field(True, description="Evaluate the trained adapter on the meta set.")
    eval_meta_train: bool = Field(
        True, description="Also evaluate on the meta_train pairs (costs a forward pass over them)."
    )
    eval_batch: int = Field(8, gt=0, description="Sequences per evaluation forward pass.")
    reasoning_eval_pairs: int = Field(
        0, ge=0, description="> 0: also judge this many meta_eval pairs (both orders) in reasoning mode."
    )
    reasoning_eval_max_tokens: int = Field(
        128, gt=0, description="Greedy; a reasoning answer cut off here counts as unparseable."
    )
    plot: bool = Field(True, description="Write domain_weights.png into the adapter folder.")


class Config(_Section):
    """One training run, resolved: what the checkpoint and the adapter's metadata carry."""

    name: str = Field("default", description="Run name (progress bar, adapter card title).")
    data: DataConfig = Field(default_factory=DataConfig, description="Training and meta pairs.")
    model: ModelConfig = Field(default_factory=ModelConfig, description="Backbone and LoRA.")
    train: TrainConfig = Field(default_factory=TrainConfig, description="The inner loop.")
    reweight: ReweightConfig = Field(default_factory=ReweightConfig, description="The outer loop.")
    output: OutputConfig = Field(default_factory=OutputConfig, description="Outputs and evaluation.")

    @model_validator(mode="after")
    def _evidence_is_verdict_only(self) -> Config:
        if self.data.evidence and (self.train.stage == "grpo" or self.train.sft_format == "reasoning"):
            raise ValueError(
                "data.evidence: evidence pairs train verdict judges (train.stage sft with sft_format "
                "verdict, or dpo); reasoning prompts do not render evidence yet"
            )
        return self


# ------------------------------------------------------------ pydantic errors -> ConfigError messages

_EXPECTED = {"int": "an integer", "float": "a number", "bool": "true or false", "string": "a string",
             "list": "a list", "model": "a mapping", "dict": "a mapping"}  # fmt: skip
_BOUND_SIGN = {Gt: ">", Ge: ">=", Lt: "<", Le: "<="}


def _walk(parts: list[str]) -> tuple[type[BaseModel], FieldInfo | None]:
    """The model holding the last of ``parts`` and that field's info (None where the key is unknown)."""
    model: type[BaseModel] = Config
    info: FieldInfo | None = None
    for index, part in enumerate(parts):
        info = model.model_fields.get(part)
        if info is None or index == len(parts) - 1:
            break
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            model = info.annotation
    return model, info


def _literal_values(annotation: Any) -> tuple[Any, ...]:
    """The choices of ``Literal[...]``, also inside ``list[Literal[...]]``."""
    if get_origin(annotation) is Literal:
        return get_args(annotation)
    return tuple(value for arg in get_args(annotation) for value in _literal_values(arg))


def _bounds(info: FieldInfo) -> str:
    """Every bound of the field (``> 0 and < 1``), not only the one the value broke."""
    bounds = [item for item in info.metadata if type(item) in _BOUND_SIGN]
    return " and ".join(f"{_BOUND_SIGN[type(b)]} {getattr(b, type(b).__name__.lower())}" for b in bounds)


def _problem(error: ErrorDetails) -> str:
    """One pydantic error as ``section.key: what is wrong; what is allowed``."""
    if error["type"] == "value_error":  # our own cross-field checks, which already name their keys
        return str(error.get("ctx", {}).get("error", error["msg"]))
    parts = [part for part in error["loc"] if isinstance(part, str)]  # list indices are not keys
    key = ".".join(parts) or "config"
    model, info = _walk(parts)
    kind, value = error["type"], error["input"]
    if kind == "extra_forbidden":
        return f"{key}: unknown key {parts[-1]!r}; allowed keys: {', '.join(model.model_fields)}"
    if kind == "literal_error" and info is not None:
        allowed = ", ".join(str(choice) for choice in _literal_values(info.annotation))
        return f"{key}: {value!r} is not allowed; allowed values: {allowed}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal") and info is not None:
        return f"{key}: must be {_bounds(info)}, got {value!r}"
    if kind == "too_short":
        return f"{key}: needs at least {error.get('ctx', {}).get('min_length', 1)} item(s), got {value!r}"
    expected = _EXPECTED.get(kind.rsplit("_", 1)[0])
    if expected and kind.endswith(("_type", "_parsing")):
        return f"{key}: expected {expected}, got {value!r}"
    return f"{key}: {error['msg']}"


def from_dict(raw: Any) -> Config:
    """A validated Config; every problem found is one line of the ``ConfigError``."""
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError("\n".join(_problem(error) for error in exc.errors())) from None


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
    raw = config.model_dump()
    for section, values in sections.items():
        raw.setdefault(section, {}).update(values)
    return from_dict(raw)


# ------------------------------------------------------------ resume

# Keys a resumed run may change: none of them alters the batches or the updates already made. train.steps
# extends or cuts a run short (docs/training.md resumes a run with --set train.steps=300 to export it early);
# the rest only name the run, set the thread count, or say where outputs go and what is evaluated at the end.
RESUMABLE_KEYS = frozenset({"name", "train.steps", "train.threads"})
RESUMABLE_SECTIONS = ("output.",)


def _resumable(key: str) -> bool:
    return key in RESUMABLE_KEYS or key.startswith(RESUMABLE_SECTIONS)


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        out.update(_flat(value, f"{dotted}.") if isinstance(value, dict) else {dotted: value})
    return out


class _Absent:
    """A key one side does not have (a checkpoint from a version with other config keys)."""

    def __repr__(self) -> str:
        return "(absent)"


def resume_changes(saved: dict[str, Any], config: Config) -> list[str]:
    """``key: checkpoint value -> current value`` for every key that differs and may not change on resume."""
    old, new = _flat(saved), _flat(config.model_dump())
    absent = _Absent()
    return [
        f"{key}: {old.get(key, absent)!r} -> {new.get(key, absent)!r}"
        for key in sorted(old.keys() | new.keys())
        if not _resumable(key) and old.get(key, absent) != new.get(key, absent)
    ]


def check_resume(saved: dict[str, Any], config: Config, checkpoint: Path) -> None:
    """Refuse to continue a checkpoint under another config: a changed pairs_per_batch, seed or source list
    would silently desync the batches from the steps already taken."""
    changes = resume_changes(saved, config)
    if changes:
        listed = "\n".join(f"  {change}" for change in changes)
        raise ConfigError(
            f"{checkpoint} was written with a different config (checkpoint -> now):\n{listed}\n"
            "resume with the checkpoint's values, or start afresh without --resume"
        )


__all__ = [
    "Config", "ConfigError", "DataConfig", "ModelConfig", "OutputConfig", "ReweightConfig", "TrainConfig",
    "check_resume", "from_dict", "load_config", "replace", "resume_changes",
]  # fmt: skip
