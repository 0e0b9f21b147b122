"""The Transformer encoder and the mixed-table combiner: shapes, masks, gradients."""

from __future__ import annotations

import pytest
import torch
from test_rnn import token_batch

from trainwise.models.build import build_model, model_config
from trainwise.models.combiner import CombinedNet
from trainwise.models.transformer import TransformerEncoderNet
from trainwise.spec.model import ModelSpec

TRANSFORMER = {"d_model": 16, "heads": 2, "layers": 2, "ff": 32, "pooling": "mean"}


@pytest.mark.parametrize("pooling", ["mean", "max", "cls"])
def test_padding_does_not_change_the_output(pooling: str):
    torch.manual_seed(0)
    enc = TransformerEncoderNet(9, d_model=16, heads=2, layers=2, ff=32, pooling=pooling).eval()
    x = torch.randn(3, 5, 16)
    mask = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.bool)
    garbage = torch.where(mask.unsqueeze(-1), x, torch.randn(3, 5, 16) * 100)
    out = enc(x, mask)
    assert out.shape == (3, 16)
    assert torch.allclose(out, enc(garbage, mask), atol=1e-5)
    longer = torch.cat([garbage, torch.randn(3, 3, 16)], dim=1)
    longer_mask = torch.cat([mask, torch.zeros(3, 3, dtype=torch.bool)], dim=1)
    assert torch.allclose(out, enc(longer, longer_mask), atol=1e-5)


def test_position_matters():
    torch.manual_seed(0)
    enc = TransformerEncoderNet(4, d_model=16, heads=2, layers=1, ff=32).eval()
    x = torch.randn(1, 4, 16)
    mask = torch.ones(1, 4, dtype=torch.bool)
    assert not torch.allclose(enc(x, mask), enc(x.flip(1), mask), atol=1e-4)


def test_padding_tokens_do_not_change_a_text_net():
    net = CombinedNet("transformer", TRANSFORMER, 2, vocab_sizes=[30], max_lengths=[7]).eval()
    ids, mask = token_batch()
    other = torch.where(mask, ids, torch.randint(2, 30, ids.shape))
    dense = torch.zeros(5, 0)
    assert torch.allclose(net(dense, ids, mask), net(dense, other, mask), atol=1e-5)


@pytest.mark.parametrize("family", ["transformer", "embedding_bag", "rnn"])
def test_mixed_table_net_every_parameter_gets_a_gradient(family: str):
    spec = ModelSpec(name=family, hidden=[16])
    config = model_config(
        spec, n_dense=3, out_features=4, cardinalities=[6], kind="mixed",
        inputs={"vocab_sizes": [30, 20], "max_lengths": [7, 7]},
    )  # fmt: skip
    net = build_model(config)
    ids, mask = token_batch()
    codes = torch.randint(0, 6, (5, 1))
    out = net(torch.randn(5, 3), codes, ids, mask, ids.clamp(max=19), mask)
    assert out.shape == (5, 4)
    out.pow(2).sum().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing, missing


def test_heads_must_divide_the_width():
    from trainwise.errors import ModelError

    spec = ModelSpec(name="transformer", transformer={"d_model": 30, "heads": 4})
    with pytest.raises(ModelError, match="not divisible"):
        model_config(spec, 0, 1, [], "text", {"vocab_sizes": [10], "max_lengths": [5]})


def test_text_families_refuse_tables_and_table_models_refuse_text():
    from trainwise.errors import ModelError

    with pytest.raises(ModelError, match="encodes text"):
        model_config(ModelSpec(name="rnn"), 4, 1, [], "tabular")
    with pytest.raises(ModelError, match="cannot read text"):
        model_config(ModelSpec(name="mlp"), 0, 1, [], "text", {"vocab_sizes": [10]})
