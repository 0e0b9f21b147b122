"""Small 1-D convolutions as one matrix product each, with a hand-written backward pass.

Why: on a CPU, oneDNN's 1-D convolutions cost far more than their arithmetic when they are
small: a strided 32-channel layer of the benchmark CNN takes 0.5-0.7 ms forward and backward
for 4 MFLOP, and its backward pass alone is 2.5-4 times its forward. Gathering each output
position's input window into one row (the windows of a (batch, length, channels) copy are
contiguous runs of memory) turns the layer into one matrix product forward and two backward,
each near the CPU's peak. Measured per layer (docs/benchmarks.md): 0.4-0.9 of the library's
time for strided, pointwise and one-channel convolutions and for small ones; 1.1-1.4 for
stride-1 layers of 16 MFLOP or more, which are compute-bound either way, so those keep the
library call. The benchmark CNN's whole training step took 0.79 of its time on one thread.

The result is the same convolution up to float rounding (gradients agree to about 1e-7).
Only the forward passes of eager fp32 training steps on a CPU that will be followed by a
backward pass use it (`convs_as_matmul_for_training`): a forward pass alone (validation) is
where oneDNN does well. Autocast, GPUs, the compiled step (which rewrites convolutions itself)
and every pass after training keep the library call. Modules are switched per instance and
restored on leaving.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from copy import deepcopy
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from trainwise.models.rows_1d import RowConv1d
from trainwise.train.conv1d_links import LinkScope, layout_free_links
from trainwise.train.conv_as_matmul import plain_conv1d
from trainwise.train.rows_pool1d import (
    in_rows_layout,
    max_pool1d_rows,
    plain_max_pool1d,
)

# Above this many forward FLOPs a stride-1, multi-channel layer is compute-bound and oneDNN's
# direct convolution is as fast or faster than the gathered matrix product (measured per layer).
SMALL_LAYER_FLOPS = 8e6
# Windows above this many values (64 MiB of float32) stay with the library: they are kept for the
# backward pass, where the library keeps only the input (a 251-tap kernel would keep 251 copies).
MAX_WINDOW_VALUES = 2**24
# A layer given (N, L, C) memory by a linked one computes by windows at any size up to this many
# values (8 MiB): the library's call would need a transposing copy; larger windows would keep
# many times the memory the library keeps, layer after layer.
MAX_ROWS_WINDOW_VALUES = 2**21


class _WindowsMatmul(torch.autograd.Function):
    """(N, L, C) → (N, L_out, O): the input windows gathered into rows, times the kernel.

    With `ncl` the input and output are (N, C, L) / (N, O, L_out) instead. The input's gradient
    leaves in the input's own layout, so that it matches the tensors the neighbouring layers
    hold: a gradient in a mixed layout sends the next element-wise backward op down a path 20
    times slower. (With padding, an (N, L, C)-memory gradient's rows sit 2 × padding positions
    further apart than the input's: it is the padded scatter cut to length, and a copy to close
    the gaps cost more than the next op's reading around them.) The output is contiguous, or
    with `rows_out` a (N, O, L_out) tensor whose memory is (N, L_out, O): the product's own
    output, with no transposing copy forward or back, for a consumer that reads any strides
    (`train/conv1d_links.py`).
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        stride: int,
        padding: int,
        ncl: bool,
        rows_out: bool = False,
    ) -> torch.Tensor:
        rows = x.transpose(1, 2) if ncl else x
        n, length, channels = rows.shape
        out_channels, _, kernel = weight.shape
        padded_length = length + 2 * padding
        out_length = (padded_length - kernel) // stride + 1
        padded = F.pad(rows, (0, 0, padding, padding)) if padding else rows.contiguous()
        if kernel == 1:
            columns = padded[:, ::stride][:, :out_length].reshape(n * out_length, channels)
        else:  # each window is kernel × channels contiguous values of the padded copy
            columns = padded.as_strided(
                (n, out_length, kernel, channels),
                (padded_length * channels, stride * channels, channels, 1),
            ).reshape(n * out_length, kernel * channels)
        flat_weight = weight.permute(0, 2, 1).reshape(out_channels, kernel * channels)
        # the output must be a tensor of its own, not a view made here: autograd refuses
        # in-place changes (ReLU(inplace=True), `y += skip`) to a function's view outputs
        if ncl and not rows_out:
            out = _product_ncl(columns, flat_weight, bias, n, out_length)
        else:
            if ncl:  # (N, O, L_out) whose memory is the product's own (N, L_out, O)
                out = torch.empty_strided(
                    (n, out_channels, out_length),
                    (out_length * out_channels, 1, out_channels),
                    dtype=rows.dtype,
                    device=rows.device,
                )
                flat_out = out.transpose(1, 2).view(n * out_length, out_channels)
            else:
                out = rows.new_empty(n, out_length, out_channels)
                flat_out = out.view(n * out_length, out_channels)
            if bias is None:
                torch.mm(columns, flat_weight.t(), out=flat_out)
            else:
                torch.addmm(bias, columns, flat_weight.t(), out=flat_out)
        # a frozen kernel needs no weight gradient, so its windows (kernel × the input) go
        ctx.save_for_backward(columns if ctx.needs_input_grad[1] else None, flat_weight)
        # the input's own layout, for its gradient: (N, C, L) rows or (N, L, C) memory
        rows_in = ncl and channels > 1 and rows.is_contiguous()
        ctx.shape = (n, length, channels, kernel, stride, padding, out_length, ncl, rows_in)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        columns, flat_weight = ctx.saved_tensors
        n, length, channels, kernel, stride, padding, out_length, ncl, rows_in = ctx.shape
        out_channels = flat_weight.shape[0]
        if ncl and not in_rows_layout(grad):
            # a contiguous (N, O, L_out) gradient: (O, N·L_out) is a copy of whole runs, and the
            # products below read it transposed at no cost (a transposing copy is 1.5x slower)
            grad_rows = grad.transpose(0, 1).reshape(out_channels, n * out_length).t()
        else:
            grad_rows = (grad.transpose(1, 2) if ncl else grad).reshape(
                n * out_length, out_channels
            )
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[1]:
            # the smaller dimension first: MKL runs (5 × 1280) @ (1280 × 32) five times faster
            # than (32 × 1280) @ (1280 × 5)
            if kernel * channels < out_channels:
                by_tap = (columns.t() @ grad_rows).view(kernel, channels, out_channels)
                grad_weight = by_tap.permute(2, 1, 0).contiguous()
            else:
                by_out = (grad_rows.t() @ columns).view(out_channels, kernel, channels)
                grad_weight = by_out.transpose(1, 2).contiguous()
        if ctx.needs_input_grad[2]:
            grad_bias = grad_rows.sum(0)
        if ctx.needs_input_grad[0]:
            # each window's share goes back onto the input positions it was gathered from, in
            # one scatter over the padded length; the padding's own share is then cut away
            grad_columns = torch.mm(grad_rows, flat_weight).view(n, out_length * kernel, channels)
            positions = _window_positions(out_length, kernel, stride, grad.device)
            grad_padded = grad_rows.new_zeros(n, length + 2 * padding, channels)
            grad_x = grad_padded.index_add_(1, positions, grad_columns)[
                :, padding : padding + length
            ]
            if ncl:
                grad_x = grad_x.transpose(1, 2)
                if not rows_in:
                    grad_x = grad_x.contiguous()
            else:
                grad_x = grad_x.contiguous()
        return grad_x, grad_weight, grad_bias, None, None, None, None


