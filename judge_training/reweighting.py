"""Bi-level data reweighting: domain weights and a Meta-Weight-Net instance net, learned so that one inner
(LoRA) step on the weighted training loss lowers the loss on the held-out meta set.

Inner problem: theta (LoRA only) minimises mean_i w_i * l_i(theta). Outer problem: the weights' parameters
(domain logits phi, instance net psi) minimise L_meta(theta - alpha * grad_theta sum_i w_i l_i / B).

Two hypergradients:
- ``second_order``: the exact one-step lookahead. The inner gradient is taken with ``create_graph=True``
  and the meta loss is evaluated with ``torch.func.functional_call`` on the lookahead LoRA tensors; base
  weights are used in place, so the extra memory is the LoRA tensors and the double-backward graph.
- ``first_order``: the same lookahead linearised, L_meta(theta') ~ L_meta(theta) - alpha/B * sum_i w_i a_i
  with a_i = grad L_meta . grad l_i (gradient alignment). a_i for every sample at once costs one extra
  no-grad forward: a_i ~ (l_i(theta) - l_i(theta - eps * g_meta)) / eps, a finite difference along the meta
  gradient. No double backward: about 2.3 plain steps instead of 4-5.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn
from torch.func import functional_call

from judge_training.config import HYPERGRADS, Hypergrad
from judge_training.losses import VerdictBatch, VerdictModel, per_sample_loss

# Per-sample training losses of the current batch at the given LoRA tensors (None = the model's own): the stage
# (SFT, DPO, GRPO) owns what the loss is; the reweighter only needs to evaluate it at a probe point.
TrainLossAt = Callable[[dict[str, torch.Tensor] | None], torch.Tensor]


class DomainTagged(Protocol):
    """Any stage's training batch: the reweighter reads only each row's domain."""

    domains: torch.Tensor


def forward_at(module: nn.Module, params: dict[str, torch.Tensor] | None, args: tuple) -> torch.Tensor:
    """``module(*args)`` with its LoRA tensors swapped for ``params`` (None: its own, with their graph)."""
    return module(*args) if params is None else functional_call(module, params, args)


def verdict_loss_at(model: VerdictModel, batch: VerdictBatch) -> TrainLossAt:
    """The SFT verdict loss of ``batch`` as a function of the LoRA tensors."""

    def loss_at(params: dict[str, torch.Tensor] | None) -> torch.Tensor:
        return per_sample_loss(forward_at(model, params, batch_args(batch)), batch.labels)

    return loss_at


class DomainWeights(nn.Module):
    """w_d = K * softmax(phi)_d: uniform logits give every sample weight 1, and the total stays K."""

    def __init__(self, n_domains: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(n_domains))

    def forward(self) -> torch.Tensor:
        return self.logits.numel() * torch.softmax(self.logits, dim=0)


class InstanceNet(nn.Module):
    """Meta-Weight-Net: per-sample loss -> weight in (0, 1), then normalised to mean 1 over the batch, so it
    redistributes weight between samples without changing the step size."""

    def __init__(self, hidden: int = 16, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.net = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        with torch.no_grad():
            for param in self.net.parameters():
                param.copy_(torch.randn(param.shape, generator=generator) * 0.1)

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        raw = torch.sigmoid(self.net(losses.detach().unsqueeze(-1))).squeeze(-1)
        return raw / raw.mean().clamp_min(1e-8)


@dataclass
class OuterStats:
    """What one outer step measured (logged every step)."""

    meta_loss: float
    weights: list[float]
    domain_weights: list[float]


def batch_args(batch: VerdictBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return batch.input_ids, batch.attention_mask, batch.last


class Reweighter(nn.Module):
    """Holds phi and psi, their optimiser, and computes the hypergradient for one training batch."""

    def __init__(
        self,
        n_domains: int,
        use_domains: bool = True,
        use_instance_net: bool = True,
        hidden: int = 16,
        domain_lr: float = 0.1,
        instance_lr: float = 1e-3,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.domain = DomainWeights(n_domains)
        self.instance = InstanceNet(hidden, seed)
        self.use_domains = use_domains
        self.use_instance_net = use_instance_net
        groups = []
        if use_domains:
            groups.append({"params": list(self.domain.parameters()), "lr": domain_lr})
        if use_instance_net:
            groups.append({"params": list(self.instance.parameters()), "lr": instance_lr})
        if not groups:
            raise ValueError("reweighting needs domain weights, the instance net, or both")
        self.optimizer = torch.optim.Adam(groups)

    def weights(self, losses: torch.Tensor, domains: torch.Tensor) -> torch.Tensor:
        """Per-sample weights; differentiable in phi and psi, never in the losses themselves."""
        weight = torch.ones_like(losses)
        if self.use_domains:
            weight = weight * self.domain()[domains]
        if self.use_instance_net:
            weight = weight * self.instance(losses)
        return weight

    def domain_weights(self) -> list[float]:
        with torch.no_grad():
            return [float(x) for x in self.domain()]

    def _step_outer(self, hyper_loss: torch.Tensor) -> None:
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        grads = torch.autograd.grad(hyper_loss, params, allow_unused=True)
        for param, grad in zip(params, grads, strict=True):
            param.grad = torch.zeros_like(param) if grad is None else grad
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def hyper_loss(
        self,
        model: VerdictModel,
        lora: dict[str, torch.Tensor],
        batch: DomainTagged,
        train_losses: torch.Tensor,
        meta: VerdictBatch,
        lookahead_lr: float,
        hypergrad: Hypergrad,
        fd_eps: float = 1e-3,
        train_loss_at: TrainLossAt | None = None,
    ) -> tuple[float, torch.Tensor]:
        """(meta loss at theta, a scalar whose gradient in phi and psi is the hypergradient)."""
        if hypergrad not in HYPERGRADS:  # the config checks it too, but tests call this without a config
            raise ValueError(f"hypergrad must be one of {', '.join(HYPERGRADS)}, got {hypergrad!r}")
        if hypergrad == "second_order":
            return self._second_order(model, lora, batch, train_losses, meta, lookahead_lr)
        if train_loss_at is None:
            if not isinstance(batch, VerdictBatch):
                raise TypeError("the first-order hypergradient of a non-SFT batch needs the stage's train_loss_at")
            train_loss_at = verdict_loss_at(model, batch)
        return self._first_order(model, lora, batch, train_losses, meta, lookahead_lr, fd_eps, train_loss_at)

    def outer_step(
        self,
        model: VerdictModel,
        lora: dict[str, torch.Tensor],
        batch: DomainTagged,
        train_losses: torch.Tensor,
        meta: VerdictBatch,
        lookahead_lr: float,
        hypergrad: Hypergrad,
        fd_eps: float = 1e-3,
        train_loss_at: TrainLossAt | None = None,
    ) -> OuterStats:
        """One update of phi and psi. ``train_losses`` are l_i(theta) with their graph, which is kept for the
        caller's inner step; ``train_loss_at`` evaluates the same losses at other LoRA tensors (default: SFT)."""
        meta_loss, hyper = self.hyper_loss(
            model, lora, batch, train_losses, meta, lookahead_lr, hypergrad, fd_eps, train_loss_at
        )
        self._step_outer(hyper)
        with torch.no_grad():
            weights = self.weights(train_losses.detach(), batch.domains)
        return OuterStats(meta_loss, [float(w) for w in weights], self.domain_weights())

    def _second_order(
        self,
        model: VerdictModel,
        lora: dict[str, torch.Tensor],
        batch: DomainTagged,
        train_losses: torch.Tensor,
        meta: VerdictBatch,
        lookahead_lr: float,
    ) -> tuple[float, torch.Tensor]:
        """Meta loss after one differentiable SGD step on the LoRA tensors only (base weights in place)."""
        weighted = (self.weights(train_losses, batch.domains) * train_losses).mean()
        grads = torch.autograd.grad(weighted, list(lora.values()), create_graph=True, retain_graph=True)
        fast = {name: p - lookahead_lr * g for (name, p), g in zip(lora.items(), grads, strict=True)}
        lookahead = per_sample_loss(functional_call(model, fast, batch_args(meta)), meta.labels).mean()
        return float(lookahead.detach()), lookahead

    def _first_order(
        self,
        model: VerdictModel,
        lora: dict[str, torch.Tensor],
        batch: DomainTagged,
        train_losses: torch.Tensor,
        meta: VerdictBatch,
        lookahead_lr: float,
        fd_eps: float,
        train_loss_at: TrainLossAt,
    ) -> tuple[float, torch.Tensor]:
        """Linearised lookahead: -alpha/B * sum_i w_i * (grad L_meta . grad l_i), alignment by finite difference."""
        meta_loss = per_sample_loss(model(*batch_args(meta)), meta.labels).mean()
        g_meta = torch.autograd.grad(meta_loss, list(lora.values()))
        norm = torch.sqrt(sum((g * g).sum() for g in g_meta)).clamp_min(1e-12)
        eps = fd_eps / float(norm)
        with torch.no_grad():
            probe = {name: p - eps * g for (name, p), g in zip(lora.items(), g_meta, strict=True)}
            moved = train_loss_at(probe)
            alignment = (train_losses.detach() - moved) / eps
        surrogate = (
            float(meta_loss.detach())
            - lookahead_lr * (self.weights(train_losses.detach(), batch.domains) * alignment).mean()
        )
        return float(meta_loss.detach()), surrogate


def lora_parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    """The trainable LoRA tensors by their name inside ``model`` (the names functional_call expects)."""
    params = {name: p for name, p in model.named_parameters() if p.requires_grad}
    if not params or not all("lora_" in name for name in params):
        raise ValueError("expected only LoRA parameters to be trainable")
    return params


LossFn = Callable[[VerdictBatch], torch.Tensor]
