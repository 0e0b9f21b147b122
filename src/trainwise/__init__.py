"""trainwise: from a dataset to a well-trained, evaluated and documented neural network.

>>> import trainwise
>>> result = trainwise.fit("breast_cancer", progress=False, save=False)  # doctest: +SKIP
>>> result.metrics["test"]["accuracy"] > 0.9  # doctest: +SKIP
True
"""

from trainwise.api import Result, fit, load
from trainwise.errors import DataError, ModelError, RunError, SpecError, TrainwiseError
from trainwise.estimators import Classifier, Regressor
from trainwise.spec.model import Spec
from trainwise.train.callbacks import Callback

__version__ = "0.1.0"

__all__ = [
    "Callback",
    "Classifier",
    "DataError",
    "ModelError",
    "Regressor",
    "Result",
    "RunError",
    "Spec",
    "SpecError",
    "TrainwiseError",
    "__version__",
    "fit",
    "load",
]
