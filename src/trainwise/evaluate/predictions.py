"""Per-row predictions beside the truth: scored and tabulated from one forward pass.

The run folder keeps them (`predictions_validation.csv`, `predictions_test.csv`) so the report
can draw a confusion matrix, ROC and calibration curves or residuals without loading the model,
and so anyone can audit individual rows. Each table has the truth column(s) first (`truth`, or
`truth_<target>` for several targets), then exactly what `trainwise predict` writes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from trainwise.data.prepared import TensorSplit
from trainwise.evaluate.metrics import compute_metrics
from trainwise.evaluate.predict import Predictor, _to_metric_space, _truth, raw_outputs


def score_split(predictor: Predictor, split: TensorSplit) -> tuple[dict[str, Any], pd.DataFrame]:
    """Metrics and the prediction table of a tensorised split (validation)."""
    head, target, task = predictor.head, predictor.target, predictor.schema.task
    decoded = head.decode(raw_outputs(predictor.model, split)).cpu().double().numpy()
    outputs = _to_metric_space(decoded, target, task)
    truth = _truth(split, target, task)
    metrics = compute_metrics(task, truth, outputs, predictor.classes)
    return metrics, prediction_table(predictor, truth, outputs)


def score_rows(predictor: Predictor, rows: pd.DataFrame) -> tuple[dict[str, Any], pd.DataFrame]:
    """Metrics and the prediction table of labelled raw rows (the test pass)."""
    truth = predictor.target.truth(rows)
    outputs = predictor.outputs(rows)
    metrics = compute_metrics(predictor.schema.task, truth, outputs, predictor.classes)
    return metrics, prediction_table(predictor, truth, outputs)


def prediction_table(predictor: Predictor, truth: np.ndarray, outputs: np.ndarray) -> pd.DataFrame:
    """Truth column(s), then the prediction and (classification) one probability per class."""
    task, target = predictor.schema.task, list(predictor.schema.target)
    n = len(outputs)
    if task == "regression" or task == "multilabel":
        values = np.asarray(truth).reshape(n, -1)
        names = ["truth"] if values.shape[1] == 1 else [f"truth_{t}" for t in target]
        truth_frame = pd.DataFrame(values, columns=names)
    else:
        labels = np.asarray(predictor.schema.classes, dtype=object)[np.asarray(truth, dtype=int)]
        truth_frame = pd.DataFrame({"truth": labels})
    return pd.concat([truth_frame, predictor.frame_from_outputs(outputs)], axis=1)
