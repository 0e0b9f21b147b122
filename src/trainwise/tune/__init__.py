"""Hyperparameter search: the space (space.py), Optuna studies (study.py), the worker loop
(worker.py), pruning (pruning.py), cross-validation (cv.py), results (results.py), AutoML
(automl.py). The function that trains one spec is always passed in; nothing here imports the
pipeline.

`trainwise.tune` is both this package and the public function `trainwise.tune(...)`: once the
package is imported, Python binds the name to the package, so the package itself is callable
and forwards to `trainwise.api.tune` (looked up at call time, keeping the import layers).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return importlib.import_module("trainwise.api").tune(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
