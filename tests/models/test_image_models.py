"""Contracts of the image families: output shape, gradients everywhere, rebuild from JSON."""

from __future__ import annotations

import json

import pytest
import torch
from model_checks import assert_trains_and_rebuilds

from trainwise.errors import ModelError
from trainwise.models.build import model_config
from trainwise.spec.model import ModelSpec


@pytest.mark.parametrize("name", ["cnn2d", "resnet"])
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 20, 28), (3, 96, 96)])
def test_forward_shape_gradients_and_rebuild(name, shape):
    spec = ModelSpec(name=name, channels=[8, 16], blocks=2)
    config = json.loads(
        json.dumps(model_config(spec, shape[0], 4, [], "image", {"image_shape": shape}))
    )
    assert_trains_and_rebuilds(config, (torch.randn(3, *shape),), (3, 4))


def test_auto_picks_cnn2d_for_images_and_refuses_mismatched_families():
    assert (
        model_config(ModelSpec(), 1, 10, [], "image", {"image_shape": [1, 8, 8]})["name"] == "cnn2d"
    )
    with pytest.raises(ModelError, match="does not suit"):
        model_config(ModelSpec(name="mlp"), 1, 10, [], "image")
    with pytest.raises(ModelError, match="does not suit"):
        model_config(ModelSpec(name="resnet"), 5, 2, [], "tabular")
