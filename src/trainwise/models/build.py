"""Model construction from the spec, and rebuilding from a saved JSON config.

The config holds only plain numbers and names, so a saved model is rebuilt by calling the same
constructor again; weights then come from safetensors. Nothing is unpickled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from torch import nn

from trainwise.errors import ModelError
from trainwise.models.cnn1d import CNN1D
from trainwise.models.cnn2d import CNN2D
from trainwise.models.combiner import FAMILIES, CombinedNet
from trainwise.models.forecast import LastValueResidual
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


def _image_family(net: type[CNN2D] | type[ResNet]) -> Callable[..., nn.Module]:
    """The builder of an image family: cnn2d and resnet read the same config (`_conv_config`
    plus the image side); `n_dense` is the image's channel count."""

    def build(
        n_dense: int,
        out_features: int,
        cardinalities: list[int],
        side: int,
        channels: list[int],
        blocks: int,
        activation: str,
        dropout: float,
    ) -> nn.Module:
        return net(n_dense, out_features, side, channels, blocks, activation, dropout)

    return build


MODELS.register("cnn2d")(_image_family(CNN2D))
MODELS.register("resnet")(_image_family(ResNet))


def _combined(family: str) -> Any:
    def build(**config: Any) -> nn.Module:
        return CombinedNet(family, **config)

    return build


for _family in FAMILIES:
    MODELS.register(_family)(_combined(_family))


FAMILY_FOR_KIND = {
    "tabular": "mlp",
    "sequence": "cnn1d",
    "varseq": "rnn",
    "text": "embedding_bag",
    "mixed": "embedding_bag",
    "audio": "cnn1d",
    "timeseries": "mlp",
    "image": "cnn2d",
}
IMAGE_FAMILIES = {"cnn2d", "resnet"}


def model_config(
    spec: ModelSpec,
    n_dense: int,
    out_features: int,
    cardinalities: list[int],
    kind: str,
    inputs: dict[str, Any] | None = None,
    input_shape: tuple[int, ...] | None = None,
    forecast: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything needed to rebuild the architecture, as JSON; `auto` follows the data kind.

    `inputs` describes inputs beyond dense and codes (text vocabularies and lengths, channels
    of variable-length sequences), as the preprocessor reports them. `input_shape` is one
    row's dense shape: (channels, length) inputs (spectrograms, windows of several series) give
    cnn1d its input channels and the MLP their flattened size. `forecast` (time series: targets
    and horizon) wraps the network to predict the change from each target's last value
    (models/forecast.py).
    """
    name = FAMILY_FOR_KIND[kind] if spec.name == "auto" else spec.name
    inputs = inputs or {}
    if kind in {"text", "mixed", "varseq"}:
        return _combined_config(spec, name, n_dense, out_features, cardinalities, kind, inputs)
    if name in FAMILIES:
        raise ModelError(
            f"model {name} encodes text or sequences of varying length, but the data is {kind}",
            "data.kind text, mixed, or a column of arrays",
            "set data.kind=text (or mixed) for text columns, or use model.name=auto",
        )
    if (name in IMAGE_FAMILIES) != (kind == "image"):
        raise ModelError(
            f"model {name!r} does not suit {kind} data",
            "cnn2d or resnet for images; mlp or cnn1d for tables and sequences",
            "set model.name=auto",
        )
    if name in IMAGE_FAMILIES:
        shape = inputs.get("image_shape") or (n_dense, 32, 32)
        return _conv_config(spec, name, n_dense, out_features, []) | {"side": int(max(shape[1:]))}
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
        return _conv_config(spec, name, shape[-1], out_features, cardinalities) | channels
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


def _conv_config(
    spec: ModelSpec, name: str, n_dense: int, out_features: int, cardinalities: list[int]
) -> dict[str, Any]:
    """What the convolutional families (cnn1d, cnn2d, resnet) share: stage widths, blocks per
    stage, activation and dropout."""
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


def _combined_config(
    spec: ModelSpec,
    name: str,
    n_dense: int,
    out_features: int,
    cardinalities: list[int],
    kind: str,
    inputs: dict[str, Any],
) -> dict[str, Any]:
    if name not in FAMILIES:
        raise ModelError(
            f"model {name} cannot read {kind} data (token ids or steps of varying length)",
            f"one of {', '.join(FAMILIES)}",
            "set model.name=auto (or one of those)",
        )
    encoder = getattr(spec, name).model_dump()
    if name == "transformer" and encoder["d_model"] % encoder["heads"]:
        raise ModelError(
            f"model.transformer.d_model={encoder['d_model']} is not divisible by "
            f"heads={encoder['heads']}",
            "d_model a multiple of heads",
            "e.g. model.transformer.d_model=64 model.transformer.heads=4",
        )
    # a table's combiner is an MLP; one text column alone needs only a linear head
    alone = kind == "varseq" or (not n_dense and not cardinalities)
    images = _image_columns_config(spec, inputs)
    return images | {
        "name": name,
        "encoder": encoder,
        "out_features": out_features,
        "n_dense": n_dense if kind == "mixed" else 0,
        "cardinalities": list(cardinalities),
        "vocab_sizes": list(inputs.get("vocab_sizes", [])),
        "max_lengths": list(inputs.get("max_lengths", [])),
        "seq_channels": int(inputs.get("seq_channels", 0)),
        "hidden": [] if alone else list(spec.hidden),
        "dropout": spec.dropout,
        "embedding_dim": spec.embedding_dim,
    }


def _image_columns_config(spec: ModelSpec, inputs: dict[str, Any]) -> dict[str, Any]:
    """Image columns of a mixed table: each gets the cnn2d body (model.channels, model.blocks
    layers per stage), pooled to one vector. Empty without image columns, so text-only configs
    stay as they were."""
    shapes = inputs.get("image_shapes") or []
    if not shapes:
        return {}
    return {
        "image_shapes": [list(s) for s in shapes],
        "image_channels": list(spec.channels),
        "image_blocks": spec.blocks,
        "image_activation": spec.activation,
    }


def build_model(config: dict[str, Any]) -> nn.Module:
    inputs = len(config.get("vocab_sizes", ())) + config.get("seq_channels", 0)
    inputs += len(config.get("image_shapes", ()))
    if config["n_dense"] + len(config["cardinalities"]) + inputs == 0:
        raise ModelError(
            "the model would have no inputs",
            "at least one feature after preprocessing",
            "check data.drop and data.kinds",
        )
    options = dict(config)
    residual = options.pop("last_value_residual", None)
    net = MODELS.get(options.pop("name"))(**options)
    return LastValueResidual(net, *residual) if residual else net
