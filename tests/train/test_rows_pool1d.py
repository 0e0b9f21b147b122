"""Max pooling of a linked convolution's (batch, length, channels) memory: the library's values
and gradients exactly, in the layout each neighbour needs."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from layout_probes import saved_strides
from trainwise.train.eager_conv1d import convs_as_matmul_for_training
from trainwise.train.rows_pool1d import in_rows_layout, max_pool1d_rows

SETTINGS = [
    (kernel, stride, padding, dilation, ceil_mode)
    for kernel, stride, padding, dilation, ceil_mode in itertools.product(
        [1, 2, 3],  # kernel
        [None, 1, 2],  # stride (None: the kernel size)
        [0, 1],  # padding
        [1, 2],  # dilation
        [False, True],  # ceil mode
    )
    if padding <= kernel // 2  # the library refuses more
]


@pytest.mark.parametrize(("kernel", "stride", "padding", "dilation", "ceil_mode"), SETTINGS)
@pytest.mark.parametrize("rows_out", [False, True])
def test_rows_pooling_is_the_librarys_exactly(
    kernel: int, stride: int | None, padding: int, dilation: int, ceil_mode: bool, rows_out: bool
) -> None:
    pool = nn.MaxPool1d(kernel, stride, padding, dilation, ceil_mode=ceil_mode)
    gen = torch.Generator().manual_seed(0)
    # repeated values: ties must send the gradient where the library sends it
    values = torch.randint(0, 4, (3, 11, 5), generator=gen).double()
    x = values.transpose(1, 2).requires_grad_()  # (N, C, L) in (N, L, C) memory
    assert in_rows_layout(x)
    expected = pool(x.contiguous())
    upstream = torch.randn(expected.shape, dtype=torch.float64, generator=gen)
    (expected_grad,) = torch.autograd.grad(expected, [x], upstream)
    out = max_pool1d_rows(pool, x, rows_out)
    assert in_rows_layout(out) if rows_out else out.is_contiguous()
    assert torch.equal(out, expected)
    (grad,) = torch.autograd.grad(out, [x], upstream)
    assert torch.equal(grad, expected_grad)
    assert grad.stride() == x.stride()  # the input's own layout


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv1d(1, 6, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool1d(2),
        nn.Conv1d(6, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool1d(2),
        nn.Flatten(),
        nn.Linear(8 * 10, 3),
    ).double()


def test_a_conv_and_pool_network_trains_as_the_library_does_in_the_windows_memory() -> None:
    net = _net()
    x = torch.randn(16, 1, 40, dtype=torch.float64, requires_grad=True)
    leaves = [x, *net.parameters()]
    expected = torch.autograd.grad(net(x).square().sum(), leaves)
    pooled_inputs = []
    net[5].register_forward_pre_hook(lambda m, args: pooled_inputs.append(args[0].stride()))
    with convs_as_matmul_for_training(net):
        got = torch.autograd.grad(net(x).square().sum(), leaves)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b)
    assert pooled_inputs == [(8 * 20, 20, 1)]  # the hook on it kept the contiguous layout


def test_the_pools_of_a_plain_network_read_the_windows_memory() -> None:
    net = _net()
    x = torch.randn(16, 1, 40, dtype=torch.float64, requires_grad=True)
    with convs_as_matmul_for_training(net):
        # the pools' inputs, kept as (N, C, 1, L)
        strides = saved_strides(lambda: net(x).sum().backward(), ndim=4)
    assert strides == [(6 * 40, 1, 6 * 40, 6), (8 * 20, 1, 8 * 20, 8)]


def test_pooling_that_is_not_linked_or_asks_for_indices_keeps_the_library_call() -> None:
    with_indices = nn.MaxPool1d(2, return_indices=True)
    plain = nn.MaxPool1d(2)
    x = torch.randn(4, 3, 10, requires_grad=True)
    with convs_as_matmul_for_training(with_indices), convs_as_matmul_for_training(plain):
        out, _ = with_indices(x)
        assert torch.equal(out, F.max_pool1d(x, 2))
        assert "forward" not in vars(with_indices)
        assert plain(x).is_contiguous()  # a contiguous input: the library's call
        with torch.no_grad():
            rows = x.transpose(1, 2).contiguous().transpose(1, 2)
            assert torch.equal(plain(rows), F.max_pool1d(x, 2))  # no gradient: the library's
        with torch.autocast("cpu", torch.bfloat16):
            # the library's call keeps the layout under autocast; this output may go anywhere
            pooled = plain(x.transpose(1, 2).contiguous().transpose(1, 2))
        assert pooled.is_contiguous() and torch.equal(pooled, F.max_pool1d(x, 2))
    assert "forward" not in vars(plain)
