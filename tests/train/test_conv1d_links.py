"""Which windowed convolution may hand its output on in the product's own memory: only where
the traced model shows that nothing but element-wise steps and another windowed convolution
reads it."""

from __future__ import annotations

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


def _convs(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if type(m) in (nn.Conv1d, nn.MaxPool1d)]


class Functional(nn.Module):
    """The functional style: convolutions as attributes, activations called in `forward`."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv1d(1, 8, 5, stride=2, padding=2)
        self.c2 = nn.Conv1d(8, 8, 3, stride=2, padding=1)
        self.c3 = nn.Conv1d(8, 8, 3, stride=2, padding=1)
        self.head = nn.Linear(8 * 5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.c1(x.unsqueeze(1)))
        x = torch.tanh(F.dropout(self.c2(x).relu_(), 0.1, self.training))
        x = F.gelu(self.c3(x))
        return self.head(x.view(x.shape[0], -1))


class ViewBetween(Functional):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.c1(x.unsqueeze(1)))
        x = x.view(x.shape[0], 8, -1)  # needs the contiguous layout
        return self.head(self.c3(self.c2(x)).flatten(1))


class ReadTwice(Functional):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c1(x.unsqueeze(1))
        skip = h[:, :, ::4]
        return self.head((self.c3(self.c2(h.relu())) + skip[:, :, :5]).flatten(1))


class CalledTwice(Functional):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c2(F.relu(self.c1(x.unsqueeze(1))))
        again = self.c2(h)  # c2's second output goes to the head
        return self.head(torch.cat([again, again[:, :, :2]], 2).flatten(1)[:, :40])


class Untraceable(nn.Module):
    """A data-dependent branch stops the trace; the Sequential inside can still be traced."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(1, 8, 5, stride=2, padding=2), nn.ReLU(), nn.Conv1d(8, 8, 3, stride=2)
        )
        self.other = nn.Conv1d(8, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x.unsqueeze(1))
        if h.sum() > 0:
            h = self.other(h)
        return h.view(h.shape[0], -1)


class StoresFeatures(Functional):
    """Keeps what it computed on the module (feature extraction, Grad-CAM)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.features = F.relu(self.c1(x.unsqueeze(1)))
        return self.head(F.relu(self.c3(F.relu(self.c2(self.features)))).flatten(1))


class FunctionalPools(nn.Module):
    """Pooling called in `forward`: it reads any strides and keeps its input's layout."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv1d(1, 8, 5, padding=2)
        self.c2 = nn.Conv1d(8, 8, 3, padding=1)
        self.c3 = nn.Conv1d(8, 8, 3, padding=1)
        self.head = nn.Linear(8 * 5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool1d(F.relu(self.c1(x.unsqueeze(1))), 2)
        x = F.avg_pool1d(F.relu(self.c2(x)), 2)
        x = F.max_pool1d(F.relu(self.c3(x)), 2)
        return self.head(x.view(x.shape[0], -1))


class AppendsFeatures(Functional):
    def __init__(self) -> None:
        super().__init__()
        self.acts: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.c1(x.unsqueeze(1)))
        self.acts.append(h)
        return self.head(F.relu(self.c3(F.relu(self.c2(h)))).flatten(1))


def _links(net: nn.Module) -> dict[str, str]:
    names = {m: n for n, m in net.named_modules()}
    return {
        names[p]: names[on_the_way[-1]]
        for p, (on_the_way, _) in layout_free_links(net, _convs(net)).items()
    }


def test_a_functional_forward_links_each_convolution_to_the_next() -> None:
    assert _links(Functional()) == {"c1": "c2", "c2": "c3"}
    assert _links(FunctionalPools()) == {"c1": "c2", "c2": "c3"}  # c3's pool output is viewed


