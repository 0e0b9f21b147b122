"""Small 1-D convolutions computed by gathered windows: the library's results, the library's
model afterwards, and only where the run is eager fp32 on a CPU."""

from __future__ import annotations

import itertools
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
from trainwise.models.cnn1d import CNN1D
from trainwise.models.rows_1d import RowConv1d, as_rows
from trainwise.train.eager_conv1d import (
    conv1d_by_windows,
    convs_as_matmul_for_training,
    gathers_well,
    row_conv1d_by_windows,
)

CASES = list(
    itertools.product(
        [1, 3],  # in channels
        [1, 2, 3, 5],  # kernel
        [1, 2, 3],  # stride
        [0, 1, 2],  # padding
        [7, 8],  # length: windows that do and do not end on the last position
        [True, False],  # bias
    )
)


@pytest.mark.parametrize(("channels", "kernel", "stride", "padding", "length", "bias"), CASES)
def test_windowed_convolutions_equal_the_library_forward_and_backward(
    channels: int, kernel: int, stride: int, padding: int, length: int, bias: bool
) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4, channels, length, dtype=torch.float64, generator=gen, requires_grad=True)
    w = torch.randn(5, channels, kernel, dtype=torch.float64, generator=gen, requires_grad=True)
    b = torch.randn(5, dtype=torch.float64, generator=gen, requires_grad=True) if bias else None
    leaves = [x, w] + ([b] if b is not None else [])
    expected = F.conv1d(x, w, b, stride, padding)
    upstream = torch.randn(expected.shape, dtype=torch.float64, generator=gen)
    expected_grads = torch.autograd.grad(expected, leaves, upstream)

    as_ncl = conv1d_by_windows(x, w, b, stride, padding)
    rows_in = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
    as_rows_out = row_conv1d_by_windows(rows_in, w, b, stride, padding)
    assert as_rows_out.is_contiguous(memory_format=torch.channels_last)
    for out in (as_ncl, as_rows_out.squeeze(2)):
        torch.testing.assert_close(out, expected)
        for got, want in zip(
            torch.autograd.grad(out, leaves, upstream), expected_grads, strict=True
        ):
            torch.testing.assert_close(got, want)


def test_gradients_leave_in_the_layout_the_neighbouring_layers_hold() -> None:
    """A transposed gradient would send the next element-wise backward op down a slow path."""
    x = torch.randn(8, 4, 12, requires_grad=True)
    w = torch.randn(6, 4, 3, requires_grad=True)
    out = conv1d_by_windows(x, w, None, 1, 1)
    assert out.is_contiguous()
    seen = []
    x.register_hook(lambda g: seen.append(g.is_contiguous()))
    out.relu().sum().backward()
    assert seen == [True]


@pytest.mark.parametrize("padding", [0, 1])
def test_an_input_in_rows_layout_gets_its_gradient_in_that_layout(padding: int) -> None:
    """(N, L, C) data transposed for a 1-D convolution: the gradient's memory is (N, L, C) too,
    length then channels within each row (with padding, rows may sit further apart: the
    padded scatter's rows, cut to length without a copy)."""
    x = torch.randn(8, 12, 4, dtype=torch.float64).transpose(1, 2).requires_grad_()
    w = torch.randn(6, 4, 3, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(8, 6, 5 + padding, dtype=torch.float64)
    expected = torch.autograd.grad(F.conv1d(x, w, None, 2, padding), [x, w], upstream)
    seen = []
    x.register_hook(lambda g: seen.append(g.stride()))
    got = torch.autograd.grad(conv1d_by_windows(x, w, None, 2, padding), [x, w], upstream)
    ((batch, channel, position),) = seen
    assert (channel, position) == x.stride()[1:] and batch >= x.stride(0)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b)


