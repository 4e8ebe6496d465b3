"""A tiny random-init Llama + a byte-level BPE trained locally: a real model vLLM loads in seconds.

Built once per recipe and cached on disk (keyed by the hash of the recipe), so a test session pays the
~5 s build only the first time. `initializer_range=0.1`: with the default 0.02 the tied embeddings are so
small that a LoRA cannot move the output.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sysconfig
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from daj.paths import default_cache_dir

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
_CORPUS_MODULES = ["functools.py", "collections/__init__.py", "json/decoder.py", "textwrap.py", "string.py"]


@dataclass(frozen=True)
class TinyModelRecipe:
    vocab_size: int = 2048
    hidden_size: int = 128
    intermediate_size: int = 256
    num_layers: int = 2
    num_heads: int = 2
    num_kv_heads: int = 1
    max_positions: int = 8192
    initializer_range: float = 0.1
    seed: int = 0

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def _training_corpus() -> list[str]:
    """Python source from the standard library: offline, and close to what the judge reads."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    texts = [(stdlib / name).read_text(encoding="utf-8") for name in _CORPUS_MODULES]
    texts.append("Which candidate is correct? Answer with a single letter: A or B. Verdict: A Verdict: B")
    return texts


def _train_tokenizer(recipe: TinyModelRecipe, out: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=recipe.vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(_training_corpus(), trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        unk_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )
    wrapped.chat_template = CHATML_TEMPLATE
    wrapped.save_pretrained(out)


def _build_model(recipe: TinyModelRecipe, out: Path) -> None:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(out)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=recipe.hidden_size,
        intermediate_size=recipe.intermediate_size,
        num_hidden_layers=recipe.num_layers,
        num_attention_heads=recipe.num_heads,
        num_key_value_heads=recipe.num_kv_heads,
        max_position_embeddings=recipe.max_positions,
        initializer_range=recipe.initializer_range,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(recipe.seed)
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(out)


def build_tiny_model(cache_dir: Path | None = None, recipe: TinyModelRecipe | None = None) -> Path:
    """Folder of a tiny model (config, bf16 weights, tokenizer with a ChatML template); cached."""
    recipe = recipe or TinyModelRecipe()
    root = (cache_dir or default_cache_dir()) / "test-models"
    target = root / f"tiny-llama-{recipe.key()}"
    if (target / "recipe.json").is_file():
        return target
    staging = root / f".staging-{recipe.key()}-{time.time_ns()}"
    try:
        staging.mkdir(parents=True)
        _train_tokenizer(recipe, staging)
        _build_model(recipe, staging)
        (staging / "recipe.json").write_text(json.dumps(asdict(recipe), indent=2))
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def build_tiny_lora(base_dir: Path, name: str = "tiny-lora", seed: int = 1, rank: int = 8, std: float = 0.5) -> Path:
    """A peft LoRA adapter for a tiny model with random (non-zero) weights, so it really changes outputs.

    The default std makes the update dwarf the base weights (a strong, easily seen effect); a smaller std gives
    a better-conditioned adapter whose outputs survive bf16 rounding (comparisons of two serving paths).

    Saved under `<base_dir>/../adapters-<base>/<name>`; cached like the model.
    """
    suffix = "" if std == 0.5 else f"-std{std:g}"
    target = base_dir.parent / f"adapters-{base_dir.name}" / f"{name}-s{seed}-r{rank}{suffix}"
    if (target / "adapter_config.json").is_file():
        return target
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["q_proj", "v_proj"], lora_dropout=0.0)
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for param_name, param in peft_model.named_parameters():
            if "lora_" in param_name:
                param.normal_(0.0, std)
    staging = target.with_name(target.name + f".tmp-{time.time_ns()}")
    peft_model.save_pretrained(staging)
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    return target
