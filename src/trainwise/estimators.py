"""scikit-learn-compatible estimators, so trainwise models drop into pipelines and searches.

Constructors only store their arguments (scikit-learn's contract); `fit` builds a spec from them,
trains in memory (no run folder) with a validation split for early stopping, and returns `self`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from trainwise.api import Result, fit
from trainwise.data.image_sources import frame_from_image_arrays


class _TrainwiseEstimator(BaseEstimator):
    _task = "auto"

    def __init__(
        self,
        hidden: tuple[int, ...] = (256, 128),
        activation: str = "relu",
        dropout: float = 0.1,
        norm: str = "batch",
        optimizer: str = "adamw",
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        batch_size: int | str = "auto",
        epochs: int | str = "auto",
        patience: int = 20,
        validation_fraction: float = 0.15,
        seed: int = 0,
        progress: bool = False,
        spec: dict[str, Any] | None = None,
    ) -> None:
        self.hidden = hidden
        self.activation = activation
        self.dropout = dropout
        self.norm = norm
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.seed = seed
        self.progress = progress
        self.spec = spec

    def fit(self, X: Any, y: Any) -> _TrainwiseEstimator:
        frame = _frame(X)
        y = np.asarray(y)
        targets = ["__target__"] if y.ndim == 1 else [f"__target{j}__" for j in range(y.shape[1])]
        frame = frame.assign(**{t: (y if y.ndim == 1 else y[:, j]) for j, t in enumerate(targets)})
        self.result_: Result = fit(
            frame,
            target=targets[0] if len(targets) == 1 else targets,
            spec=self.spec,
            model={
                "hidden": list(self.hidden),
                "activation": self.activation,
                "dropout": self.dropout,
                "norm": self.norm,
            },
            optimizer=self.optimizer,
            lr=self.lr,
            weight_decay=self.weight_decay,
            batch_size=self.batch_size,
            epochs=self.epochs,
            train__early_stopping__patience=self.patience,
            split={
                "train": 1 - self.validation_fraction,
                "validation": self.validation_fraction,
                "test": 0.0,
            },
            task=self._task,
            seed=self.seed,
            progress=self.progress,
            save=False,
            data__clean__duplicates=False,
        )
        self.n_features_in_ = frame.shape[1] - len(targets)
        self.feature_names_in_ = np.asarray(frame.columns[: self.n_features_in_], dtype=object)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.result_.predict(_frame(X))


class Classifier(ClassifierMixin, _TrainwiseEstimator):
    """A neural-network classifier with trainwise's defaults.

    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = Classifier(epochs=3).fit(X, y)  # doctest: +SKIP
    """

    def fit(self, X: Any, y: Any) -> Classifier:
        super().fit(X, y)
        self.classes_ = np.unique(np.asarray(y))  # scikit-learn's order and the labels' dtype
        return self

    def predict(self, X: Any) -> np.ndarray:
        labels = super().predict(X)
        as_text = self.classes_.astype(str)  # labels come back as the training values' text
        position = np.searchsorted(as_text[np.argsort(as_text)], np.asarray(labels).astype(str))
        return self.classes_[np.argsort(as_text)[position]]

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.result_.predict_proba(_frame(X))


class Regressor(RegressorMixin, _TrainwiseEstimator):
    """A neural-network regressor with trainwise's defaults (targets standardised internally)."""

    _task = "regression"


def _frame(X: Any) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X.reset_index(drop=True)
    x = np.asarray(X)
    if x.ndim == 1:
        x = x.reshape(-1, 1)
    if x.ndim in (3, 4):  # images: N×H×W or N×C×H×W, one array per row
        return frame_from_image_arrays(x)
    return pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])])
