"""End to end on the tiny model: the saved adapter loads with peft as the service would load it, its
metadata carries TRAINED_PROMPT_VERSION, and an interrupted run resumes to the same adapter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from judge_training.config import Config, replace
from judge_training.data import TRAINED_PROMPT_VERSION
from judge_training.trainer import METADATA_FILE, PLOT_FILE, Trainer, train


def _lora_state(adapter: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(adapter / "adapter_model.safetensors"))


def test_train_saved_adapter_loads_with_peft_and_carries_metadata(tiny_cfg: Config, tiny_model_dir: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    cfg = replace(tiny_cfg, output={"plot": True, "export_dir": str(Path(tiny_cfg.output.dir).parent / "export")})
    metadata = train(cfg)
    adapter = Path(cfg.output.dir) / "adapter"
    export = Path(cfg.output.export_dir)
    for folder in (adapter, export):
        assert (folder / "adapter_config.json").is_file() and (folder / PLOT_FILE).stat().st_size > 1000
        saved = json.loads((folder / METADATA_FILE).read_text())
        assert saved["prompt_version"] == TRAINED_PROMPT_VERSION
        assert saved["base_model"] == "tiny-test" and saved["judge_mode"] == "verdict"
        card = (folder / "README.md").read_text()
        assert card.startswith("# daj judge adapter: tiny-test") and TRAINED_PROMPT_VERSION in card and "syn_c" in card
    assert set(metadata["final_domain_weights"]) == {"syn_a", "syn_b", "syn_c"}
    assert {"before", "after"} <= set(metadata["metrics"])
    assert metadata["data"]["train_sha256"] and metadata["config"]["train"]["steps"] == cfg.train.steps
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert set(config["target_modules"]) == {"q_proj", "v_proj"}

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    ids = torch.tensor([[5, 6, 7, 8]])
    plain = base(input_ids=ids).logits
    loaded = PeftModel.from_pretrained(base, str(adapter))
    assert not torch.allclose(loaded(input_ids=ids).logits, plain), "the adapter does not change the output"


def test_train_resume_reproduces_an_uninterrupted_run(
    tiny_cfg: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    quiet = {"eval_before": False, "eval_after": False, "checkpoint_every": 2}
    straight = replace(tiny_cfg, output={**quiet, "dir": str(tmp_path / "straight")})
    train(straight)

    broken = replace(tiny_cfg, output={**quiet, "dir": str(tmp_path / "broken")})
    original = Trainer.train_step

    def crash_at_step_3(self: Trainer, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.step == 3:
            raise KeyboardInterrupt("simulated interruption")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "train_step", crash_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        train(broken)
    assert (tmp_path / "broken/checkpoint.pt").is_file()
    calls = []

    def counting(self: Trainer, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(self.step)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "train_step", counting)
    train(broken, resume=True)
    assert calls == [2, 3], "the resumed run did not start at the checkpoint"

    a, b = _lora_state(tmp_path / "straight/adapter"), _lora_state(tmp_path / "broken/adapter")
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    steps = [json.loads(line)["step"] for line in (tmp_path / "broken/train.jsonl").read_text().splitlines()]
    assert steps == list(range(tiny_cfg.train.steps))
