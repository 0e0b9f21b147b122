"""Metrics, batched prediction and the Predictor."""

from trainwise.evaluate.metrics import compute_metrics, is_better, primary_metric
from trainwise.evaluate.predict import Predictor, raw_outputs, validation_fn

__all__ = [
    "Predictor",
    "compute_metrics",
    "is_better",
    "primary_metric",
    "raw_outputs",
    "validation_fn",
]
