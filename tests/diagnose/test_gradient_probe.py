"""The gradient probe's epoch figures against the same figures computed directly, step by step.

The probe measures on every `every_steps`-th batch: per layer, the gradient norm (all of the
layer's parameters), the gradient and weight norms of the parameters its update ratio is taken
on (the weight matrix where the layer has one, else all of its parameters), and the update
ratio ||ΔW|| / ||W|| over the optimizer step. An independent callback here records the same
quantities with plain tensor operations at the same hooks.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from trainwise.diagnose.probes import GradientProbe
from trainwise.train.callbacks import Callback
from trainwise.train.loop import fit
from trainwise.train.state import TrainState

EVERY = 2
BATCHES = 5  # probed batches 0, 2 and 4 of each epoch


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(6, 16),
            nn.BatchNorm1d(16),  # no matrix: its ratio is taken on all its parameters
            nn.ReLU(),
            nn.Linear(16, 8, bias=False),
            nn.Tanh(),
            nn.Linear(8, 3),
        )
        self.spare = nn.Linear(2, 2)  # trainable but unused: its parameters get no gradient

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class _Reference(Callback):
    """The probe's figures by hand: lists of per-layer values, one per probed step."""

    def __init__(self, layers: list[list[nn.Parameter]], ratio: list[list[nn.Parameter]]) -> None:
        self.layers, self.ratio = layers, ratio
        self.grad: list[list[float]] = []
        self.ratio_grad: list[list[float]] = []
        self.weight: list[list[float]] = []
        self.update: list[list[float]] = []
        self._before: list[list[torch.Tensor]] | None = None

    @staticmethod
    def _norm(tensors: list[torch.Tensor]) -> float:
        present = [t.detach().double() for t in tensors if t is not None]
        return math.sqrt(sum(float(t.pow(2).sum()) for t in present))

    def on_after_backward(self, state: TrainState) -> None:
        if state.batch_in_epoch % EVERY:
            return
        self.grad.append([self._norm([p.grad for p in ps]) for ps in self.layers])
        self.ratio_grad.append([self._norm([p.grad for p in ps]) for ps in self.ratio])
        self.weight.append([self._norm(list(ps)) for ps in self.ratio])
        self._before = [[p.detach().clone() for p in ps] for ps in self.ratio]

    def on_batch_end(self, state: TrainState, out: object) -> None:
        if self._before is None:
            return
        moved = [
            self._norm([p.detach() - b for p, b in zip(ps, before, strict=True)])
            for ps, before in zip(self.ratio, self._before, strict=True)
        ]
        sizes = [self._norm(before) for before in self._before]
        self.update.append([m / s for m, s in zip(moved, sizes, strict=True)])
        self._before = None


class _Summaries(Callback):
    """The probe's own epoch summaries, taken where the doctor takes them."""

    def __init__(self, probe: GradientProbe) -> None:
        self.probe = probe
        self.epochs: list[dict] = []

    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        self.epochs.append(self.probe.epoch_summary())


def _mean(rows: list[list[float]]) -> list[float]:
    return [sum(column) / len(column) for column in zip(*rows, strict=True)]


def _train(epochs: int = 2) -> tuple[_Reference, _Summaries]:
    torch.manual_seed(0)
    model = _Net()
    net = model.body
    x, y = torch.randn(BATCHES * 8, 6), torch.randint(0, 3, (BATCHES * 8,))
    state = TrainState(
        model=model,
        optimizer=torch.optim.AdamW(model.parameters(), lr=0.05),
        loss_fn=nn.functional.cross_entropy,
        max_epochs=epochs,
        batch_size=8,
        generator=torch.Generator().manual_seed(0),
    )

    def batches(generator: torch.Generator, start: int):
        order = torch.randperm(len(x), generator=generator)
        for b in range(start, BATCHES):
            idx = order[b * 8 : (b + 1) * 8]
            yield (x[idx],), y[idx]

    owners = (net[0], net[1], net[3], net[5], model.spare)
    layers = [list(m.parameters(recurse=False)) for m in owners]
    ratio = [[m.weight] for m in owners]
    ratio[1] = list(net[1].parameters())
    reference, probe = _Reference(layers, ratio), GradientProbe(every_steps=EVERY)
    summaries = _Summaries(probe)
    fit(state, batches, callbacks=[probe, reference, summaries])
    return reference, summaries


def test_epoch_figures_match_the_direct_computation():
    reference, summaries = _train()
    per_epoch = len(range(0, BATCHES, EVERY))
    for epoch, summary in enumerate(summaries.epochs):
        rows = slice(epoch * per_epoch, (epoch + 1) * per_epoch)
        expected = {
            "grad_norm": _mean(reference.grad[rows]),
            "ratio_grad_norm": _mean(reference.ratio_grad[rows]),
            "weight_norm": _mean(reference.weight[rows]),
            "update_ratio": _mean(reference.update[rows]),
        }
        for key, values in expected.items():
            assert summary[key] == pytest.approx(values, rel=1e-5), key
        largest = max(math.sqrt(sum(v * v for v in row)) for row in reference.grad[rows])
        assert summary["grad_norm_max"] == pytest.approx(largest, rel=1e-5)
        assert summary["first_nonfinite"] is None


def test_every_figure_moves_between_epochs():
    """Guards the test above against comparing constants: training changes each figure."""
    _, summaries = _train()
    first, second = summaries.epochs
    for key in ("grad_norm", "ratio_grad_norm", "weight_norm", "update_ratio"):
        trained = zip(first[key][:-1], second[key][:-1], strict=True)  # all but the spare layer
        assert all(a != b for a, b in trained), key
    assert first["grad_norm"][-1] == first["update_ratio"][-1] == 0.0