@functools.lru_cache(maxsize=64)
def _window_positions(
    out_length: int, kernel: int, stride: int, device: torch.device
) -> torch.Tensor:
    """The padded input position of each (output position, tap) of the windows, in the order
    of their rows: output position j's tap t read position j * stride + t."""
    starts = torch.arange(out_length, device=device)[:, None] * stride
    return (starts + torch.arange(kernel, device=device)).reshape(-1)


def _product_ncl(
    columns: torch.Tensor,
    flat_weight: torch.Tensor,
    bias: torch.Tensor | None,
    n: int,
    out_length: int,
) -> torch.Tensor:
    """The windows times the kernel as a contiguous (N, O, L_out) tensor. The product is taken
    as (O, N·L_out) and one copy then moves whole runs of L_out values into place: a product
    reads its operands in either order at full speed, while a transposing copy moves one value
    at a time (a 25-channel layer of the MNIST-1D authors' CNN: 60 against 80 µs)."""
    if bias is None:
        out_t = torch.mm(flat_weight, columns.t())
    else:
        out_t = torch.addmm(bias.unsqueeze(1), flat_weight, columns.t())
    out = out_t.view(flat_weight.shape[0], n, out_length).transpose(0, 1)
    return out.clone(memory_format=torch.contiguous_format)  # its own tensor, also when n == 1