def _chain() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv1d(1, 6, 5, stride=2, padding=2),
        nn.ReLU(inplace=True),
        nn.Conv1d(6, 6, 3, stride=2, padding=1),
        nn.Dropout(0.0),
        nn.GELU(),
        nn.Conv1d(6, 4, 3, stride=2, padding=1),
        nn.ReLU(),
    ).double()


def test_a_plain_sequential_hands_each_convolutions_rows_to_the_next_one() -> None:
    """Between two windowed convolutions of a plain `nn.Sequential`, with only element-wise
    modules between them, the output stays in the product's (N, L, C) memory; the results are
    the library's and the Sequential's own output is contiguous, so `.view` works on it."""
    net = _chain()
    x = torch.randn(16, 1, 40, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(16, 4, 5, dtype=torch.float64)
    leaves = [x, *net.parameters()]
    expected_out = net(x)
    expected = torch.autograd.grad(expected_out, leaves, upstream)
    with convs_as_matmul_for_training(net):
        outs = []
        strides = saved_strides(lambda: outs.append(net(x)))
        (out,) = outs
        got = torch.autograd.grad(out, leaves, upstream)
    assert out.is_contiguous() and out.view(16, -1).shape == (16, 20)
    torch.testing.assert_close(out, expected_out)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b)
    # the ReLU and GELU between the convolutions keep (N, C, L) tensors of (N, L, C) memory
    assert (6 * 20, 1, 6) in strides and (6 * 10, 1, 6) in strides


def test_a_hooked_module_between_sees_the_contiguous_layout() -> None:
    """A user's forward hook may `.view` what it is given, also one a callback adds during
    training."""
    net = _chain()
    seen = []
    x = torch.randn(16, 1, 40, dtype=torch.float64, requires_grad=True)
    with convs_as_matmul_for_training(net):
        net(x).sum().backward()
        net[4].register_forward_hook(lambda m, i, o: seen.append(o.view(o.shape[0], -1).shape))
        net(x).sum().backward()
    assert seen == [(16, 60)]


def test_a_frozen_kernel_or_an_input_without_grad_gets_only_the_gradient_asked_for() -> None:
    """A frozen kernel keeps no windows for the backward pass; the input's gradient must still
    be the library's (and the weight's, when only the weight asks for one)."""
    x = torch.randn(2, 3, 9, requires_grad=True)
    w = torch.randn(4, 3, 3, requires_grad=True)
    frozen = conv1d_by_windows(x, w.detach(), None, 2, 1)
    (grad_x,) = torch.autograd.grad(frozen.square().sum(), [x])
    expected_x = torch.autograd.grad(F.conv1d(x, w.detach(), None, 2, 1).square().sum(), [x])[0]
    torch.testing.assert_close(grad_x, expected_x)
    fixed_input = x.detach()
    out = conv1d_by_windows(fixed_input, w, None, 2, 1)
    (grad_w,) = torch.autograd.grad(out.square().sum(), [w])
    expected_w = torch.autograd.grad(F.conv1d(fixed_input, w, None, 2, 1).square().sum(), [w])[0]
    torch.testing.assert_close(grad_w, expected_w)


def test_large_stride_one_layers_keep_the_library_call_and_small_ones_do_not() -> None:
    wide = nn.Conv1d(64, 64, 3, padding=1)
    assert not gathers_well(wide, batch=64, length=40)  # 31 MFLOP, compute-bound
    assert gathers_well(wide, batch=2, length=40)
    assert gathers_well(nn.Conv1d(64, 64, 3, stride=2, padding=1), batch=64, length=40)
    assert gathers_well(nn.Conv1d(64, 64, 1), batch=64, length=40)
    assert gathers_well(nn.Conv1d(1, 64, 5, padding=2), batch=64, length=400)


