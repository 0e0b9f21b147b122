"""trainwise: from a dataset to a well-trained, evaluated and documented neural network.

Names are imported on first use, so `trainwise --help` and error messages do not wait for torch.

>>> import trainwise
>>> result = trainwise.fit("breast_cancer", progress=False, save=False)  # doctest: +SKIP
>>> result.metrics["test"]["accuracy"] > 0.9  # doctest: +SKIP
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "fit": "trainwise.api",
    "load": "trainwise.api",
    "Result": "trainwise.api",
    "Classifier": "trainwise.estimators",
    "Regressor": "trainwise.estimators",
    "Spec": "trainwise.spec.model",
    "Callback": "trainwise.train.callbacks",
    "TrainwiseError": "trainwise.errors",
    "SpecError": "trainwise.errors",
    "DataError": "trainwise.errors",
    "ModelError": "trainwise.errors",
    "RunError": "trainwise.errors",
    "TrainingFailed": "trainwise.errors",
    "Interrupted": "trainwise.errors",
    "UnfamiliarInputWarning": "trainwise.errors",
}

__all__ = [
    "Callback",
    "Classifier",
    "DataError",
    "Interrupted",
    "ModelError",
    "Regressor",
    "Result",
    "RunError",
    "Spec",
    "SpecError",
    "TrainingFailed",
    "TrainwiseError",
    "UnfamiliarInputWarning",
    "__version__",
    "fit",
    "load",
    "tune",
]

if TYPE_CHECKING:
    from trainwise.api import Result, fit, load, tune
    from trainwise.errors import (
        DataError,
        Interrupted,
        ModelError,
        RunError,
        SpecError,
        TrainingFailed,
        TrainwiseError,
        UnfamiliarInputWarning,
    )
    from trainwise.estimators import Classifier, Regressor
    from trainwise.spec.model import Spec
    from trainwise.train.callbacks import Callback


def __getattr__(name: str) -> Any:
    if name == "tune":  # the package, callable as the function (see trainwise/tune/__init__.py)
        return importlib.import_module("trainwise.tune")
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'trainwise' has no attribute {name!r}")