def conv1d_by_windows(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: int = 1,
    padding: int = 0,
    rows_out: bool = False,
) -> torch.Tensor:
    """`F.conv1d(x, weight, bias, stride, padding)` for a (N, C, L) input, groups 1, dilation 1.

    With `rows_out` the output's memory is (N, L_out, O): only for a consumer that reads any
    strides, as a user's `.view(batch, -1)` does not.
    """
    return _WindowsMatmul.apply(x, weight, bias, stride, padding, True, rows_out)


def row_conv1d_by_windows(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: int = 1,
    padding: int = 0,
) -> torch.Tensor:
    """The same for `RowConv1d`'s (N, C, 1, L) channels-last layout, in which the windows and the
    product's output are already where they belong: no transposes at all."""
    n, channels, _, length = x.shape
    rows = x.permute(0, 2, 3, 1).reshape(n, length, channels)
    out = _WindowsMatmul.apply(rows, weight, bias, stride, padding, False)
    return out.unsqueeze(1).permute(0, 3, 1, 2)


def windows_fit(conv: nn.Conv1d, batch: int, length: int, max_values: int | None = None) -> bool:
    """Whether the window product can take this layer and input at all: windows over
    `max_values` (they are kernel × the input, kept for the backward pass) and inputs shorter
    than the kernel (the library's error names them) stay with the library."""
    (kernel,), (padding,) = conv.kernel_size, conv.padding
    if length + 2 * padding < kernel:
        return False
    limit = MAX_WINDOW_VALUES if max_values is None else max_values
    return batch * _out_length(conv, length) * kernel * conv.in_channels <= limit


def gathers_well(conv: nn.Conv1d, batch: int, length: int) -> bool:
    """Whether the window product beats the library call for this layer and input.

    Strided, pointwise and one-channel layers, and any layer under `SMALL_LAYER_FLOPS`, are
    bound by per-call overhead and data movement that the product avoids; larger stride-1
    layers are compute-bound, where oneDNN's direct convolution is as fast or faster (from a
    contiguous input; see `_WindowedForward` for one already in (N, L, C) memory).
    """
    if not windows_fit(conv, batch, length):
        return False
    (kernel,), (stride,) = conv.kernel_size, conv.stride
    out_length = _out_length(conv, length)
    if stride > 1 or kernel == 1 or conv.in_channels == 1:
        return True
    flops = 2 * batch * out_length * conv.out_channels * conv.in_channels * kernel
    return flops < SMALL_LAYER_FLOPS


@contextmanager
def convs_as_matmul_for_training(model: nn.Module, enabled: bool = True) -> Iterator[None]:
    """While inside, the model's plain 1-D convolutions that `gathers_well` compute by windows,
    and its plain `nn.MaxPool1d` layers pool the windows' memory as it is (`rows_pool1d`).

    Set per module instance and removed on leaving, so the model's class, parameters and
    everything after training (prediction, export) stay the library's. A module that already
    has a forward of its own is left alone.
    """
    kinds = (nn.Conv1d, RowConv1d)
    fresh = [m for m in model.modules() if "forward" not in vars(m)] if enabled else []
    convs = [m for m in fresh if plain_conv1d(m, kinds)]
    pools = [m for m in fresh if plain_max_pool1d(m)]
    links = layout_free_links(model, convs + pools)
    roots = list({id(scope): scope for _, scope in links.values()}.values())
    for conv in convs:
        conv.forward = _WindowedForward(conv, *links.get(conv, ((), None)))  # type: ignore[method-assign]
    for pool in pools:
        pool.forward = _PooledForward(pool, *links.get(pool, ((), None)))  # type: ignore[method-assign]
    for scope in roots:
        scope.root.forward = scope  # type: ignore[method-assign]
    try:
        yield
    finally:
        for module in [*convs, *pools, *(scope.root for scope in roots)]:
            if isinstance(
                vars(module).get("forward"), (_WindowedForward, _PooledForward, LinkScope)
            ):
                del module.forward  # not a forward set inside by someone else


