"""What a training pass keeps and calls, for tests of tensor layouts and of which kernels run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


def saved_strides(fn: Callable[[], Any], ndim: int = 3) -> list[tuple[int, ...]]:
    """The strides of every floating-point tensor of `ndim` dimensions that autograd keeps for
    the backward pass while `fn` runs."""
    strides: list[tuple[int, ...]] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.ndim == ndim and t.is_floating_point():
            strides.append(t.stride())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return strides


def profiled_ops(fn: Callable[[], Any]) -> set[str]:
    """The names of the operators `fn` calls."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    return {event.name for event in prof.events()}
