"""Task metrics: NumPy arrays in, JSON-ready dicts out.

Classification metrics come from one confusion matrix (a `bincount`) and, for ROC AUC, from the
ranks of the scores (the Mann-Whitney form of the area under the ROC curve, ties counted half),
for every class at once. They equal scikit-learn's, which the tests check, but calling
scikit-learn's functions one by one recounted the matrix in each and drew a ROC curve per class:
27 ms for 800 rows of 10 classes, against 1.1 ms here, paid twice by every fit (validation and
test) and by every tuning trial and cross-validation fold. Every value is a plain
Python `float`/`int` or `None`: the results go straight into the run record and the report, and
JSON has no NaN, so a metric that is undefined on this data (ROC AUC with one class present, R² of
a constant target, anything computed from non-finite model output) is `None`, never NaN, and never
an exception — a diverged model must still produce a record that says what happened.

scikit-learn (regression and multilabel metrics) and SciPy (ranks) are imported inside the
functions that use them: they cost about a second, which `trainwise predict` (which imports this
module but scores nothing) should not wait for.

>>> import numpy as np
>>> m = compute_metrics("binary", np.array([0, 1, 1]), np.array([0.2, 0.7, 0.4]), ["no", "yes"])
>>> m["accuracy"], m["confusion_matrix"]
(0.6666666666666666, [[1, 0], [1, 1]])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

Metrics = dict[str, Any]

TASKS = ("binary", "multiclass", "regression", "multilabel")

# Direction of every scalar metric we report, plus the training `loss`, for early stopping,
# checkpointing and tuning.
GREATER_IS_BETTER: dict[str, bool] = {
    "accuracy": True,
    "balanced_accuracy": True,
    "precision_macro": True,
    "recall_macro": True,
    "f1_macro": True,
    "roc_auc": True,
    "f1": True,
    "precision": True,
    "recall": True,
    "r2": True,
    "subset_accuracy": True,
    "f1_micro": True,
    "roc_auc_macro": True,
    "loss": False,
    "log_loss": False,
    "mse": False,
    "rmse": False,
    "mae": False,
    "hamming_loss": False,
}

_PRIMARY = {
    "binary": "accuracy",
    "multiclass": "accuracy",
    "regression": "rmse",
    "multilabel": "f1_macro",
}

# Epoch logs may name a metric by split ("val_accuracy"); the direction is the metric's own.
_SPLIT_PREFIXES = ("val_", "train_", "test_")

# Probabilities are clipped away from 0 and 1 before the log so one confident mistake gives a
# large but finite log loss instead of inf (which JSON cannot hold).
_PROBA_EPS = 1e-15


def _float(x: Any) -> float | None:
    """A plain float, or None where NumPy/sklearn gave NaN or inf."""
    value = float(x)
    return value if math.isfinite(value) else None


def _prf(y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str], **kw: Any) -> Metrics:
    """Per-label precision, recall, F1 and support of multilabel indicators, keyed by name."""
    from sklearn import metrics as skm

    p, r, f, s = skm.precision_recall_fscore_support(
        y_true, y_pred, average=None, zero_division=0, **kw
    )
    return _per_class(names, p, r, f, s)


def _per_class(
    names: Sequence[str],
    precision: np.ndarray,
    recall: np.ndarray,
    f1: np.ndarray,
    support: np.ndarray,
) -> Metrics:
    return {
        str(name): {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for name, p, r, f, s in zip(names, precision, recall, f1, support, strict=True)
    }


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    out = np.zeros(len(numerator))
    return np.divide(numerator, denominator, out=out, where=denominator > 0)


def _roc_auc(positive: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC AUC of each column: the chance that a positive row outscores a negative one, ties
    counted half, from the columns' average ranks. Every column needs positives and negatives."""
    from scipy.stats import rankdata

    ranks = rankdata(scores, axis=0)
    n_pos = positive.sum(axis=0)
    n_neg = len(positive) - n_pos
    return ((ranks * positive).sum(axis=0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _macro_auc(y_onehot: np.ndarray, scores: np.ndarray) -> float | None:
    """Macro ROC AUC over the columns where it is defined (both 0 and 1 present).

    A small validation split often lacks a class; averaging over the classes that are present
    keeps the metric useful instead of turning it off. With every class present this equals
    scikit-learn's one-vs-rest macro AUC. None when no column is defined or scores are not finite.
    """
    positives = y_onehot.sum(axis=0)
    defined = (positives > 0) & (positives < len(y_onehot))
    if not defined.any() or not np.isfinite(scores).all():
        return None
    return _float(_roc_auc(y_onehot[:, defined] == 1, scores[:, defined]).mean())


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, classes: Sequence[str]
) -> Metrics:
    """Metrics for binary or multiclass classification from class probabilities.

    `y_true` holds class codes 0..K-1; `proba` is (n, K), or for K == 2 also (n,) = P(class 1).
    The prediction is the argmax (binary: P(class 1) >= 0.5, so (n,) and (n, 2) agree at ties).

    >>> import numpy as np
    >>> m = classification_metrics(np.array([0, 2]), np.eye(3)[[0, 1]], ["a", "b", "c"])
    >>> m["accuracy"], m["per_class"]["c"]["support"]
    (0.5, 1)
    """
    k = len(classes)
    y_true = np.asarray(y_true).reshape(-1).astype(np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    n = len(y_true)
    if k == 2 and (proba.ndim == 1 or proba.shape[1:] == (1,)):
        proba = proba.reshape(-1)
        proba = np.stack([1.0 - proba, proba], axis=1)
    if proba.shape != (n, k):
        raise ValueError(f"proba has shape {proba.shape}, expected ({n}, {k}) for {k} classes")
    if n == 0:
        raise ValueError("no samples to score")
    if y_true.min() < 0 or y_true.max() >= k:
        raise ValueError(f"class codes must lie in 0..{k - 1}, got {y_true.min()}..{y_true.max()}")

    binary = k == 2
    y_pred = (proba[:, 1] >= 0.5).astype(np.int64) if binary else proba.argmax(axis=1)
    finite = bool(np.isfinite(proba).all())
    confusion = np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)
    hits = np.diag(confusion).astype(np.float64)
    support, predicted = confusion.sum(axis=1), confusion.sum(axis=0)
    precision, recall = _ratio(hits, predicted), _ratio(hits, support)
    f1 = _ratio(2 * hits, support + predicted)

    out: Metrics = {"accuracy": float(hits.sum() / n)}
    # recall averaged over the classes in the truth: a class only predicted has none
    out["balanced_accuracy"] = float(recall[support > 0].mean())
    # Macro averages run over the classes that occur in the truth or the predictions
    # (scikit-learn's default): a class absent from this split and never predicted has no
    # precision or recall at all, and counting it as 0 made a perfect model on a split
    # without a rare class score f1_macro 0.5 (and disagree with balanced_accuracy).
    seen = (support + predicted) > 0
    for name, per_class in (("precision", precision), ("recall", recall), ("f1", f1)):
        out[f"{name}_macro"] = float(per_class[seen].mean())
        if binary:
            out[name] = float(per_class[1])

    if binary:
        both = support.min() > 0  # ROC AUC needs positives and negatives
        positive = (y_true == 1)[:, None]
        out["roc_auc"] = _float(_roc_auc(positive, proba[:, 1:])[0]) if finite and both else None
    else:
        out["roc_auc"] = _macro_auc(np.eye(k, dtype=np.int64)[y_true], proba)

    log_loss = None
    if finite:
        clipped = np.clip(proba, _PROBA_EPS, 1.0 - _PROBA_EPS)
        # Renormalise in float64: float32 softmax rows miss 1.0 by more than rounding.
        clipped /= clipped.sum(axis=1, keepdims=True)
        log_loss = _float(-np.log(clipped[np.arange(n), y_true]).mean())
    out["log_loss"] = log_loss

    out["per_class"] = _per_class(classes, precision, recall, f1, support)
    out["confusion_matrix"] = confusion.tolist()
    out["n"] = n
    return out


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> Metrics:
    """MSE, RMSE, MAE and R² for (n,) or (n, k) targets, averaged uniformly over outputs.

    RMSE is the mean of per-output RMSEs (scikit-learn's definition). R² is averaged over the
    outputs whose target is not constant and is None when all are constant. Non-finite
    predictions (a diverged model) give None rather than an exception.

    >>> import numpy as np
    >>> regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))["mae"]
    0.6666666666666666
    """
    from sklearn import metrics as skm

    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    n = len(y_true)
    if n == 0:
        raise ValueError("no samples to score")
    y_true = y_true.reshape(n, -1)
    y_pred = y_pred.reshape(len(y_pred), -1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_pred has shape {y_pred.shape}, expected {y_true.shape}")
    if not np.isfinite(y_pred).all():
        return {"mse": None, "rmse": None, "mae": None, "r2": None, "n": n}

    varying = np.ptp(y_true, axis=0) > 0
    r2 = None
    if varying.any():
        r2 = _float(skm.r2_score(y_true[:, varying], y_pred[:, varying]))
    return {
        "mse": _float(skm.mean_squared_error(y_true, y_pred)),
        "rmse": _float(skm.root_mean_squared_error(y_true, y_pred)),
        "mae": _float(skm.mean_absolute_error(y_true, y_pred)),
        "r2": r2,
        "n": n,
    }


def multilabel_metrics(y_true: np.ndarray, proba: np.ndarray, labels: Sequence[str]) -> Metrics:
    """Metrics for multilabel classification: each label is its own yes/no at P >= 0.5.

    `roc_auc_macro` averages over the labels that have both positives and negatives.

    >>> import numpy as np
    >>> m = multilabel_metrics(np.array([[1, 0], [1, 1]]), np.array([[0.9, 0.1], [0.8, 0.3]]), "ab")
    >>> m["subset_accuracy"], m["hamming_loss"]
    (0.5, 0.25)
    """
    from sklearn import metrics as skm

    y_true = np.asarray(y_true).astype(np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    if y_true.ndim != 2 or proba.shape != y_true.shape or y_true.shape[1] != len(labels):
        raise ValueError(
            f"y_true {y_true.shape} and proba {proba.shape} must both be (n, {len(labels)})"
        )
    if len(y_true) == 0:
        raise ValueError("no samples to score")
    y_pred = (proba >= 0.5).astype(np.int64)
    return {
        "subset_accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "hamming_loss": float(skm.hamming_loss(y_true, y_pred)),
        "f1_micro": float(skm.f1_score(y_true, y_pred, average="micro", zero_division=0)),
        "f1_macro": float(skm.f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "roc_auc_macro": _macro_auc(y_true, proba),
        "per_label": _prf(y_true, y_pred, labels),
        "n": len(y_true),
    }


def compute_metrics(
    task: str, y_true: np.ndarray, output: np.ndarray, classes: Sequence[str] | None = None
) -> Metrics:
    """Dispatch on the task; `output` is probabilities, or predictions for regression.

    >>> import numpy as np
    >>> compute_metrics("regression", np.array([0.0, 2.0]), np.array([0.0, 2.0]))["r2"]
    1.0
    """
    if task in ("binary", "multiclass"):
        return classification_metrics(y_true, output, _names(task, classes))
    if task == "multilabel":
        return multilabel_metrics(y_true, output, _names(task, classes))
    if task == "regression":
        return regression_metrics(y_true, output)
    raise ValueError(f"unknown task {task!r}, expected one of {TASKS}")


def _names(task: str, classes: Sequence[str] | None) -> Sequence[str]:
    if classes is None:
        raise ValueError(f"task {task!r} needs the class/label names")
    return classes


def primary_metric(task: str) -> str:
    """The metric that picks the best epoch and trial when the spec names none.

    >>> primary_metric("regression")
    'rmse'
    """
    if task not in _PRIMARY:
        raise ValueError(f"unknown task {task!r}, expected one of {TASKS}")
    return _PRIMARY[task]


def is_better(metric: str, new: float | None, old: float | None, min_delta: float = 0.0) -> bool:
    """Whether `new` improves on `old` by more than `min_delta` in the metric's direction.

    A split prefix (`val_`, `train_`, `test_`) is ignored. An undefined `new` (None, NaN) never
    improves; anything defined improves on an undefined `old`.

    >>> is_better("val_rmse", 0.5, 0.7), is_better("accuracy", 0.5, 0.7)
    (True, False)
    >>> is_better("loss", 1.0, None)
    True
    """
    name = metric
    for prefix in _SPLIT_PREFIXES:
        if name.startswith(prefix) and name[len(prefix) :] in GREATER_IS_BETTER:
            name = name[len(prefix) :]
    if name not in GREATER_IS_BETTER:
        raise ValueError(f"unknown metric {metric!r}, expected one of {sorted(GREATER_IS_BETTER)}")
    if new is None or not math.isfinite(new):
        return False
    if old is None or not math.isfinite(old):
        return True
    if GREATER_IS_BETTER[name]:
        return new > old + min_delta
    return new < old - min_delta