def _out_length(conv: nn.Conv1d, length: int) -> int:
    (kernel,), (stride,), (padding,) = conv.kernel_size, conv.stride, conv.padding
    return (length + 2 * padding - kernel) // stride + 1


def _rows_out(link: tuple[nn.Module, ...], scope: LinkScope | None, channels: int) -> bool:
    """Whether an output can stay in (N, L, C) memory: a link leads to a reader (a switched
    convolution or pooling layer, which take that memory at any size) and its `nn.Sequential`
    is running as linked (`LinkScope`). One channel is both layouts: nothing to gain."""
    return bool(link) and scope is not None and scope.open and channels > 1


def _training_pass(x: torch.Tensor, weight: torch.Tensor | None = None) -> bool:
    """A forward pass a backward pass will follow, outside autocast: where the window product
    and the rows pooling pay. A forward pass alone (validation) is the library's strength:
    800 validation rows of the benchmark CNN took 3.2 ms against 4.6 by windows."""
    wants_grad = x.requires_grad or (weight is not None and weight.requires_grad)
    return torch.is_grad_enabled() and wants_grad and not torch.is_autocast_enabled(x.device.type)


class _WindowedForward:
    """The forward pass set on each switched module. An object holding the module (not a
    closure), so that a deep copy of the model made inside (an averaged model, a snapshot)
    computes with its own weights, and such a copy can still be saved."""

    def __init__(
        self, conv: nn.Conv1d, link: tuple[nn.Module, ...] = (), scope: LinkScope | None = None
    ) -> None:
        self.conv = conv
        self.link = link  # the modules on the way, then the one that reads the output
        self.scope = scope

    def __deepcopy__(self, memo: dict[int, Any]) -> _WindowedForward:
        """A copy computes by windows with its own weights but holds no links (`LinkScope`)."""
        return _WindowedForward(deepcopy(self.conv, memo))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        conv = self.conv
        (stride,), (padding,) = conv.stride, conv.padding
        if _training_pass(x, conv.weight):
            if x.ndim == 3:
                n, _, length = x.shape
                rows_in = in_rows_layout(x)
                # an input already in (N, L, C) memory (a linked output) needs no transposing
                # copy: stride-1 layers of 39-126 MFLOP then took 0.49-1.22 of the library's
                # time from the same input (docs/benchmarks.md), so windows up to 8 MiB pay
                if gathers_well(conv, n, length) or (
                    rows_in and windows_fit(conv, n, length, MAX_ROWS_WINDOW_VALUES)
                ):
                    rows_out = _rows_out(self.link, self.scope, conv.out_channels)
                    return conv1d_by_windows(x, conv.weight, conv.bias, stride, padding, rows_out)
            if (
                x.ndim == 4
                and type(conv) is RowConv1d
                and x.shape[2] == 1
                and gathers_well(conv, x.shape[0], x.shape[3])
            ):
                return row_conv1d_by_windows(x, conv.weight, conv.bias, stride, padding)
        return type(conv).forward(conv, x)


class _PooledForward:
    """The forward pass set on each switched `nn.MaxPool1d`: an input in (N, L, C) memory (a
    linked convolution's output) is pooled as it is; any other input takes the library's call."""

    def __init__(
        self, pool: nn.MaxPool1d, link: tuple[nn.Module, ...] = (), scope: LinkScope | None = None
    ) -> None:
        self.pool = pool
        self.link = link
        self.scope = scope

    def __deepcopy__(self, memo: dict[int, Any]) -> _PooledForward:
        return _PooledForward(deepcopy(self.pool, memo))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        pool = self.pool
        if not in_rows_layout(x):
            return type(pool).forward(pool, x)
        if _training_pass(x):
            return max_pool1d_rows(pool, x, _rows_out(self.link, self.scope, x.shape[1]))
        # the library keeps the layout, and this output may go anywhere (autocast, no_grad)
        return type(pool).forward(pool, x).contiguous()
