"""Model construction from the spec, and rebuilding from a saved JSON config.

The config holds only plain numbers and names, so a saved model is rebuilt by calling the same
constructor again; weights then come from safetensors. Nothing is unpickled.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from trainwise.errors import ModelError
from trainwise.models.cnn1d import CNN1D
from trainwise.models.forecast import LastValueResidual
from trainwise.models.mlp import MLP
from trainwise.registry import Registry
from trainwise.spec.model import ModelSpec

MODELS: Registry[nn.Module] = Registry("model")


@MODELS.register("mlp")
def _mlp(
    n_dense: int,
    out_features: int,
    cardinalities: list[int],
    hidden: list[int],
    activation: str,
    norm: str,
    dropout: float,
    init: str,
    embedding_dim: int | None,
) -> nn.Module:
    return MLP(
        n_dense,
        out_features,
        hidden=hidden,
        activation_name=activation,
        norm=norm,
        dropout=dropout,
        init=init,
        cardinalities=cardinalities,
        embedding_dim=embedding_dim,
    )


@MODELS.register("cnn1d")
def _cnn1d(
    n_dense: int,
    out_features: int,
    cardinalities: list[int],
    channels: list[int],
    blocks: int,
    activation: str,
    dropout: float,
    in_channels: int = 1,
) -> nn.Module:
    if cardinalities:
        raise ModelError(
            "model cnn1d takes sequences of numbers, but the data has categorical columns",
            "numeric time-step columns only",
            "use model.name=mlp for tables, or data.kind=sequence with numeric columns only",
        )
    return CNN1D(
        n_dense,
        out_features,
        in_channels=in_channels,
        channels=channels,
        blocks_per_stage=blocks,
        activation_name=activation,
        dropout=dropout,
    )


FAMILY_FOR_KIND = {"tabular": "mlp", "sequence": "cnn1d", "audio": "cnn1d", "timeseries": "mlp"}


def model_config(
    spec: ModelSpec,
    n_dense: int,
    out_features: int,
    cardinalities: list[int],
    kind: str,
    input_shape: tuple[int, ...] | None = None,
    forecast: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything needed to rebuild the architecture, as JSON; `auto` follows the data kind.

    `input_shape` is one row's dense shape: (channels, length) inputs (spectrograms, windows
    of several series) give cnn1d its input channels and the MLP their flattened size.
    `forecast` (time series: targets and horizon) wraps the network to predict the change from
    each target's last value (models/forecast.py)."""
    name = FAMILY_FOR_KIND[kind] if spec.name == "auto" else spec.name
    config = _family_config(spec, name, n_dense, out_features, cardinalities, input_shape)
    if forecast is not None:
        config["last_value_residual"] = [len(forecast["targets"]), int(forecast["horizon"])]
    return config


def _family_config(
    spec: ModelSpec,
    name: str,
    n_dense: int,
    out_features: int,
    cardinalities: list[int],
    input_shape: tuple[int, ...] | None,
) -> dict[str, Any]:
    shape = tuple(input_shape) if input_shape else (n_dense,)
    if name == "cnn1d":
        channels = {"in_channels": shape[0]} if len(shape) == 2 else {}
        return {
            "name": name,
            "n_dense": shape[-1],
            "out_features": out_features,
            "cardinalities": list(cardinalities),
            "channels": list(spec.channels),
            "blocks": spec.blocks,
            "activation": spec.activation,
            "dropout": spec.dropout,
            **channels,
        }
    return {
        "name": name,
        "n_dense": int(np.prod(shape)),
        "out_features": out_features,
        "cardinalities": list(cardinalities),
        "hidden": list(spec.hidden),
        "activation": spec.activation,
        "norm": spec.norm,
        "dropout": spec.dropout,
        "init": spec.init,
        "embedding_dim": spec.embedding_dim,
    }


def build_model(config: dict[str, Any]) -> nn.Module:
    if config["n_dense"] + len(config["cardinalities"]) == 0:
        raise ModelError(
            "the model would have no inputs",
            "at least one feature after preprocessing",
            "check data.drop and data.kinds",
        )
    options = dict(config)
    residual = options.pop("last_value_residual", None)
    net = MODELS.get(options.pop("name"))(**options)
    return LastValueResidual(net, *residual) if residual else net
