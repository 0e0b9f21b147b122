"""Model construction from the spec, and rebuilding from a saved JSON config.

The config holds only plain numbers and names, so a saved model is rebuilt by calling the same
constructor again; weights then come from safetensors. Nothing is unpickled.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from trainwise.errors import ModelError
from trainwise.models.cnn1d import CNN1D
from trainwise.models.cnn2d import CNN2D
from trainwise.models.mlp import MLP
from trainwise.models.resnet import ResNet
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
        channels=channels,
        blocks_per_stage=blocks,
        activation_name=activation,
        dropout=dropout,
    )


@MODELS.register("cnn2d")
def _cnn2d(
    n_dense: int,
    out_features: int,
    cardinalities: list[int],
    side: int,
    channels: list[int],
    blocks: int,
    activation: str,
    dropout: float,
) -> nn.Module:
    return CNN2D(n_dense, out_features, side, channels, blocks, activation, dropout)


@MODELS.register("resnet")
def _resnet(
    n_dense: int,
    out_features: int,
    cardinalities: list[int],
    side: int,
    channels: list[int],
    blocks: int,
    activation: str,
    dropout: float,
) -> nn.Module:
    return ResNet(n_dense, out_features, side, channels, blocks, activation, dropout)


FAMILY_FOR_KIND = {"tabular": "mlp", "sequence": "cnn1d", "image": "cnn2d"}
IMAGE_FAMILIES = {"cnn2d", "resnet"}


def model_config(
    spec: ModelSpec,
    n_dense: int,
    out_features: int,
    cardinalities: list[int],
    kind: str,
    input_shape: tuple[int, ...] | None = None,
) -> dict[str, Any]:
    """Everything needed to rebuild the architecture, as JSON; `auto` follows the data kind."""
    name = FAMILY_FOR_KIND[kind] if spec.name == "auto" else spec.name
    if (name in IMAGE_FAMILIES) != (kind == "image"):
        raise ModelError(
            f"model {name!r} does not suit {kind} data",
            "cnn2d or resnet for images; mlp or cnn1d for tables and sequences",
            "set model.name=auto",
        )
    if name in IMAGE_FAMILIES:
        shape = input_shape or (n_dense, 32, 32)
        return {
            "name": name,
            "n_dense": n_dense,
            "out_features": out_features,
            "cardinalities": [],
            "side": int(max(shape[1:])),
            "channels": list(spec.channels),
            "blocks": spec.blocks,
            "activation": spec.activation,
            "dropout": spec.dropout,
        }
    if name == "cnn1d":
        return {
            "name": name,
            "n_dense": n_dense,
            "out_features": out_features,
            "cardinalities": list(cardinalities),
            "channels": list(spec.channels),
            "blocks": spec.blocks,
            "activation": spec.activation,
            "dropout": spec.dropout,
        }
    return {
        "name": name,
        "n_dense": n_dense,
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
    return MODELS.get(options.pop("name"))(**options)
