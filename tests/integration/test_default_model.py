"""The real default backbone, SmolLM2-135M-Instruct, converted offline from the wheel's GGUF."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daj.models import DEFAULT_MODEL, prepare_embedded_model, resolve_model
from daj.protocol import encode_prompt, render_prompt


def test_conversion_is_cached_and_complete(default_model_dir: Path) -> None:
    assert prepare_embedded_model() == default_model_dir  # second call: the cached folder
    assert resolve_model(DEFAULT_MODEL) == str(default_model_dir)
    config = json.loads((default_model_dir / "config.json").read_text())
    assert config["model_type"] == "llama" and config["vocab_size"] == 49152
    assert "quantization_config" not in config
    assert (default_model_dir / "model.safetensors").stat().st_size > 200_000_000


def test_the_judge_prompt_renders_with_its_chat_template(default_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(default_model_dir)
    prompt = render_prompt(tokenizer, "def f():\n    pass", "def f(): return 1", "def f(): return 2")
    assert prompt.startswith("<|im_start|>system\nYou are a strict code reviewer")
    assert prompt.endswith("<|im_start|>assistant\n")
    for letter in ("A", "B"):
        assert len(tokenizer(letter, add_special_tokens=False)["input_ids"]) == 1
    assert len(encode_prompt(tokenizer, prompt)) < 400


def test_the_converted_weights_are_a_working_language_model(default_model_dir: Path) -> None:
    torch = pytest.importorskip("torch")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(default_model_dir)
    model = AutoModelForCausalLM.from_pretrained(default_model_dir, dtype=torch.float32)
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=12, do_sample=False)
    answer = tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
    assert "Paris" in answer  # a dequantisation bug would produce noise, not the right answer
