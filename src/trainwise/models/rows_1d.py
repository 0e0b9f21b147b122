"""1-D convolution and batch norm that run on (batch, channels, 1, length) channels-last tensors.

Why: a 1-D convolution on a (batch, channels, length) tensor makes oneDNN reorder its input and
output to and from its own blocked layout on every call, and batch norm on that layout strides
through memory one channel at a time. Held as a one-row image in channels-last order, the same
arithmetic runs as 2-D convolutions straight on oneDNN's preferred layout, and batch norm reads
each position's channels contiguously. On the default MNIST-1D network a training step took
22.4 ms in the 1-D layout and 18.8 ms in this one (2 threads, an AVX2 EPYC; docs/benchmarks.md).

The modules are `nn.Conv1d` and `nn.BatchNorm1d` with the same parameters, buffers and state-dict
shapes, so initialisation, saved weights and diagnostics see ordinary 1-D layers; only the
layout of the activations between them differs. Given a 3-D input they behave exactly as their
parents.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def as_rows(x: torch.Tensor) -> torch.Tensor:
    """(batch, channels, length) → (batch, channels, 1, length), channels-last in memory."""
    return x.unsqueeze(2).contiguous(memory_format=torch.channels_last)


class RowConv1d(nn.Conv1d):
    """`nn.Conv1d` that also takes the (batch, channels, 1, length) layout of `as_rows`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            return super().forward(x)
        if self.padding_mode != "zeros":  # padding modes other than zeros: the 1-D path
            return super().forward(x.squeeze(2)).unsqueeze(2)
        padding = self.padding if isinstance(self.padding, str) else (0, self.padding[0])
        weight = self.weight.unsqueeze(2)
        out = F.conv2d(
            x, weight, self.bias, (1, self.stride[0]), padding, (1, self.dilation[0]), self.groups
        )
        # with one input channel both operands' layouts are ambiguous and the output comes back
        # channels-first: put it in the layout every following layer expects (else a no-op)
        return out.contiguous(memory_format=torch.channels_last)


class RowBatchNorm1d(nn.BatchNorm1d):
    """`nn.BatchNorm1d` that also takes the (batch, channels, 1, length) layout of `as_rows`
    (batch norm's arithmetic is the same per channel whatever the trailing dimensions)."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() not in (2, 3, 4):
            raise ValueError(f"expected 2D, 3D or 4D input (got {input.dim()}D input)")
