"""cnn1d reads (n, channels, length) inputs (mel bands, several series) and keeps its
single-channel architecture, config and initialisation unchanged for (n, length) sequences."""

from __future__ import annotations

import torch

from trainwise.models.build import build_model, model_config
from trainwise.models.cnn1d import CNN1D
from trainwise.spec.model import ModelSpec


def test_single_channel_config_and_init_are_unchanged() -> None:
    config = model_config(ModelSpec(), 40, 10, [], "sequence", input_shape=(40,))
    assert config == model_config(ModelSpec(), 40, 10, [], "sequence")
    assert "in_channels" not in config and config["n_dense"] == 40
    torch.manual_seed(0)
    built = build_model(config)
    torch.manual_seed(0)
    direct = CNN1D(40, 10, channels=[32, 64, 128], blocks_per_stage=1)
    for (name, a), (_, b) in zip(
        built.state_dict().items(), direct.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    assert built.stem[0].in_channels == 1


def test_multichannel_input_becomes_input_channels() -> None:
    config = model_config(ModelSpec(), 16, 3, [], "audio", input_shape=(16, 50))
    assert config["in_channels"] == 16 and config["n_dense"] == 50
    net = build_model(config)
    assert net(torch.randn(4, 16, 50)).shape == (4, 3)
    assert net.stem[0].in_channels == 16


def test_mlp_reads_a_flattened_window() -> None:
    config = model_config(ModelSpec(hidden=[8]), 2, 1, [], "timeseries", input_shape=(2, 12))
    assert config["name"] == "mlp" and config["n_dense"] == 24
    assert build_model(config)(torch.randn(5, 2, 12)).shape == (5, 1)


def test_block_dropout_drops_whole_channels_of_a_row() -> None:
    net = CNN1D(40, 10, dropout=0.5).train()
    block = net.stages[0]
    torch.manual_seed(0)
    rows = torch.rand(8, 32, 1, 40).contiguous(memory_format=torch.channels_last) + 0.5
    dropped = block.drop(rows)
    per_channel = (dropped == 0).all(dim=(2, 3)) | (dropped == rows * 2).all(dim=(2, 3))
    assert per_channel.all()  # each (sample, channel) is wholly zeroed or wholly kept
    assert 0.2 < (dropped == 0).all(dim=(2, 3)).float().mean() < 0.8
    assert torch.equal(block.drop.eval()(rows), rows)
