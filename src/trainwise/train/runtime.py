"""Device and reproducibility, resolved once per run."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from trainwise.errors import SpecError


def resolve_device(name: str) -> torch.device:
    """`auto` takes CUDA, then Apple's MPS, then the CPU; a named device must exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
    }
    if not available.get(name, False):
        raise SpecError(
            f"train.device is {name!r} but no such device is available here",
            "auto, or a device this machine has (cpu always works)",
            "set train.device=auto",
        )
    return torch.device(name)


# Forward FLOPs of a training step above which bf16 autocast pays on a CPU with native bf16:
# below it the casts autocast adds cost more than the faster matrix work saves (measured per
# step size by benchmarks/threads.py, figures in docs/benchmarks.md).
BF16_MIN_FLOPS = 50e6


def resolve_precision(
    name: str, device: torch.device, step_flops: float | None = None
) -> torch.dtype | None:
    """The autocast dtype for training steps, or None for plain fp32.

    `auto` on a CPU picks bf16 only where it pays: the CPU computes bf16 natively (AVX512-BF16
    or AMX) and a step's forward pass (`step_flops`, counted by `train.threads.forward_flops`)
    is large enough that matrix work, not per-operation overhead, dominates it.
    """
    if name == "fp32":
        return None
    if name == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if (
            device.type == "cpu"
            and step_flops is not None
            and step_flops >= BF16_MIN_FLOPS
            and cpu_has_native_bf16()
        ):
            return torch.bfloat16
        return None
    if name == "fp16" and device.type == "cpu":
        raise SpecError(
            "train.precision is fp16 but training runs on the CPU",
            "bf16 or fp32 on CPUs (fp16 autocast is a GPU feature)",
            "set train.precision=bf16 or auto",
        )
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise SpecError(
            "train.precision is bf16 but this GPU does not support it",
            "fp16 (with loss scaling) or fp32 on this GPU",
            "set train.precision=auto",
        )
    return torch.bfloat16 if name == "bf16" else torch.float16


def cpu_has_native_bf16() -> bool:
    """Whether this CPU runs bf16 matrix work in hardware (AVX512-BF16 or AMX tiles)."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, probe, lambda: False)()) for probe in probes)


def seed_everything(seed: int, deterministic: bool = False) -> torch.Generator:
    """Seed Python, NumPy and torch; return the generator that orders training batches."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator
