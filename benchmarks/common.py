"""Shared pieces of the benchmarks: the MNIST-1D data, a small 1-D CNN, timing helpers."""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from trainwise.data.builtin import load_builtin


def mnist1d_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    data = load_builtin("mnist1d")
    assert data.test_frame is not None
    features = [c for c in data.frame.columns if c != data.target]
    return (
        data.frame[features].to_numpy(np.float32),
        data.frame[data.target].to_numpy(np.int64),
        data.test_frame[features].to_numpy(np.float32),
        data.test_frame[data.target].to_numpy(np.int64),
    )


class ConvNet1D(nn.Module):
    """The CNN of the MNIST-1D paper's scale: three conv layers, then a linear classifier."""

    def __init__(self, length: int = 40, channels: int = 32, classes: int = 10) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(1, channels, 5, stride=2, padding=2),
            nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.head = nn.Linear(channels * ((length + 7) // 8), classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x.unsqueeze(1)).flatten(1))


class FunctionalConvNet1D(nn.Module):
    """The MNIST-1D authors' CNN as they write it: 25 channels, activations called in `forward`
    and a `.view` flatten. No `nn.Sequential`, so trainwise cannot hand a layer's memory on
    to the next one (docs/training.md); the benchmarks run it to cover that kind of model."""

    def __init__(self, length: int = 40, channels: int = 25, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(1, channels, 5, stride=2, padding=1)
        self.conv2 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        out = (length + 2 - 5) // 2 + 1
        for _ in range(2):
            out = (out + 2 - 3) // 2 + 1
        self.linear = nn.Linear(channels * out, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.view(-1, 1, x.shape[-1])
        h = self.conv3(self.conv2(self.conv1(x).relu()).relu()).relu()
        return self.linear(h.view(h.shape[0], -1))


MODELS: dict[str, Callable[[], nn.Module]] = {
    "sequential": ConvNet1D,
    "functional": FunctionalConvNet1D,
}


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def print_ratios(times: dict[str, list[float]], base: str, width: int = 40) -> None:
    """A table of median seconds per epoch per variant, and each one's ratio to `base`'s."""
    reference = statistics.median(times[base])
    print(f"\n{'variant':<{width}}{'s/epoch':>10}{'ratio':>8}")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"{name:<{width}}{med:>10.4f}{med / reference:>8.3f}")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def train_by_hand(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    x: np.ndarray,
    y: np.ndarray,
    xv: np.ndarray,
    yv: np.ndarray,
    epochs: int,
    batch: int,
    seed: int = 0,
) -> list[float]:
    """The loop an expert writes by hand: tensors in memory, index gathers, a validation pass
    and one host sync per epoch. Returns the validation accuracy of each epoch."""
    loss_fn = nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    xvt, yvt = torch.from_numpy(xv), torch.from_numpy(yv)
    gen = torch.Generator().manual_seed(seed)
    accs = []
    for _ in range(epochs):
        model.train()
        total = torch.zeros(())
        order = torch.randperm(len(xt), generator=gen)
        for start in range(0, len(xt), batch):
            idx = order[start : start + batch]
            loss = loss_fn(model(xt[idx]), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach()
        model.eval()
        with torch.no_grad():
            logits = model(xvt)
            val_loss = loss_fn(logits, yvt)
            acc = (logits.argmax(1) == yvt).float().mean()
        _ = total.item() + val_loss.item()
        accs.append(float(acc))
    return accs
