"""Model construction from the spec, and rebuilding from a saved JSON config.

The config holds only plain numbers and names, so a saved model is rebuilt by calling the same
constructor again; weights then come from safetensors. Nothing is unpickled.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from trainwise.errors import ModelError
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


def model_config(
    spec: ModelSpec, n_dense: int, out_features: int, cardinalities: list[int]
) -> dict[str, Any]:
    """Everything needed to rebuild the architecture, as JSON."""
    return {
        "name": spec.name,
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
