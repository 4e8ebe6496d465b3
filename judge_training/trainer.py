"""The training loop: SFT, DPO or GRPO of the judge, with uniform or bi-level-learned sample weights.

Stages (``train.stage``), each usable alone or chained through ``model.init_adapter``:
- ``sft``: the warm-up. ``train.sft_format=verdict``: binary cross-entropy on the A/B logits at the answer
  position; ``reasoning`` (judge_training.rationales): the NLL of a written rationale + ``Verdict:`` line.
- ``dpo``: DPO on correct vs wrong judgments against a frozen reference, the LoRA as it was at step 0
  (the base model, or the SFT adapter named by ``model.init_adapter``).
- ``grpo`` (judge_training.grpo): sampled reasoning judgments rewarded by the verifiable label.

Both modes draw the same batches in the same order for the same seed and run the same number of inner
steps, so "uniform" is the baseline with the reweighted run's budget in steps and data.
Outputs under ``output.dir``: ``train.jsonl`` (loss per step), ``weights.jsonl`` (domain and sample weights
per step), ``checkpoint.pt`` (resumable every ``checkpoint_every`` steps; it carries the resolved config, and a
resume under a different one is refused), ``adapter/`` (peft folder the service loads as is, with
``daj_adapter.json`` and ``domain_weights.png``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import resource
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from daj.jsonl import read_jsonl
from daj.lora import ADAPTER_METADATA
from daj.protocol import choice_token_ids
from judge_training.builder import TrainData, build_data, load_backbone
from judge_training.completions import CompletionLogprob
from judge_training.config import Config, check_resume
from judge_training.data import EncodedPair, batches
from judge_training.grpo import RolloutBatch, grpo_loss_at, reasoning_prompts, sample_rollouts
from judge_training.losses import (
    VerdictBatch,
    VerdictModel,
    collate,
    dpo_loss,
    per_sample_loss,
    prob_a,
    weighted_mean,
)
from judge_training.rationales import ReasoningBatch, evaluate_reasoning, reasoning_batch, reasoning_loss_at
from judge_training.reweighting import (
    Reweighter,
    TrainLossAt,
    batch_args,
    forward_at,
    lora_parameters,
    verdict_loss_at,
)

logger = logging.getLogger(__name__)

METADATA_FILE = ADAPTER_METADATA
PLOT_FILE = "domain_weights.png"


def pairs_to_batch(pairs: list[EncodedPair], pad_id: int, device: str = "cpu") -> VerdictBatch:
    """Both orders of every pair in one batch: labels are balanced, so position bias earns nothing."""
    seqs, labels, domains = [], [], []
    for pair in pairs:
        for ids, label in zip(pair.ids, pair.labels, strict=True):
            seqs.append(ids)
            labels.append(label)
            domains.append(pair.domain)
    return collate(seqs, labels, domains, pad_id).to(device)


@torch.no_grad()
def evaluate(model: VerdictModel, pairs: list[EncodedPair], pad_id: int, batch_pairs: int = 4) -> dict[str, float]:
    """Meta-set loss and pairwise accuracy: ``accuracy`` over both orders (averaged), ``consistent_accuracy``
    when both orders of a pair are right."""
    was_training = model.training
    model.eval()
    losses, correct, domains = [], [], []
    for start in tqdm(range(0, len(pairs), batch_pairs), desc="eval", leave=False):
        batch = pairs_to_batch(pairs[start : start + batch_pairs], pad_id, str(next(model.parameters()).device))
        logits = model(batch.input_ids, batch.attention_mask, batch.last)
        losses.extend(per_sample_loss(logits, batch.labels).tolist())
        p_a = prob_a(logits)
        correct.extend(((p_a > 0.5) == (batch.labels == 0)).tolist())
        domains.extend(batch.domains.tolist())
    model.train(was_training)
    n = len(correct)
    both = [correct[i] and correct[i + 1] for i in range(0, n, 2)]
    by_domain = {
        str(domain): sum(c for c, d in zip(correct, domains, strict=True) if d == domain) / domains.count(domain)
        for domain in sorted(set(domains))
    }
    return {
        "loss": sum(losses) / n,
        "accuracy": sum(correct) / n,
        "consistent_accuracy": sum(both) / len(both),
        "n_pairs": len(both),
        "accuracy_by_domain": by_domain,  # domain index (as text) -> accuracy per order
    }


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _schedule(cfg: Config) -> Any:
    warmup, total = cfg.train.warmup_steps, cfg.train.steps

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.1, 1.0 - (step - warmup) / max(1, total - warmup))

    return factor


@dataclass
class StepLog:
    step: int
    loss: float
    weighted_loss: float
    meta_loss: float | None
    lr: float
    seconds: float
    reward: float | None = None  # GRPO: mean reward of the step's sampled judgments
    parsed: float | None = None  # GRPO: share of sampled judgments that ended in a parseable verdict line


class Trainer:
    """One run: owns the model, optimisers, reweighter, logs and checkpoints."""

    def __init__(self, cfg: Config, peft_model: Any, tokenizer: Any, data: TrainData, base_path: str) -> None:
        self.cfg = cfg
        self.peft_model = peft_model
        self.tokenizer = tokenizer
        self.data = data
        self.base_path = base_path
        self.out = Path(cfg.output.dir)
        self.pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id)
        self.model = VerdictModel(peft_model.get_base_model(), choice_token_ids(tokenizer)).to(cfg.train.device)
        self.lora = lora_parameters(self.model)
        # DPO's reference policy: the LoRA tensors at step 0 (zero update = base model, or the SFT warm-up)
        self.ref_lora = {k: v.detach().clone() for k, v in self.lora.items()} if cfg.train.stage == "dpo" else None
        self.scorer = CompletionLogprob(self.model.lm)  # GRPO: same LM, same LoRA tensor names
        self.optimizer = torch.optim.AdamW(self.lora.values(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _schedule(cfg))
        rw = cfg.reweight
        self.reweighter: Reweighter | None = None
        if rw.mode == "bilevel":
            self.reweighter = Reweighter(
                len(data.domains), rw.domains, rw.instance_net, rw.instance_hidden, rw.domain_lr, rw.instance_lr,
                cfg.train.seed,
            ).to(cfg.train.device)  # fmt: skip
        self.step = 0
        self.metrics: dict[str, Any] = {}
        self.seconds: list[float] = []

    # ------------------------------------------------------------ checkpoints

    def save_checkpoint(self) -> None:
        state = {
            "step": self.step,
            "config": self.cfg.model_dump(),  # a resume under another config is refused (config.check_resume)
            "lora": {k: v.detach().clone() for k, v in self.lora.items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "ref_lora": self.ref_lora,
            "reweighter": self.reweighter.state_dict() if self.reweighter else None,
            "outer_optimizer": self.reweighter.optimizer.state_dict() if self.reweighter else None,
            "metrics": self.metrics,
            "seconds": self.seconds,
            "torch_rng": torch.get_rng_state(),
        }
        tmp = self.out / "checkpoint.pt.tmp"
        torch.save(state, tmp)
        tmp.replace(self.out / "checkpoint.pt")

    def load_checkpoint(self) -> bool:
        path = self.out / "checkpoint.pt"
        if not path.is_file():
            return False
        state = torch.load(path, weights_only=False)
        refuse_changed_config(state, self.cfg, path)
        with torch.no_grad():
            for name, value in state["lora"].items():
                self.lora[name].copy_(value)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.ref_lora = state.get("ref_lora", self.ref_lora)
        if self.reweighter is not None:
            self.reweighter.load_state_dict(state["reweighter"])
            self.reweighter.optimizer.load_state_dict(state["outer_optimizer"])
        torch.set_rng_state(state["torch_rng"])
        self.step, self.metrics, self.seconds = state["step"], state["metrics"], state["seconds"]
        for name in ("train.jsonl", "weights.jsonl"):  # drop steps logged after the checkpoint was written
            log = self.out / name
            if log.is_file():
                kept = [line for line in log.read_text().splitlines() if json.loads(line)["step"] < self.step]
                log.write_text("".join(line + "\n" for line in kept))
        logger.info("resumed from %s at step %d", path, self.step)
        return True

    # ------------------------------------------------------------ steps

    def stage_loss(self, batch: VerdictBatch) -> TrainLossAt:
        """Per-sample losses of this stage for ``batch`` as a function of the LoRA tensors."""
        if self.cfg.train.stage == "sft":
            return verdict_loss_at(self.model, batch)
        assert self.ref_lora is not None
        with torch.no_grad():
            ref_logits = forward_at(self.model, self.ref_lora, batch_args(batch))
        beta = self.cfg.train.dpo_beta

        def loss_at(params: dict[str, torch.Tensor] | None) -> torch.Tensor:
            return dpo_loss(forward_at(self.model, params, batch_args(batch)), ref_logits, batch.labels, beta)

        return loss_at

    def rollout_loss(self, pairs: list[EncodedPair]) -> tuple[RolloutBatch, TrainLossAt]:
        """GRPO: sample judgments for this step's pairs (order drawn per pair, seeded by step) and score them."""
        t = self.cfg.train
        prompts = reasoning_prompts(self.tokenizer, pairs, random.Random(t.seed * 100003 + self.step))
        batch = sample_rollouts(
            self.peft_model, self.tokenizer, prompts, t.grpo_group_size, t.grpo_max_new_tokens, t.grpo_temperature,
            self.pad_id,
        )  # fmt: skip
        return batch, grpo_loss_at(self.scorer, batch)

    def train_step(self, pairs: list[EncodedPair], meta_pairs: list[EncodedPair] | None) -> StepLog:
        """Outer step first (if bilevel), then the inner LoRA step with the updated weights."""
        started = time.perf_counter()
        rollouts: RolloutBatch | None = None
        batch: VerdictBatch | RolloutBatch | ReasoningBatch
        if self.cfg.train.stage == "grpo":
            rollouts, loss_at = self.rollout_loss(pairs)
            batch = rollouts
        elif self.cfg.train.sft_format == "reasoning":  # written rationale + verdict line, teacher-forced
            batch = reasoning_batch(self.tokenizer, pairs, self.pad_id, self.cfg.train.device)
            loss_at = reasoning_loss_at(self.scorer, batch)
        else:
            batch = pairs_to_batch(pairs, self.pad_id, self.cfg.train.device)
            loss_at = self.stage_loss(batch)
        losses = loss_at(None)
        meta_loss, weights = None, torch.ones_like(losses)
        rw = self.cfg.reweight
        outer_due = self.step >= rw.outer_start and (self.step - rw.outer_start) % rw.outer_every == 0
        if self.reweighter is not None and meta_pairs is not None and outer_due:
            meta = pairs_to_batch(meta_pairs, self.pad_id, self.cfg.train.device)
            stats = self.reweighter.outer_step(
                self.model, self.lora, batch, losses, meta, rw.lookahead_lr, rw.hypergrad, rw.fd_eps, loss_at
            )
            meta_loss = stats.meta_loss
            weights = torch.tensor(stats.weights, device=losses.device)
        elif self.reweighter is not None:
            with torch.no_grad():
                weights = self.reweighter.weights(losses.detach(), batch.domains)
        loss = weighted_mean(losses, weights)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(self.lora.values()), self.cfg.train.grad_clip or float("inf"))
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        lr = float(self.scheduler.get_last_lr()[0])
        self.scheduler.step()
        self._log_weights(batch, weights)
        return StepLog(
            step=self.step,
            loss=float(losses.detach().mean()),
            weighted_loss=float(loss.detach()),
            meta_loss=meta_loss,
            lr=lr,
            seconds=time.perf_counter() - started,
            reward=float(rollouts.rewards.mean()) if rollouts is not None else None,
            parsed=float(rollouts.parsed.mean()) if rollouts is not None else None,
        )

    def _log_weights(self, batch: VerdictBatch | RolloutBatch | ReasoningBatch, weights: torch.Tensor) -> None:
        domain_weights = self.reweighter.domain_weights() if self.reweighter else [1.0] * len(self.data.domains)
        record = {
            "step": self.step,
            "domain_weights": dict(zip(self.data.domains, domain_weights, strict=True)),
            "sample_weights": [round(float(w), 5) for w in weights],
            "sample_domains": [self.data.domains[int(d)] for d in batch.domains],
        }
        with (self.out / "weights.jsonl").open("a") as handle:
            handle.write(json.dumps(record) + "\n")

    def _log_step(self, log: StepLog) -> None:
        record = {**log.__dict__, "peak_rss_mib": round(peak_rss_mib(), 1)}
        with (self.out / "train.jsonl").open("a") as handle:
            handle.write(json.dumps(record) + "\n")

    # ------------------------------------------------------------ run

    def run(self, resume: bool = False) -> dict[str, Any]:
        self.out.mkdir(parents=True, exist_ok=True)
        if not (resume and self.load_checkpoint()):
            for name in ("train.jsonl", "weights.jsonl", "checkpoint.pt"):
                (self.out / name).unlink(missing_ok=True)
            if self.cfg.output.eval_before:
                self.metrics["before"] = self._evaluate_base()
        cfg = self.cfg
        train_iter = batches(self.data.train, cfg.train.pairs_per_batch, cfg.train.seed, self.step)
        meta_iter = batches(self.data.meta_train, cfg.reweight.meta_pairs_per_step, cfg.train.seed + 1, self.step)
        bar = tqdm(total=cfg.train.steps, initial=self.step, desc=f"train {cfg.name}", dynamic_ncols=True)
        while self.step < cfg.train.steps:
            log = self.train_step(next(train_iter), next(meta_iter))
            self._log_step(log)
            self.seconds.append(log.seconds)
            self.step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{log.loss:.3f}", meta=f"{log.meta_loss:.3f}" if log.meta_loss is not None else "-")
            if self.step % cfg.output.checkpoint_every == 0 and self.step < cfg.train.steps:
                self.save_checkpoint()
        bar.close()
        if cfg.output.eval_after:
            self.metrics["after"] = self._evaluate_all()
        return self.finish()

    def _evaluate_base(self) -> dict[str, Any]:
        """Before training the LoRA is a no-op (B = 0), so this is the base model; cached by base and meta data
        so the uniform and reweighted runs do not both pay for it."""
        info = self.data.info
        key = hashlib.sha256(
            json.dumps(
                [self.base_path, info["meta_train_sha256"], info["meta_eval_sha256"], self.cfg.output.eval_meta_train,
                 self.cfg.output.reasoning_eval_pairs, self.cfg.output.reasoning_eval_max_tokens]
            ).encode()
        ).hexdigest()[:16]
        cache = self.out.parent / ".base_eval_cache" / f"{key}.json"
        if cache.is_file():
            return json.loads(cache.read_text())
        result = self._evaluate_all()
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(result))
        return result

    def _evaluate_all(self) -> dict[str, Any]:
        batch = max(1, self.cfg.output.eval_batch // 2)
        result = {"meta_eval": evaluate(self.model, self.data.meta_eval, self.pad_id, batch)}
        if self.cfg.output.eval_meta_train:
            result["meta_train"] = evaluate(self.model, self.data.meta_train, self.pad_id, batch)
        out = self.cfg.output
        if out.reasoning_eval_pairs:
            result["meta_eval_reasoning"] = evaluate_reasoning(
                self.peft_model, self.tokenizer, self.data.meta_eval[: out.reasoning_eval_pairs],
                out.reasoning_eval_max_tokens, self.pad_id,
            )  # fmt: skip
        return result

    def finish(self) -> dict[str, Any]:
        """Write the adapter, its metadata and the weights plot; copy them to export_dir if set."""
        adapter = self.out / "adapter"
        self.peft_model.save_pretrained(adapter)
        metadata = self.metadata()
        (adapter / METADATA_FILE).write_text(json.dumps(metadata, indent=1) + "\n")
        (adapter / "README.md").write_text(model_card(metadata))  # replaces peft's empty template
        if self.cfg.output.plot:
            plot_weights(self.out / "weights.jsonl", adapter / PLOT_FILE, self.cfg.name)
        (self.out / "checkpoint.pt").unlink(missing_ok=True)
        if self.cfg.output.export_dir:
            export = Path(self.cfg.output.export_dir)
            if export.exists():
                shutil.rmtree(export)
            shutil.copytree(adapter, export)
        return metadata

    @property
    def judge_mode(self) -> str:
        """The answer format this adapter was trained to give (the service's `mode` to use it with)."""
        reasoning = self.cfg.train.stage == "grpo" or self.cfg.train.sft_format == "reasoning"
        return "reasoning" if reasoning else "verdict"

    def metadata(self) -> dict[str, Any]:
        plain = sorted(self.seconds)
        final = self.reweighter.domain_weights() if self.reweighter else [1.0] * len(self.data.domains)
        return {
            "format": "daj-adapter-v1",
            "prompt_version": self.cfg.data.prompt_version,
            "judge_mode": self.judge_mode,
            "base_model": self.cfg.model.base,
            "base_model_path": self.base_path,
            "config": self.cfg.model_dump(),
            "data": self.data.info,
            "domains": self.data.domains,
            "final_domain_weights": dict(zip(self.data.domains, final, strict=True)),
            "metrics": self.metrics,
            "steps": self.step,
            "seconds_per_step_median": plain[len(plain) // 2] if plain else None,
            "seconds_total_train": sum(self.seconds),
            "peak_rss_mib": round(peak_rss_mib(), 1),
            "torch": torch.__version__,
        }


def model_card(metadata: dict[str, Any]) -> str:
    """A short README for the adapter folder: what it is, how it was made, what it measured."""
    cfg = metadata["config"]
    after = metadata.get("metrics", {}).get("after", {}).get("meta_eval", {})
    before = metadata.get("metrics", {}).get("before", {}).get("meta_eval", {})
    weights = metadata.get("final_domain_weights", {})

    def fmt(row: dict[str, Any], key: str) -> str:
        return f"{row[key]:.3f}" if key in row else "-"

    meta_path = metadata["data"].get("meta_pool", {}).get("path", "-")
    lines = [
        f"# daj judge adapter: {cfg['name']}",
        "",
        f"A LoRA adapter for the daj pairwise judge (`{metadata['prompt_version']}`, {metadata['judge_mode']} mode) on "
        f"`{cfg['model']['base']}`. Load it with the service (`DAJ_ADAPTERS_DIR` = this folder's parent) or with "
        "peft. Everything below is in `daj_adapter.json`.",
        "",
        f"- stage `{cfg['train']['stage']}`, {metadata['steps']} steps, reweighting `{cfg['reweight']['mode']}`, "
        f"LoRA r={cfg['model']['lora_r']} on {', '.join(cfg['model']['target_modules'])}",
        f"- for: {_purpose(cfg['data'])}",
        f"- data: {metadata['data'].get('train_pairs', '?')} training pairs from {', '.join(cfg['data']['sources'])} "
        f"({_per_domain(metadata['data'].get('train_pairs_per_domain', {}))}); meta set "
        f"{', '.join(metadata['data'].get('meta_pools', {})) or meta_path}",
        f"- median {metadata['seconds_per_step_median'] or 0:.2f} s/step, peak RSS {metadata['peak_rss_mib']:.0f} MiB",
        "",
        "| held-out meta pairs | loss | accuracy (per order) | both orders right |",
        "|---|---|---|---|",
        f"| before | {fmt(before, 'loss')} | {fmt(before, 'accuracy')} | {fmt(before, 'consistent_accuracy')} |",
        f"| after | {fmt(after, 'loss')} | {fmt(after, 'accuracy')} | {fmt(after, 'consistent_accuracy')} |",
        "",
    ]
    names = metadata["data"].get("meta_domains", [])
    by_domain = after.get("accuracy_by_domain", {})
    if by_domain and names:
        lines += ["| held-out meta pairs, after, by source | accuracy (per order) |", "|---|---|"]
        lines += [f"| {names[int(index)]} | {value:.3f} |" for index, value in by_domain.items()]
        lines.append("")
    if weights:
        lines += ["| domain | final weight |", "|---|---|"]
        lines += [f"| {name} | {value:.3f} |" for name, value in weights.items()]
        lines.append("")
    return "\n".join(lines)


def _purpose(data: dict[str, Any]) -> str:
    if data.get("evidence"):
        return (f"judging the pairs the service sends after execution: prompt `{data['prompt_version']}` shows the "
                "inputs on which the two programs disagree; with execution off, the code-only v1 prompt "
                f"({data['no_evidence_share']:.0%} of the training pairs)")
    return "judging two programs from their code alone (prompt v1; with execution on, the evidence is not read)"


def _per_domain(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items())


def plot_weights(weights_log: Path, out: Path, title: str) -> None:
    """Domain weights over training steps (one line per domain)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_jsonl(weights_log)
    if not records:
        return
    domains = list(records[0]["domain_weights"])
    steps = [r["step"] for r in records]
    # One colour per source, one line style per second tag (stage or difficulty): twelve domains stay legible.
    sources = sorted({name.split(":")[0] for name in domains})
    tags = sorted({name.partition(":")[2] for name in domains})
    styles = ["-", "--", ":", "-."]
    colours = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for name in domains:
        source, _, tag = name.partition(":")
        ax.plot(steps, [r["domain_weights"][name] for r in records], label=name,
                color=colours(sources.index(source) % 10), linestyle=styles[tags.index(tag) % len(styles)])
    ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xlabel("step")
    ax.set_ylabel("domain weight (uniform = 1)")
    ax.set_title(f"learned domain weights: {title}")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def refuse_changed_config(state: dict[str, Any], cfg: Config, path: Path) -> None:
    """ConfigError if the checkpoint was written under another config (checkpoints from before configs were
    stored cannot be checked: they resume with a warning)."""
    if "config" not in state:
        logger.warning("%s carries no config; cannot check that the resumed run uses the same one", path)
        return
    check_resume(state["config"], cfg, path)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def train(cfg: Config, resume: bool = False, data: TrainData | None = None) -> dict[str, Any]:
    """Everything from a validated config: backbone, data, loop, outputs. Returns the adapter metadata."""
    if resume:  # refused before the backbone and the data are loaded, not minutes later
        checkpoint = Path(cfg.output.dir) / "checkpoint.pt"
        if checkpoint.is_file():
            refuse_changed_config(torch.load(checkpoint, weights_only=False, map_location="cpu"), cfg, checkpoint)
    torch.set_num_threads(cfg.train.threads)
    seed_everything(cfg.train.seed)
    peft_model, tokenizer, base_path = load_backbone(cfg.model)
    data = data or build_data(cfg.data, tokenizer)
    trainer = Trainer(cfg, peft_model, tokenizer, data, base_path)
    return trainer.run(resume=resume)
