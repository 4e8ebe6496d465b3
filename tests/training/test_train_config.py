"""Config validation: every problem is caught before work starts, and the message names key and choices.
The resume check (a checkpoint under another config) is in test_train_resume_config.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from judge_training.config import HYPERGRADS, Config, ConfigError, from_dict, load_config
from judge_training.data import DOMAIN_KEYS

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "name", ["default-cpu", "evidence-cpu", "reasoning-cpu", "gpu-qwen2.5-coder-1.5b", "tiny-test"]
)
def test_train_shipped_configs_load(name: str) -> None:
    cfg = load_config(REPO / f"configs/{name}.yaml")
    assert cfg.name == name


def test_train_unknown_key_names_key_and_allowed_keys() -> None:
    with pytest.raises(ConfigError) as err:
        from_dict({"train": {"stpes": 3}})
    message = str(err.value)
    assert "'stpes'" in message and "train." in message
    assert "steps" in message and "pairs_per_batch" in message


def test_train_unknown_section_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown key 'trian'"):
        from_dict({"trian": {}})


@pytest.mark.parametrize(
    ("raw", "key", "allowed"),
    [
        ({"reweight": {"mode": "meta"}}, "reweight.mode", "uniform, bilevel"),
        ({"reweight": {"hypergrad": "exact"}}, "reweight.hypergrad", "first_order, second_order"),
        ({"train": {"stage": "ppo"}}, "train.stage", "sft, dpo, grpo"),
        ({"data": {"sources": ["humaneval"]}}, "data.sources", "ldb_mbpp, ldb_mbpp_mutant, mbppplus_mutant"),
        ({"model": {"target_modules": ["q_proj", "up_proj"]}}, "model.target_modules", "q_proj, k_proj"),
        ({"data": {"domain_key": "model"}}, "data.domain_key", "source, difficulty, policy"),
    ],
)
def test_train_bad_choice_names_key_and_allowed_values(raw: dict, key: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as err:
        from_dict(raw)
    assert key in str(err.value) and allowed in str(err.value)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"train": {"steps": 0}}, "train.steps"),
        ({"train": {"lr": -1.0}}, "train.lr"),
        ({"data": {"meta_eval_fraction": 1.0}}, "data.meta_eval_fraction"),
        ({"train": {"steps": "ten"}}, "train.steps"),
        ({"train": {"steps": True}}, "train.steps"),
        ({"reweight": {"mode": "bilevel", "domains": False, "instance_net": False}}, "reweight.domains"),
    ],
)
def test_train_impossible_values_are_refused(raw: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        from_dict(raw)


def test_train_overrides_are_parsed_as_yaml_and_validated(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  steps: 3\n")
    cfg = load_config(path, ["train.lr=1e-3", "reweight.domains=false", "data.sources=[synthetic]"])
    assert (cfg.train.steps, cfg.train.lr, cfg.reweight.domains) == (3, 1e-3, False)
    with pytest.raises(ConfigError, match=r"reweight\.mode"):
        load_config(path, ["reweight.mode=sometimes"])


def test_train_cli_fails_on_bad_config_before_loading_anything(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from judge_training.cli import app

    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  stage: ppo\n")
    result = CliRunner().invoke(app, ["train", "--config", str(path)])
    assert result.exit_code == 2
    assert "train.stage" in result.output and "sft" in result.output


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"evidence": True}, "data.prompt_version: 'daj-pairwise-v1' with data.evidence=True"),
        ({"prompt_version": "daj-pairwise-v3"}, "evidence pairs need one of daj-pairwise-v2, daj-pairwise-v3"),
        ({"prompt_version": "daj-pairwise-v9"}, "data.prompt_version: 'daj-pairwise-v9' is not allowed"),
        ({"domain_key": "source+stage"}, "data.domain_key: 'source+stage' needs data.evidence=true"),
        (
            {"evidence": True, "prompt_version": "daj-pairwise-v2", "no_evidence_share": 1.0},
            "data.no_evidence_share: must be >= 0 and < 1",
        ),
    ],
)
def test_train_evidence_settings_are_checked(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        from_dict({"data": data})


def test_train_evidence_needs_a_verdict_judge() -> None:
    with pytest.raises(ConfigError, match=r"data\.evidence: evidence pairs train verdict judges"):
        from_dict({"data": {"evidence": True, "prompt_version": "daj-pairwise-v3"}, "train": {"stage": "grpo"}})


def test_train_every_problem_is_one_line_naming_its_key() -> None:
    with pytest.raises(ConfigError) as err:
        from_dict({"train": {"stage": "ppo", "lr": -1, "steps": "ten"}, "data": {"sources": []}})
    assert sorted(str(err.value).splitlines()) == [
        "data.sources: needs at least 1 item(s), got []",
        "train.lr: must be > 0, got -1",
        "train.stage: 'ppo' is not allowed; allowed values: sft, dpo, grpo",
        "train.steps: expected an integer, got 'ten'",
    ]


def test_train_every_key_has_a_description() -> None:
    sections = [Config, *(info.annotation for info in Config.model_fields.values() if info.annotation is not str)]
    for model in sections:
        missing = [name for name, info in model.model_fields.items() if not info.description]
        assert not missing, f"{model.__name__} fields without a description: {missing}"


def test_train_choices_come_from_their_one_definition() -> None:
    from judge_training.sources import SOURCE_NAMES

    refusal = f"reweight.hypergrad: 'third_order' is not allowed; allowed values: {', '.join(HYPERGRADS)}"
    with pytest.raises(ConfigError, match=re.escape(refusal)):
        from_dict({"reweight": {"hypergrad": "third_order"}})
    with pytest.raises(ConfigError, match=re.escape(f"allowed values: {', '.join(SOURCE_NAMES)}")):
        from_dict({"data": {"sources": ["nowhere"]}})
    with pytest.raises(ConfigError, match=re.escape(f"allowed values: {', '.join(DOMAIN_KEYS)}")):
        from_dict({"data": {"domain_key": "nowhere"}})
