"""Model construction from the spec, and rebuilding from a saved JSON config.

The config holds only plain numbers and names, so a saved model is rebuilt by calling the same
constructor again; weights then come from safetensors. Nothing is unpickled.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from trainwise.errors import ModelError
from trainwise.models.cnn1d import CNN1D
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


FAMILY_FOR_KIND = {"tabular": "mlp", "sequence": "cnn1d"}


def model_config(
    spec: ModelSpec, n_dense: int, out_features: int, cardinalities: list[int], kind: str
) -> dict[str, Any]:
    """Everything needed to rebuild the architecture, as JSON; `auto` follows the data kind."""
    name = FAMILY_FOR_KIND[kind] if spec.name == "auto" else spec.name
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
