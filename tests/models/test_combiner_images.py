"""The combiner with image columns: one conv encoder per column (the cnn2d body), its pooled
vector concatenated with the table's and the text's encodings; rebuilt from JSON."""

from __future__ import annotations

import json

import pytest
import torch
from model_checks import assert_trains_and_rebuilds

from trainwise.models.build import build_model, model_config
from trainwise.models.cnn2d import CNN2D, CNN2DEncoder
from trainwise.spec.model import ModelSpec


def mixed_inputs(n: int = 4) -> tuple[torch.Tensor, ...]:
    dense = torch.randn(n, 3)
    codes = torch.randint(0, 5, (n, 1))
    ids = torch.randint(2, 30, (n, 6))
    mask = torch.ones(n, 6, dtype=torch.bool)
    return dense, codes, ids, mask, torch.randn(n, 1, 12, 12), torch.randn(n, 3, 20, 16)


@pytest.mark.parametrize("family", ["embedding_bag", "rnn", "transformer"])
def test_text_table_and_two_image_columns_forward_backward_and_rebuild(family):
    inputs = {
        "vocab_sizes": [30],
        "max_lengths": [6],
        "image_shapes": [[1, 12, 12], [3, 20, 16]],
    }
    spec = ModelSpec(name=family, channels=[8, 16])
    config = json.loads(json.dumps(model_config(spec, 3, 2, [5], "mixed", inputs)))
    assert config["image_shapes"] == [[1, 12, 12], [3, 20, 16]]
    assert config["image_channels"] == [8, 16]
    net = assert_trains_and_rebuilds(config, mixed_inputs(), (4, 2))
    assert len(net.image_encoders) == 2


def test_the_picture_changes_the_output():
    inputs = {"vocab_sizes": [], "max_lengths": [], "image_shapes": [[1, 12, 12]]}
    net = build_model(model_config(ModelSpec(channels=[8]), 2, 1, [], "mixed", inputs)).eval()
    dense, image = torch.randn(2, 2), torch.randn(2, 1, 12, 12)
    assert not torch.allclose(net(dense, image), net(dense, torch.randn(2, 1, 12, 12)))


def test_text_only_configs_are_unchanged():
    inputs = {"vocab_sizes": [30], "max_lengths": [6]}
    config = model_config(ModelSpec(), 3, 2, [], "mixed", inputs)
    assert not any(key.startswith("image_") for key in config)


def test_the_encoder_is_the_cnn2d_body():
    encoder, cnn = CNN2DEncoder(3, 16, (8, 16), 2), CNN2D(3, 5, 16, (8, 16), 2)
    body = {k for k in cnn.state_dict() if not k.startswith("head.")}
    assert set(encoder.state_dict()) == body
    encoder.load_state_dict({k: v for k, v in cnn.state_dict().items() if k in body})
    encoder.eval(), cnn.eval()
    x = torch.randn(2, 3, 16, 16)
    assert torch.allclose(cnn.head(encoder(x)), cnn(x))
