"""Optimizers and learning-rate schedules, by name.

Weight decay is applied to weight matrices only: decaying biases and normalisation scales pulls
them toward zero for no regularising benefit (the practice since "Bag of Tricks", 2019).
Schedules are PyTorch's own, stepped per batch (warm-up, cosine, one-cycle) or per epoch.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.optim import lr_scheduler

from trainwise.registry import Registry
from trainwise.spec.model import ScheduleSpec, TrainSpec

OPTIMIZERS: Registry[torch.optim.Optimizer] = Registry("optimizer")


def _groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _fast_kernels(model: nn.Module) -> dict[str, bool]:
    """Fused kernels (one C++/CUDA kernel per step instead of ~10 ops per parameter tensor) where
    PyTorch has them for these parameters' device; measured 8x faster for AdamW on a residual
    1-D CNN on the CPU (0.21 vs 1.66 ms per step), which is most of the optimizer's share."""
    devices = {p.device.type for p in model.parameters()}
    floating = all(p.is_floating_point() for p in model.parameters())
    return {"fused": True} if floating and devices <= {"cpu", "cuda"} else {}


@OPTIMIZERS.register("sgd")
def _sgd(model: nn.Module, t: TrainSpec) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        _groups(model, t.weight_decay),
        lr=t.lr,
        momentum=t.momentum,
        nesterov=t.nesterov and t.momentum > 0,
        **_fast_kernels(model),
    )


@OPTIMIZERS.register("adam")
def _adam(model: nn.Module, t: TrainSpec) -> torch.optim.Optimizer:
    return torch.optim.Adam(_groups(model, t.weight_decay), lr=t.lr, **_fast_kernels(model))


@OPTIMIZERS.register("adamw")
def _adamw(model: nn.Module, t: TrainSpec) -> torch.optim.Optimizer:
    return torch.optim.AdamW(_groups(model, t.weight_decay), lr=t.lr, **_fast_kernels(model))


@OPTIMIZERS.register("rmsprop")
def _rmsprop(model: nn.Module, t: TrainSpec) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(_groups(model, t.weight_decay), lr=t.lr, momentum=t.momentum)


@OPTIMIZERS.register("adagrad")
def _adagrad(model: nn.Module, t: TrainSpec) -> torch.optim.Optimizer:
    return torch.optim.Adagrad(_groups(model, t.weight_decay), lr=t.lr, **_fast_kernels(model))


def build_optimizer(model: nn.Module, spec: TrainSpec) -> torch.optim.Optimizer:
    if spec.lr == "auto":
        raise ValueError("train.lr=auto must be resolved by the LR range test before training")
    return OPTIMIZERS.get(spec.optimizer)(model, spec)


def build_scheduler(
    optimizer: torch.optim.Optimizer, spec: TrainSpec, steps_per_epoch: int
) -> tuple[Any, str]:
    """The scheduler and when it steps: "step" (every batch), "epoch" or "plateau"."""
    s: ScheduleSpec = spec.schedule
    total_steps = max(1, spec.epochs * steps_per_epoch)
    if s.name == "constant":
        return None, "epoch"
    if s.name == "step":
        return lr_scheduler.StepLR(optimizer, step_size=s.step_size, gamma=s.gamma), "epoch"
    if s.name == "exponential":
        return lr_scheduler.ExponentialLR(optimizer, gamma=s.gamma), "epoch"
    if s.name == "plateau":
        scheduler = lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=s.factor, patience=s.patience, min_lr=s.min_lr
        )
        return scheduler, "plateau"
    if s.name == "onecycle":
        has_momentum = any(k in optimizer.defaults for k in ("momentum", "betas"))
        scheduler = lr_scheduler.OneCycleLR(
            optimizer, max_lr=spec.lr, total_steps=total_steps, cycle_momentum=has_momentum
        )
        return scheduler, "step"
    warmup = round(s.warmup_epochs * steps_per_epoch)
    floor = s.min_lr / spec.lr

    def cosine_with_warmup(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return lr_scheduler.LambdaLR(optimizer, cosine_with_warmup), "step"