@pytest.mark.parametrize(
    ("net", "expected"),
    [
        (ViewBetween(), {"c2": "c3"}),
        (ReadTwice(), {"c2": "c3"}),
        (CalledTwice(), {"c1": "c2"}),  # c2 reads any strides; its own outputs go on
        (Untraceable(), {"body.0": "body.2"}),
        (nn.Sequential(nn.Conv1d(1, 6, 3), nn.BatchNorm1d(6), nn.Conv1d(6, 6, 3)), {}),
        (
            nn.Sequential(nn.Conv1d(1, 6, 3), nn.MaxPool1d(2), nn.Conv1d(6, 6, 3)),
            {"0": "1", "1": "2"},
        ),
        (nn.Sequential(nn.Conv1d(1, 6, 3), nn.AvgPool1d(2), nn.Conv1d(6, 6, 3)), {"0": "2"}),
        (
            nn.Sequential(nn.Conv1d(1, 6, 3), nn.Sequential(nn.ReLU(), nn.Conv1d(6, 6, 3))),
            {"0": "1.1"},
        ),
    ],
    ids=[
        "view between",
        "read twice",
        "called twice",
        "untraceable root",
        "batch norm",
        "max pooling",
        "average pooling",
        "nested sequential",
    ],
)
def test_only_outputs_read_by_element_wise_steps_and_a_convolution_alone_are_linked(
    net: nn.Module, expected: dict[str, str]
) -> None:
    assert _links(net) == expected


def test_a_forward_that_keeps_a_value_gets_no_links_and_its_model_is_left_alone() -> None:
    """What a forward keeps (on the module, in a list) could reach anything; the trace runs on
    a copy, so no tracing value is left on the user's module or in a hook's list."""
    net = StoresFeatures()
    seen: list[object] = []
    net.c2.register_forward_hook(lambda m, i, o: seen.append(o))
    assert _links(net) == {}
    assert "features" not in vars(net) and seen == []
    keeps_in_a_list = AppendsFeatures()
    assert _links(keeps_in_a_list) == {}
    with convs_as_matmul_for_training(net):
        net(torch.randn(4, 40)).sum().backward()
    assert net.features.is_contiguous()
    assert len(seen) == 1 and seen[0].is_contiguous()


@pytest.mark.parametrize(
    "net_class", [Functional, FunctionalPools, ViewBetween, ReadTwice, CalledTwice, Untraceable]
)
def test_linked_models_train_as_the_library_does(net_class: type[nn.Module]) -> None:
    torch.manual_seed(0)
    net = net_class().double().eval()  # eval: no dropout, so both passes are the same function
    x = torch.randn(16, 40, dtype=torch.float64, requires_grad=True)
    leaves = [x, *net.parameters()]
    expected = torch.autograd.grad(net(x).square().sum(), leaves, allow_unused=True)
    with convs_as_matmul_for_training(net):
        got = torch.autograd.grad(net(x).square().sum(), leaves, allow_unused=True)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b)  # None (an unused layer) where the library's is None


def test_a_functional_models_linked_outputs_keep_the_products_memory() -> None:
    net = Functional()
    with convs_as_matmul_for_training(net):
        strides = saved_strides(lambda: net(torch.randn(16, 40)).sum().backward())
    assert (8 * 20, 1, 8) in strides and (8 * 10, 1, 8) in strides


class NoDropout(Functional):
    """Dropout between linked layers draws its mask in the product's memory order: the same
    distribution, other values than with the library's layout. Without it the fits agree."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.c1(x.unsqueeze(1)))
        x = F.gelu(self.c3(torch.tanh(self.c2(x))))
        return self.head(x.view(x.shape[0], -1))


def test_a_fit_of_a_functional_model_is_the_library_fit_up_to_rounding() -> None:
    """Through the whole pipeline, with the doctor's hooks on the first batch of each epoch:
    the same losses as the library's convolutions, and the user's model back unchanged."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    x = np.sin(np.outer(y + 1, np.linspace(0, 6.28, 40))) + 0.3 * rng.standard_normal((300, 40))
    frame = pd.DataFrame(x.astype(np.float32), columns=[f"t{i}" for i in range(40)]).assign(y=y)

    def fit(conv1d: str) -> trainwise.Result:
        torch.manual_seed(0)
        return trainwise.fit(
            frame,
            target="y",
            model=NoDropout(),
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


def test_a_functional_models_pools_keep_the_windows_memory() -> None:
    net = FunctionalPools()
    with convs_as_matmul_for_training(net):
        strides = saved_strides(lambda: net(torch.randn(16, 40)).sum().backward())
    # the ReLUs before the first two pools keep (N, L, C) memory; c3's output is viewed
    assert (8 * 40, 1, 8) in strides and (8 * 20, 1, 8) in strides
    assert (8 * 10, 10, 1) in strides


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
    and what it returns to the user's code is contiguous (its 1-D convolutions return that
    layout from any input), with the library's gradients."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv1d(1, 6, 3, padding=1), nn.ReLU(), nn.Conv1d(6, 4, 3)).double()
    x = torch.randn(8, 1, 20, dtype=torch.float64, requires_grad=True)
    leaves = [x, *net.parameters()]
    expected_out = net(x)
    expected = torch.autograd.grad(expected_out.square().sum(), leaves)
    # the first layer's windows (8 x 20 x 3 x 1 values) fit; the second's (8 x 18 x 3 x 6) not
    monkeypatch.setattr(eager_conv1d, "MAX_WINDOW_VALUES", 1000)
    with convs_as_matmul_for_training(net):
        out = net(x)
        got = torch.autograd.grad(out.square().sum(), leaves)
    assert out.is_contiguous() and out.view(8, -1).shape == (8, 72)
    torch.testing.assert_close(out, expected_out)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b)


