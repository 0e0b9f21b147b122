"""Which windowed convolution may hand its output on in the product's own memory: only between
consecutive layers of a plain `nn.Sequential`, while its own forward runs in training mode with
no hook inside; everywhere else outputs keep the contiguous layout."""

from __future__ import annotations

import pickle
from copy import deepcopy

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import trainwise
from layout_probes import profiled_ops, saved_strides
from trainwise.train import eager_conv1d
from trainwise.train.conv1d_links import layout_free_links
from trainwise.train.eager_conv1d import convs_as_matmul_for_training


def _switched(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if type(m) in (nn.Conv1d, nn.MaxPool1d)]


def _links(net: nn.Module) -> dict[str, str]:
    names = {m: n for n, m in net.named_modules()}
    return {
        names[p]: names[on_the_way[-1]]
        for p, (on_the_way, _) in layout_free_links(net, _switched(net)).items()
    }


def _chain(pooled: bool = False) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv1d(1, 8, 5, stride=2, padding=2),
        nn.ReLU(),
        nn.Conv1d(8, 8, 3, padding=1),
        nn.ReLU(),
        *([nn.MaxPool1d(2)] if pooled else []),
        nn.Flatten(),
        nn.Linear(8 * (10 if pooled else 20), 2),
    )


class Functional(nn.Module):
    """The functional style: its `forward` may take another path on any call (a random branch,
    a keyword argument, a flag), so no output of it is handed on in the windows' memory."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv1d(1, 8, 5, stride=2, padding=2)
        self.c2 = nn.Conv1d(8, 8, 3, stride=2, padding=1)
        self.head = nn.Linear(8 * 10, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c2(F.relu(self.c1(x)))
        if torch.rand(()) < 0.5:  # stochastic depth
            h = h.view(h.shape[0], -1).view_as(h)
        return self.head(F.relu(h).flatten(1))


class OwnForward(nn.Sequential):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self:
            x = module(x)
            x = x.view(x.shape[0], -1).view_as(x)  # needs the contiguous layout
        return x


@pytest.mark.parametrize(
    ("net", "expected"),
    [
        (_chain(), {"0": "2"}),
        (Functional(), {}),
        (OwnForward(nn.Conv1d(1, 6, 3, stride=2), nn.ReLU(), nn.Conv1d(6, 6, 3)), {}),
        (nn.Sequential(nn.Conv1d(1, 6, 3), nn.BatchNorm1d(6), nn.Conv1d(6, 6, 3)), {}),
        (
            nn.Sequential(nn.Conv1d(1, 6, 3), nn.MaxPool1d(2), nn.ReLU(), nn.Conv1d(6, 6, 3)),
            {"0": "1", "1": "3"},
        ),
        (nn.Sequential(nn.Conv1d(1, 6, 3), nn.AvgPool1d(2), nn.Conv1d(6, 6, 3)), {"0": "2"}),
        (nn.Sequential(nn.Conv1d(1, 6, 3), nn.Sequential(nn.ReLU(), nn.Conv1d(6, 6, 3))), {}),
        (nn.Sequential(nn.Conv1d(6, 6, 3), nn.ReLU(), nn.Conv1d(1, 6, 3)), {"0": "2"}),
    ],
    ids=[
        "chain",
        "own forward",
        "sequential with its own forward",
        "batch norm between",
        "max pooling",
        "average pooling",
        "nested sequential",
        "any reader",
    ],
)
def test_only_consecutive_layers_of_a_plain_sequential_are_linked(
    net: nn.Module, expected: dict[str, str]
) -> None:
    assert _links(net) == expected


def test_a_layer_used_twice_is_not_a_producer() -> None:
    conv = nn.Conv1d(4, 4, 3, padding=1)
    net = nn.Sequential(conv, nn.ReLU(), nn.Conv1d(4, 4, 3, padding=1), nn.ReLU(), conv)
    assert _links(net) == {"2": "0"}  # the second conv reads into `conv` (named "0")


def _any_rows(strides: list[tuple[int, ...]]) -> bool:
    return any(s[1] == 1 for s in strides)


def _pass(net: nn.Module, x: torch.Tensor) -> list[tuple[int, ...]]:
    return saved_strides(lambda: net(x).sum().backward())


def test_links_hold_only_inside_the_sequentials_own_forward_in_training_mode() -> None:
    """A layer called alone (a callback, an auxiliary loss), the model in eval mode with
    gradients on, or one layer in another mode hands on contiguous outputs."""
    net = _chain()
    x = torch.randn(2, 1, 40, requires_grad=True)
    with convs_as_matmul_for_training(net):
        assert _any_rows(_pass(net, x))  # linked: the positive control
        assert net[0](x).view(2, -1).shape == (2, 160)
        net.eval()
        assert not _any_rows(_pass(net, x))
        net.train()
        net[1].eval()
        assert not _any_rows(_pass(net, x))


def test_a_replaced_layer_closes_the_links() -> None:
    class Views(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.view(x.shape[0], -1).view_as(x)

    net = _chain()
    with convs_as_matmul_for_training(net):
        net[2] = Views()  # the producer's reader, replaced during training
        assert net(torch.randn(2, 1, 40, requires_grad=True)).shape == (2, 2)


def test_any_hook_inside_sees_contiguous_tensors_and_gradients() -> None:
    net = _chain()
    seen: list[torch.Tensor] = []
    x = torch.randn(2, 1, 40, requires_grad=True)
    with convs_as_matmul_for_training(net):
        net[3].register_full_backward_hook(lambda m, gi, go: seen.extend([*gi, *go]))
        net(x).sum().backward()
    assert seen and all(g.is_contiguous() for g in seen)
    assert not _any_rows(_pass(net, x))


def test_copies_hold_no_links_and_do_not_drag_the_model_along() -> None:
    """An averaged model or a snapshot taken during training, used after it: the contiguous
    layout; a copied layer copies that layer alone."""
    net = _chain()
    x = torch.randn(2, 1, 40, requires_grad=True)
    with convs_as_matmul_for_training(net):
        whole = deepcopy(net)
        part = deepcopy(net[0])
    assert not _any_rows(_pass(whole, x))
    assert part(x).view(2, -1).shape == (2, 160)
    assert len(pickle.dumps(part)) < len(pickle.dumps(net)) / 2  # serialising only


def test_entering_leaves_the_random_state_and_the_models_forward_alone() -> None:
    net = _chain()
    state = torch.get_rng_state()
    with convs_as_matmul_for_training(net):
        mine = lambda x: x  # noqa: E731
        net.forward = mine  # set inside by someone else: kept on leaving
    assert torch.equal(torch.get_rng_state(), state)
    assert vars(net)["forward"] is mine


def test_linked_sequentials_train_as_the_library_does() -> None:
    net = nn.Sequential(
        nn.Conv1d(1, 6, 5, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool1d(2),
        nn.Conv1d(6, 8, 3, padding=1),
        nn.GELU(),
        nn.AvgPool1d(2),
        nn.Conv1d(8, 8, 3, padding=1),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(8 * 10, 3),
    ).double()
    x = torch.randn(16, 1, 40, dtype=torch.float64, requires_grad=True)
    leaves = [x, *net.parameters()]
    expected = torch.autograd.grad(net(x).square().sum(), leaves)
    with convs_as_matmul_for_training(net):
        assert _any_rows(saved_strides(lambda: net(x)))
        got = torch.autograd.grad(net(x).square().sum(), leaves)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b)


def test_a_fit_of_a_linked_sequential_is_the_library_fit_up_to_rounding() -> None:
    """Through the whole pipeline, with the doctor's hooks on the first batch of each epoch:
    the same losses as the library's layers, and the user's model back unchanged."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    x = np.sin(np.outer(y + 1, np.linspace(0, 6.28, 40))) + 0.3 * rng.standard_normal((300, 40))
    frame = pd.DataFrame(x.astype(np.float32), columns=[f"t{i}" for i in range(40)]).assign(y=y)

    def fit(conv1d: str) -> trainwise.Result:
        torch.manual_seed(0)
        return trainwise.fit(
            frame,
            target="y",
            model=nn.Sequential(
                nn.Unflatten(1, (1, 40)), *list(_chain(pooled=True))[:-1], nn.Linear(8 * 10, 3)
            ),
            epochs=3,
            seed=0,
            save=False,
            batch_size=32,
            progress=False,
            precision="fp32",
            early_stopping={"enabled": False},
            train={"conv1d": conv1d},
        )

    windowed, library = fit("auto"), fit("library")
    for a, b in zip(windowed.history, library.history, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
    assert not any("forward" in vars(m) for m in windowed.model.modules())


def test_a_reader_takes_the_windows_memory_at_any_size_the_windows_fit() -> None:
    """A stride-1 layer of 63 MFLOP keeps the library call from a contiguous input, but an input
    already in (N, L, C) memory needs no transposing copy, so it computes by windows."""
    torch.manual_seed(0)
    wide = nn.Conv1d(64, 64, 3, padding=1)
    net = nn.Sequential(nn.Conv1d(1, 64, 3, stride=2, padding=1), nn.ReLU(), wide)
    x = torch.randn(64, 1, 80)
    with convs_as_matmul_for_training(net):
        linked = profiled_ops(lambda: net(x).sum().backward())
        alone = profiled_ops(lambda: wide(torch.randn(64, 64, 40)).sum().backward())
    assert "aten::convolution" not in linked
    assert "aten::convolution" in alone


def test_a_reader_that_cannot_take_windows_hands_on_a_contiguous_output(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Windows too large for the reader: the library computes it from the (N, L, C) memory,
    and what it returns is contiguous (its 1-D convolutions return that layout from any
    input), with the library's gradients."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv1d(1, 6, 3, padding=1), nn.ReLU(), nn.Conv1d(6, 4, 3)).double()
    x = torch.randn(8, 1, 20, dtype=torch.float64, requires_grad=True)
    leaves = [x, *net.parameters()]
    expected_out = net(x)
    expected = torch.autograd.grad(expected_out.square().sum(), leaves)
    # the first layer's windows (8 x 20 x 3 x 1 values) fit; the second's (8 x 18 x 3 x 6) not
    monkeypatch.setattr(eager_conv1d, "MAX_WINDOW_VALUES", 1000)
    monkeypatch.setattr(eager_conv1d, "MAX_ROWS_WINDOW_VALUES", 1000)
    with convs_as_matmul_for_training(net):
        out = net(x)
        ops = profiled_ops(lambda: net(x).sum().backward())
        got = torch.autograd.grad(out.square().sum(), leaves)
    assert "aten::convolution" in ops  # the reader took the library's call
    assert out.is_contiguous() and out.view(8, -1).shape == (8, 72)
    torch.testing.assert_close(out, expected_out)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b)
