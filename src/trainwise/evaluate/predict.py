"""Batched inference, and the Predictor: a trained model plus everything to read raw rows.

The Predictor is what a run saves and what `trainwise predict` / `evaluate` load: schema,
fitted preprocessing, target encoding, network and head. Test-set scoring at the end of `fit`
goes through the very same `score_frame`, so a later `trainwise evaluate` in a new process
reproduces the run's test metrics exactly.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from trainwise.data.heap import trim_heap
from trainwise.data.prepared import TensorSplit, features_to_split
from trainwise.data.schema import Schema
from trainwise.data.target import TargetEncoder
from trainwise.data.transforms import Preprocessor, TabularPreprocessor
from trainwise.data.unfamiliar import unfamiliar_values
from trainwise.errors import UnfamiliarInputWarning
from trainwise.evaluate.batch_rows import EVAL_BATCH, activation_bound_rows, eval_batch_size
from trainwise.evaluate.metrics import compute_metrics
from trainwise.models.heads import Head

PREDICT_ROWS = 1024  # image rows decoded at a time when predicting from raw rows


@torch.no_grad()
def raw_outputs(model: nn.Module, split: TensorSplit, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """Network outputs for a whole split, in eval mode, batched, left on the device.

    Goes through `split.batches` (in order), so a streamed split is decoded by its workers.
    Each batch's outputs are written into one tensor allocated at the first batch, rather than
    kept as a list and concatenated: the concatenation held the outputs twice, and the list's
    pieces, freed at once, fragmented the heap. On a CPU, in-memory splits go in batches sized
    so that the model's widest activation stays small (`batch_rows`)."""
    was_training = model.training
    model.eval()
    row_shape = _row_shape(split)
    size = eval_batch_size(row_shape, batch_size)
    out: torch.Tensor | None = None
    done = 0
    try:
        if isinstance(split, TensorSplit) and len(split):
            size = activation_bound_rows(model, split.inputs(), row_shape, size)
        for inputs, _ in split.batches(size):
            chunk = model(*inputs)
            if out is None:
                out = chunk.new_empty((len(split), *chunk.shape[1:]), dtype=torch.float32)
            out[done : done + len(chunk)] = chunk
            done += len(chunk)
    finally:
        model.train(was_training)
    if out is None or done != len(out):
        raise RuntimeError(f"the split gave {done} rows of outputs for {len(split)} rows")
    return out


def _row_shape(split: TensorSplit) -> tuple[int, ...]:
    """One row's input size: its dense shape, plus the values of any further inputs (the images
    of a mixed table's image columns), so those bound the evaluation batch too."""
    images = [t for t in getattr(split, "extra", ()) if t.ndim == 4]
    if not images:
        return split.input_shape
    return (math.prod(split.input_shape) + sum(math.prod(t.shape[1:]) for t in images),)


DEVICE_METRICS = {
    "binary": ("accuracy",),
    "multiclass": ("accuracy",),
    "multilabel": ("subset_accuracy",),
    "regression": ("rmse", "mae"),
}


def validation_fn(
    model: nn.Module,
    head: Head,
    target: TargetEncoder,
    split: TensorSplit,
    classes: list[str],
    needs: set[str] = frozenset(),  # type: ignore[assignment]
) -> Callable[[], dict[str, float]]:
    """A closure the loop calls once per epoch: validation loss and the task's main metrics.

    They are computed on the device and read in one transfer. The full scikit-learn metric set
    (tens of milliseconds, which dominates small fits) runs only when a monitored metric such as
    `val_f1_macro` needs it; it is always computed once at the end of training.
    """
    task = head.task
    cheap = DEVICE_METRICS[task]
    full = bool({m.removeprefix("val_") for m in needs} - {"loss", *cheap})

    def validate() -> dict[str, float]:
        out = raw_outputs(model, split)
        values = [
            head.loss(out, split.y).reshape(1),
            *_device_metrics(task, head, out, split.y, target),
        ]
        numbers = torch.cat(values).tolist()  # the one host sync of validation
        logs = {"val_loss": numbers[0]} | {
            f"val_{name}": v for name, v in zip(cheap, numbers[1:], strict=True)
        }
        if full:
            metrics = split_metrics(head, out, split, target, classes)
            logs |= {f"val_{k}": v for k, v in metrics.items() if isinstance(v, float)}
        return logs

    return validate