def test_the_model_is_the_library_one_again_after_training() -> None:
    torch.manual_seed(0)
    net = CNN1D(length=24, out_features=3, channels=(4, 8), dropout=0.0).eval()
    x = torch.randn(5, 24)
    before = net(x)
    plain_user_conv = nn.Conv1d(2, 3, 3, stride=2)
    with convs_as_matmul_for_training(net), convs_as_matmul_for_training(plain_user_conv):
        inside = net(x)
        assert "forward" in vars(net.stem[0])
        torch.testing.assert_close(
            plain_user_conv(torch.ones(1, 2, 9)),
            F.conv1d(torch.ones(1, 2, 9), plain_user_conv.weight, plain_user_conv.bias, 2),
        )
    torch.testing.assert_close(inside, before)
    assert not any("forward" in vars(m) for m in net.modules())
    assert "forward" not in vars(plain_user_conv)
    assert type(net.stem[0]) is RowConv1d


def test_only_passes_that_a_backward_pass_follows_compute_by_windows() -> None:
    """A forward pass alone (validation) is where the library is fast."""
    conv = nn.Conv1d(4, 8, 3, stride=2, padding=1)
    x = torch.randn(16, 4, 20)
    with convs_as_matmul_for_training(conv):
        training = profiled_ops(lambda: conv(x).sum().backward())
        with torch.no_grad():
            evaluating = profiled_ops(lambda: conv(x))
        conv.requires_grad_(False)
        frozen = profiled_ops(lambda: conv(x))
    assert "aten::convolution" not in training and "aten::mm" in training
    assert "aten::convolution" in evaluating
    assert "aten::convolution" in frozen


def test_a_copy_made_inside_computes_with_its_own_weights() -> None:
    """An averaged model or a snapshot deep-copied during training must not share weights."""
    conv = nn.Conv1d(2, 3, 3, stride=2)
    x = torch.randn(4, 2, 9)
    with convs_as_matmul_for_training(conv):
        twin = deepcopy(conv)
        with torch.no_grad():
            twin.weight.mul_(2)
        torch.testing.assert_close(twin(x), F.conv1d(x, twin.weight, twin.bias, 2))
        torch.testing.assert_close(conv(x), F.conv1d(x, conv.weight, conv.bias, 2))


@pytest.mark.parametrize(
    ("conv", "x"),
    [
        (nn.Conv1d(3, 1, 3), torch.randn(2, 3, 9)),  # one output channel
        (nn.Conv1d(3, 4, 3), torch.randn(2, 3, 3)),  # one output position
        (nn.Conv1d(3, 4, 3, stride=2), torch.randn(2, 3, 9)),
        (nn.Conv1d(3, 4, 3, stride=2), torch.randn(1, 3, 9)),  # one row: (O, 1, L) is (1, O, L)
        (RowConv1d(3, 4, 3, stride=2), as_rows(torch.randn(2, 3, 9))),
    ],
)
def test_outputs_can_be_changed_in_place_as_the_librarys_can(conv: nn.Conv1d, x: torch.Tensor):
    """ReLU(inplace=True) or `y += skip` right after a convolution."""
    x = x.requires_grad_()
    expected = conv(x).relu()
    (expected_grad,) = torch.autograd.grad(expected.sum(), [x])
    with convs_as_matmul_for_training(conv):
        y = conv(x)
        y.relu_()
    torch.testing.assert_close(y, expected)
    torch.testing.assert_close(torch.autograd.grad(y.sum(), [x])[0], expected_grad)


def test_bad_inputs_get_the_librarys_own_errors() -> None:
    short = nn.Conv1d(3, 4, 5, stride=2)
    plain_conv = nn.Conv1d(3, 4, 3)
    with convs_as_matmul_for_training(short), convs_as_matmul_for_training(plain_conv):
        with pytest.raises(RuntimeError, match=r"[Kk]ernel size"):
            short(torch.randn(2, 3, 3))
        with pytest.raises(RuntimeError, match="3D"):  # a plain Conv1d takes no 4-D input
            plain_conv(torch.randn(2, 3, 1, 9))