class Block(nn.Module):
    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels_in, channels_out, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x))


def _blocks() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(Block(1, 8), Block(8, 8), nn.Flatten(), nn.Linear(8 * 20, 2))


def _any_rows(strides: list[tuple[int, ...]]) -> bool:
    return any(s[1] == 1 for s in strides)


def test_hooks_on_an_enclosing_block_see_contiguous_tensors_and_never_tracing_values() -> None:
    net = _blocks()
    seen: list[torch.Tensor] = []
    net[0].register_forward_hook(lambda m, i, o: seen.append(o))
    assert _links(net) == {"0.conv": "1.conv"}  # hooks are judged when the model runs
    assert seen == []  # the trace did not run the user's hook
    with convs_as_matmul_for_training(net):
        net(torch.randn(2, 1, 20)).sum().backward()
    assert len(seen) == 1 and seen[0].view(2, -1).shape == (2, 160)


def test_a_backward_hook_sees_contiguous_gradients() -> None:
    net = _blocks()
    grads: list[torch.Tensor] = []
    net[1].register_full_backward_hook(lambda m, gi, go: grads.extend([*gi, *go]))
    x = torch.randn(2, 1, 20, requires_grad=True)
    with convs_as_matmul_for_training(net):
        net(x).sum().backward()
    assert grads and all(g.is_contiguous() for g in grads)


def test_links_hold_only_inside_the_traced_forward_in_training_mode() -> None:
    """A part called alone (a callback, an auxiliary loss) or the model in eval mode with
    gradients on (its branches may differ from the traced ones) hands on contiguous outputs."""
    net = _blocks()
    x = torch.randn(2, 1, 20, requires_grad=True)
    with convs_as_matmul_for_training(net):
        assert _any_rows(saved_strides(lambda: net(x).sum().backward()))  # the traced pass: linked
        assert net[0](x).view(2, -1).shape == (2, 160)
        net.eval()
        assert not _any_rows(saved_strides(lambda: net(x).sum().backward()))
        net.train()
        net[1].eval()  # one part in another mode is enough
        assert not _any_rows(saved_strides(lambda: net(x).sum().backward()))


def test_a_lazy_module_leaves_the_model_untraced_without_an_error() -> None:
    net = nn.Sequential(nn.Conv1d(1, 4, 3), nn.ReLU(), nn.Conv1d(4, 4, 3), nn.LazyLinear(3))
    assert _links(net) == {}
    with convs_as_matmul_for_training(net):
        assert net(torch.randn(2, 1, 10)).shape == (2, 4, 3)


class AutocastPool(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv1d(4, 8, 3)
        self.c2 = nn.Conv1d(4, 4, 3)
        self.pool = nn.MaxPool1d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c1(F.relu(self.c2(x)))
        with torch.autocast("cpu", torch.bfloat16):
            h = self.pool(h)
        return h.view(h.shape[0], -1)


def test_a_pool_outside_the_training_pass_hands_on_a_contiguous_output() -> None:
    net = AutocastPool()
    assert _links(net) == {"c2": "c1", "c1": "pool"}
    with convs_as_matmul_for_training(net):
        assert net(torch.randn(2, 4, 20)).shape == (2, 8 * 8)