def _device_metrics(
    task: str, head: Head, out: torch.Tensor, y: torch.Tensor, target: TargetEncoder
) -> list[torch.Tensor]:
    if task == "multiclass":
        return [(out.argmax(dim=-1) == y).float().mean().reshape(1)]
    if task == "binary":
        return [((out.squeeze(-1) >= 0) == (y >= 0.5)).float().mean().reshape(1)]
    if task == "multilabel":
        return [((out >= 0) == (y >= 0.5)).all(dim=-1).float().mean().reshape(1)]
    scale = torch.as_tensor(target.std_, dtype=out.dtype, device=out.device)
    err = (out - y.reshape(out.shape)) * scale  # in the target's own units
    per_output_rmse = err.pow(2).mean(dim=0).sqrt()
    return [per_output_rmse.mean().reshape(1), err.abs().mean().reshape(1)]


def split_metrics(
    head: Head, out: torch.Tensor, split: TensorSplit, target: TargetEncoder, classes: list[str]
) -> dict[str, Any]:
    """Every metric of the task for a tensorised split, in the target's own units."""
    decoded = head.decode(out).cpu().double().numpy()
    task = head.task
    truth = _truth(split, target, task)
    return compute_metrics(task, truth, _to_metric_space(decoded, target, task), classes)


def _truth(split: TensorSplit, target: TargetEncoder, task: str) -> np.ndarray:
    y = split.y.cpu().numpy()
    if task == "regression":
        return target.decode_regression(y)
    return y.astype(np.int64)


def _to_metric_space(decoded: np.ndarray, target: TargetEncoder, task: str) -> np.ndarray:
    return target.decode_regression(decoded) if task == "regression" else decoded


@dataclass
class Predictor:
    """A trained model that takes raw rows (a DataFrame) and returns predictions."""

    schema: Schema
    preprocessor: Preprocessor
    target: TargetEncoder
    model: nn.Module
    head: Head

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.schema.classes]

    def outputs(self, frame: pd.DataFrame) -> np.ndarray:
        """Probabilities (classification) or predictions in original units (regression)."""
        device = next(self.model.parameters()).device
        shape = getattr(self.preprocessor, "input_shape", None)  # images: decode in chunks
        step = eval_batch_size(shape, PREDICT_ROWS) if shape else max(len(frame), 1)
        parts = []
        for start in range(0, max(len(frame), 1), step):
            rows = frame.iloc[start : start + step]
            features = self.preprocessor.transform(rows)
            split = features_to_split(features, torch.zeros(len(rows))).to(device)
            parts.append(self.head.decode(raw_outputs(self.model, split)).cpu().numpy())
            if shape:  # a chunk's decoded images and activations go back to the OS, so
                trim_heap()  # scoring many test images does not leave a fragmented heap
        decoded = np.concatenate(parts).astype(np.float64)
        return _to_metric_space(decoded, self.target, self.schema.task)

    def warn_unfamiliar(self, frame: pd.DataFrame) -> None:
        """An `UnfamiliarInputWarning` per column of a caller's rows holding values training
        never saw. Only for rows a user hands in (predict, evaluate): in a training run's own
        test split, unseen categories and unparsable numbers are ordinary and already counted."""
        if isinstance(self.preprocessor, TabularPreprocessor):
            for line in unfamiliar_values(self.preprocessor, frame):
                warnings.warn(line, UnfamiliarInputWarning, stacklevel=3)

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Predictions with readable columns: the label, then one probability per class."""
        return self.frame_from_outputs(self.outputs(frame))

    def frame_from_outputs(self, out: np.ndarray) -> pd.DataFrame:
        """`predict_frame` for outputs already computed (by `outputs`)."""
        task, target = self.schema.task, self.schema.target
        n = len(out)
        if task == "regression":
            cols = target if len(target) > 1 else ("prediction",)
            return pd.DataFrame(out.reshape(n, -1), columns=list(cols))
        if task == "multilabel":
            labels = pd.DataFrame((out >= 0.5).astype(int), columns=list(target))
            probs = pd.DataFrame(out, columns=[f"proba_{t}" for t in target])
            return pd.concat([labels, probs], axis=1)
        proba = np.column_stack([1 - out, out]) if task == "binary" else out
        classes = list(self.schema.classes)
        # the same rule as the metrics: argmax, and P(class 1) >= 0.5 for binary
        index = (out >= 0.5).astype(int) if task == "binary" else proba.argmax(axis=1)
        result = pd.DataFrame({"prediction": np.asarray(classes, dtype=object)[index]})
        for j, cls in enumerate(classes):
            result[f"proba_{cls}"] = proba[:, j]
        return result

    def score_frame(self, frame: pd.DataFrame) -> dict[str, Any]:
        """Metrics on labelled raw rows (the target column(s) must be present)."""
        truth = self.target.truth(frame)
        return compute_metrics(self.schema.task, truth, self.outputs(frame), self.classes)
