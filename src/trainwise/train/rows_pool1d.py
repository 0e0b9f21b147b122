"""1-D max pooling of a (batch, length, channels)-memory input, for training steps on a CPU.

Why: with gradients on, `F.max_pool1d` of a contiguous (batch, channels, length) tensor runs
the 2-D kernel over batch × channels planes of one row each, and the per-plane work dominates:
0.4–0.9 ms forward and backward for 64 × 32 × 40 values, where a forward pass without
gradients takes 0.04 ms. The same kernel over the channels-last layout runs along the channels
instead: about 0.13 ms. A windowed convolution (`train/eager_conv1d.py`) already computes its
output in that memory, so a pooling layer it links to (`train/conv1d_links.py`) reads it
as it is. The values and gradients are the library's exactly (the same kernel, the same ties).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.autograd.function import once_differentiable

aten = torch.ops.aten


def plain_max_pool1d(module: nn.Module) -> bool:
    """An `nn.MaxPool1d` itself (a subclass may change the forward pass) that returns no indices."""
    return type(module) is nn.MaxPool1d and not module.return_indices


def in_rows_layout(x: torch.Tensor) -> bool:
    """A (batch, channels, length) tensor whose memory is (batch, length, channels)."""
    return x.ndim == 3 and x.shape[1] > 1 and x.stride(1) == 1 and x.stride(2) == x.shape[1]


def max_pool1d_rows(pool: nn.MaxPool1d, x: torch.Tensor, rows_out: bool) -> torch.Tensor:
    """`pool(x)` for an `in_rows_layout` input; the output contiguous, or with `rows_out` in the
    (batch, length, channels) memory too (for a reader that takes any strides)."""
    return _RowsMaxPool.apply(x, pool, rows_out)


def _sizes(pool: nn.MaxPool1d) -> tuple[int, int, int, int]:
    def one(value: Any) -> int:
        return int(value[0] if isinstance(value, (tuple, list)) else value)

    stride = pool.stride if pool.stride is not None else pool.kernel_size
    return one(pool.kernel_size), one(stride), one(pool.padding), one(pool.dilation)


class _RowsMaxPool(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, x: torch.Tensor, pool: nn.MaxPool1d, rows_out: bool
    ) -> torch.Tensor:
        kernel, stride, padding, dilation = _sizes(pool)
        planes = x.unsqueeze(2)  # (N, C, 1, L), channels-last in memory
        settings = ([1, kernel], [1, stride], [0, padding], [1, dilation], pool.ceil_mode)
        out, indices = aten.max_pool2d_with_indices(planes, *settings)
        ctx.save_for_backward(planes, indices)
        ctx.settings = settings
        out = out.squeeze(2)
        return out if rows_out else out.contiguous()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, None, None]:
        planes, indices = ctx.saved_tensors
        # the gradient in the layout of the saved values: a mixed pair takes the slow path
        grad_planes = grad.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        grad_x = aten.max_pool2d_with_indices_backward(grad_planes, planes, *ctx.settings, indices)
        return grad_x.squeeze(2), None, None
