"""The recurrent encoder: shapes, padding that cannot change the output, gradients everywhere."""

from __future__ import annotations

import pytest
import torch

from trainwise.models.combiner import CombinedNet
from trainwise.models.rnn import RNNEncoder, reverse_within_length

RNN = {"cell": "gru", "hidden": 8, "layers": 1, "bidirectional": True, "pooling": "max",
       "embedding_dim": 6}  # fmt: skip


def token_batch(n: int = 5, length: int = 7, vocab: int = 30):
    g = torch.Generator().manual_seed(0)
    lengths = torch.tensor([1, 3, 7, 5, 2])[:n]
    mask = torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)
    ids = torch.randint(2, vocab, (n, length), generator=g) * mask
    return ids, mask


def test_reverse_within_length_keeps_padding_in_place():
    x = torch.arange(10.0).reshape(2, 5, 1)
    out = reverse_within_length(x, torch.tensor([3, 5]))
    assert out[0, :, 0].tolist() == [2.0, 1.0, 0.0, 3.0, 4.0]
    assert out[1, :, 0].tolist() == [9.0, 8.0, 7.0, 6.0, 5.0]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("pooling", ["mean", "max", "last"])
def test_padding_does_not_change_the_output(cell: str, bidirectional: bool, pooling: str):
    torch.manual_seed(0)
    enc = RNNEncoder(4, hidden=6, layers=2, cell=cell, bidirectional=bidirectional,
                     pooling=pooling).eval()  # fmt: skip
    x = torch.randn(3, 5, 4)
    mask = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.bool)
    garbage = torch.where(mask.unsqueeze(-1), x, torch.randn(3, 5, 4) * 100)
    longer = torch.cat([garbage, torch.randn(3, 4, 4)], dim=1)  # more padding on the right
    longer_mask = torch.cat([mask, torch.zeros(3, 4, dtype=torch.bool)], dim=1)
    out = enc(x, mask)
    assert out.shape == (3, enc.out_features) == (3, 6 * (2 if bidirectional else 1))
    assert torch.allclose(out, enc(garbage, mask), atol=1e-5)
    assert torch.allclose(out, enc(longer, longer_mask), atol=1e-5)
    # a row on its own, without padding, encodes the same as inside the padded batch
    assert torch.allclose(out[0], enc(x[:1, :2], mask[:1, :2])[0], atol=1e-5)


def test_every_parameter_gets_a_gradient_in_a_stacked_bidirectional_text_net():
    net = CombinedNet("rnn", RNN | {"layers": 2, "cell": "lstm"}, out_features=3,
                      vocab_sizes=[30], max_lengths=[7])  # fmt: skip
    ids, mask = token_batch()
    out = net(torch.zeros(5, 0), ids, mask)
    assert out.shape == (5, 3)
    out.pow(2).sum().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing, missing


def test_variable_length_numeric_sequences_through_the_rnn():
    net = CombinedNet("rnn", RNN, out_features=1, seq_channels=2, max_lengths=[7]).eval()
    _, mask = token_batch()
    steps = torch.randn(5, 7, 2) * mask.unsqueeze(-1)
    out = net(steps, mask)
    padded = steps + torch.randn(5, 7, 2) * (~mask).unsqueeze(-1)
    assert out.shape == (5, 1)
    assert torch.allclose(out, net(padded, mask), atol=1e-5)
