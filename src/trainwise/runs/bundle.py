"""The model bundle: `weights.safetensors` + `bundle.json`. Loading it never executes code.

The JSON holds the schema, the fitted preprocessing, the target encoding and the architecture
config; the architecture is rebuilt by calling our own constructor, then the weights are read
with safetensors. A model the user built themselves is saved the same way, and loading it needs
the user to pass an instance of the same class (we never import code named in a file).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from torch import nn

from trainwise.data.prepare import preprocessor_from_state
from trainwise.data.schema import Schema
from trainwise.data.target import TargetEncoder
from trainwise.errors import RunError
from trainwise.evaluate.predict import Predictor
from trainwise.models.build import build_model
from trainwise.models.heads import head_for

FORMAT_VERSION = 1
WEIGHTS, MANIFEST = "weights.safetensors", "bundle.json"


def save_bundle(
    folder: Path, predictor: Predictor, model_config: dict[str, Any], head_config: dict[str, Any]
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in predictor.model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS))
    manifest = {
        "format_version": FORMAT_VERSION,
        "schema": predictor.schema.to_json(),
        "preprocessor": predictor.preprocessor.state_dict(),
        "target": predictor.target.state_dict(),
        "model": model_config,
        "head": head_config,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")


def load_bundle(folder: str | Path, model: nn.Module | None = None) -> Predictor:
    """Rebuild a Predictor from a bundle folder (or a run folder that holds `model/`)."""
    folder = Path(folder)
    if (folder / "model" / MANIFEST).is_file():
        folder = folder / "model"
    manifest_path, weights_path = folder / MANIFEST, folder / WEIGHTS
    if not manifest_path.is_file() or not weights_path.is_file():
        raise RunError(
            f"{str(folder)!r} holds no trained model",
            f"a run folder with model/{MANIFEST} and model/{WEIGHTS}",
            "pass the folder a finished `trainwise fit` printed (runs/<name>-<time>)",
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        weights = load_file(str(weights_path))
    except (OSError, ValueError, json.JSONDecodeError) as exc:  # safetensors raises ValueError-like
        raise RunError(
            f"the model in {str(folder)!r} is damaged ({type(exc).__name__})",
            "an intact bundle written by trainwise",
            "re-run the training or restore the folder from a copy",
        ) from None
    except Exception as exc:  # safetensors' SafetensorError derives from Exception only
        raise RunError(
            f"the model weights in {str(folder)!r} cannot be read ({exc})",
            "an intact weights.safetensors",
            "re-run the training or restore the folder from a copy",
        ) from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise RunError(
            f"model bundle format {manifest.get('format_version')!r} is not supported",
            f"format {FORMAT_VERSION}",
            "re-train with this version of trainwise",
        )
    schema = Schema.from_json(manifest["schema"])
    config = manifest["model"]
    if config.get("name") == "custom":
        if model is None:
            raise RunError(
                f"the model in {str(folder)!r} is a custom nn.Module ({config.get('class')})",
                "an instance of that class passed to trainwise.load(path, model=...)",
                "construct the module as in training and pass it as model=",
            )
        net = model
    else:
        net = build_model(config)
    try:
        net.load_state_dict(weights)
    except RuntimeError as exc:
        raise RunError(
            "the saved weights do not fit the model architecture",
            "the same architecture as in training",
            f"pass the same module class and sizes ({str(exc).splitlines()[0]})",
        ) from None
    net.eval()
    h = manifest["head"]
    head = head_for(h["task"], h["n_classes"], h["n_targets"], h["loss"], h["label_smoothing"])
    return Predictor(
        schema=schema,
        preprocessor=preprocessor_from_state(schema, manifest["preprocessor"]),
        target=TargetEncoder.from_state(schema, manifest["target"]),
        model=net,
        head=head,
    )


def head_config(
    task: str, n_classes: int, n_targets: int, loss: str, label_smoothing: float
) -> dict[str, Any]:
    return {
        "task": task,
        "n_classes": n_classes,
        "n_targets": n_targets,
        "loss": loss,
        "label_smoothing": label_smoothing,
    }
