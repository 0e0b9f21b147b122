"""The one-row channels-last 1-D layers compute what nn.Conv1d / nn.BatchNorm1d compute, keep
their parameters' shapes, and keep the CNN's activations in the channels-last layout."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainwise.models.cnn1d import CNN1D
from trainwise.models.rows_1d import RowBatchNorm1d, RowConv1d, as_rows


@pytest.mark.parametrize(
    "c_in, c_out, kernel, options",
    [
        (1, 8, 5, {"padding": 2}),
        (8, 16, 3, {"stride": 2, "padding": 1, "bias": False}),
        (8, 8, 1, {"stride": 2}),
        (4, 8, 3, {"padding": "same", "dilation": 2}),
        (4, 8, 3, {"padding": 1, "groups": 2}),
        (4, 4, 3, {"padding": 1, "padding_mode": "reflect"}),
    ],
)
def test_a_row_convolution_matches_conv1d_forward_and_backward(c_in, c_out, kernel, options):
    torch.manual_seed(0)
    plain = nn.Conv1d(c_in, c_out, kernel, **options)
    rows = RowConv1d(c_in, c_out, kernel, **options)
    rows.load_state_dict(plain.state_dict())
    x = torch.randn(6, c_in, 23)
    expected = plain(x)
    got = rows(as_rows(x))
    assert got.shape == (6, c_out, 1, expected.shape[-1])
    torch.testing.assert_close(got.squeeze(2), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(rows(x), expected)  # 3-D input: the parent's own path
    grad = torch.randn_like(expected)
    expected.backward(grad)
    got.backward(as_rows(grad))
    torch.testing.assert_close(rows.weight.grad, plain.weight.grad, rtol=1e-4, atol=1e-4)


def test_row_batch_norm_matches_batchnorm1d_and_its_running_statistics():
    torch.manual_seed(0)
    plain, rows = nn.BatchNorm1d(8), RowBatchNorm1d(8)
    x = torch.randn(16, 8, 12) * 3 + 1
    for _ in range(3):
        torch.testing.assert_close(rows(as_rows(x)).squeeze(2), plain(x))
    torch.testing.assert_close(rows.running_mean, plain.running_mean)
    torch.testing.assert_close(rows.running_var, plain.running_var)
    rows.eval(), plain.eval()
    torch.testing.assert_close(rows(as_rows(x)).squeeze(2), plain(x))
    with pytest.raises(ValueError, match="got 5D"):
        rows(torch.zeros(2, 8, 1, 1, 3))


def test_the_cnn_keeps_one_dimensional_weights_and_channels_last_activations():
    net = CNN1D(length=40, out_features=10, channels=[8, 16], blocks_per_stage=1)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv1d)]
    assert convs and all(m.weight.ndim == 3 for m in convs)  # saved weights as before
    layouts: list[bool] = []
    for m in net.modules():
        if isinstance(m, (nn.Conv1d, nn.BatchNorm1d)):
            m.register_forward_hook(
                lambda _m, _a, out: layouts.append(
                    out.is_contiguous(memory_format=torch.channels_last)
                )
            )
    assert net(torch.randn(5, 40)).shape == (5, 10)
    assert layouts and all(layouts)