def test_autocast_inside_keeps_the_library_call() -> None:
    conv = nn.Conv1d(4, 8, 3, stride=2, padding=1)
    x = torch.randn(16, 4, 20)
    with convs_as_matmul_for_training(conv), torch.autocast("cpu", torch.bfloat16):
        ops = profiled_ops(lambda: conv(x).float().sum().backward())
    assert "aten::convolution" in ops


def test_a_copy_made_inside_keeps_a_forward_of_its_own_that_can_be_serialised() -> None:
    """A snapshot deep-copied during training, then saved whole with `torch.save` by the
    user: its switched forward must refer to the copy and serialise with it."""
    conv = nn.Conv1d(2, 3, 3, stride=2)
    with convs_as_matmul_for_training(conv):
        twin = deepcopy(conv)
    assert vars(twin)["forward"].conv is twin
    assert pickle.dumps(twin)  # serialising only; nothing is loaded back


def test_convolutions_it_cannot_compute_keep_the_library_call() -> None:
    grouped = nn.Conv1d(4, 4, 3, groups=2)
    dilated = nn.Conv1d(4, 4, 3, dilation=2)
    circular = nn.Conv1d(4, 4, 3, padding=1, padding_mode="circular")
    same = nn.Conv1d(4, 4, 3, padding="same")
    net = nn.Sequential(grouped, dilated, circular, same)
    with convs_as_matmul_for_training(net):
        assert not any("forward" in vars(m) for m in net)
    row = RowConv1d(4, 4, 3, padding=1)
    x = as_rows(torch.randn(2, 4, 10))
    with convs_as_matmul_for_training(row):
        torch.testing.assert_close(
            row(x.squeeze(2)), F.conv1d(x.squeeze(2), row.weight, row.bias, 1, 1)
        )


def _sequences(n: int = 400, length: int = 32) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n)
    t = np.linspace(0, 6.28, length)
    x = np.sin(np.outer(y + 1, t)) + 0.3 * rng.standard_normal((n, length))
    frame = pd.DataFrame(x.astype(np.float32), columns=[f"t{i}" for i in range(length)])
    return frame.assign(y=y)


class TinyConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 8, 5, stride=2, padding=2)
        self.head = nn.Linear(8 * 16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x.unsqueeze(1)).relu().flatten(1))


class WatchConvs(trainwise.Callback):
    """Records, each epoch, whether the model's convolution was switched to windows."""

    def __init__(self) -> None:
        self.windowed: list[bool] = []

    def on_epoch_end(self, state, logs) -> None:  # type: ignore[no-untyped-def]
        self.windowed.append("forward" in vars(state.model.conv))


def _fit(frame: pd.DataFrame, **options: object) -> tuple[trainwise.Result, list[bool]]:
    watch = WatchConvs()
    torch.manual_seed(0)  # the same initial weights for every run
    result = trainwise.fit(
        frame,
        target="y",
        model=TinyConvNet(),
        epochs=3,
        seed=0,
        save=False,
        batch_size=32,
        progress=False,
        doctor={"enabled": False},
        early_stopping={"enabled": False},
        callbacks=[watch],
        **options,
    )
    return result, watch.windowed


def test_an_fp32_cpu_fit_trains_by_windows_and_ends_with_the_library_model() -> None:
    frame = _sequences()
    windowed, seen = _fit(frame, precision="fp32")
    library, seen_library = _fit(frame, precision="fp32", conv1d="library")
    assert seen == [True, True, True]
    assert seen_library == [False, False, False]
    assert "forward" not in vars(windowed.model.conv)
    # the same training up to float rounding
    for a, b in zip(windowed.history, library.history, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
    torch.testing.assert_close(
        windowed.model.conv.weight, library.model.conv.weight, rtol=1e-4, atol=1e-5
    )
    assert windowed.metrics["test"]["accuracy"] == library.metrics["test"]["accuracy"]


def test_autocast_keeps_the_library_convolutions() -> None:
    frame = _sequences(200)
    _, seen_bf16 = _fit(frame, precision="bf16")
    assert seen_bf16 == [False, False, False]
