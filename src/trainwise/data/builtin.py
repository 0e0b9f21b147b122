"""Built-in datasets by name, made on this machine: no network access, ever.

They give every example, test and tutorial a dataset that works offline and identically on any
machine. The scikit-learn sets are read from files shipped inside scikit-learn; MNIST-1D is
generated from its default arguments (the same data its authors publish), never downloaded.
Generating it runs the `mnist1d` package's per-sample Python (about 5 s on 2 cores), so the
arrays are kept in a cache folder (`cache_folder()`) as plain `.npz` and read back in
milliseconds by later processes.

>>> ds = load_builtin("iris")
>>> ds.frame.shape, ds.target, ds.task
((150, 5), 'target', 'multiclass')
"""

from __future__ import annotations

import difflib
import functools
import importlib.metadata
import os
import random
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from trainwise.errors import DataError

Task = Literal["binary", "multiclass", "regression"]


@dataclass(frozen=True)
class BuiltinDataset:
    """A named dataset: one frame with a target column, and its own test split if it has one."""

    name: str
    frame: pd.DataFrame
    target: str
    task: Task
    test_frame: pd.DataFrame | None = None  # a predefined test split, kept apart by its authors
    description: str = ""
    kind: str = "tabular"  # "sequence" when the columns are the time steps of one signal


# name → (scikit-learn loader, task, description)
_SKLEARN: dict[str, tuple[str, Task, str]] = {
    "breast_cancer": (
        "load_breast_cancer",
        "binary",
        "Wisconsin diagnostic breast cancer (scikit-learn): 569 rows, 30 numeric features, "
        "binary target (0 malignant, 1 benign)",
    ),
    "diabetes": (
        "load_diabetes",
        "regression",
        "Diabetes progression (scikit-learn): 442 rows, 10 standardised numeric features, "
        "regression target (disease progression after one year)",
    ),
    "digits": (
        "load_digits",
        "multiclass",
        "Handwritten digits, 8×8 pixels (scikit-learn): 1,797 rows, 64 pixel features (0–16), "
        "10 classes",
    ),
    "iris": (
        "load_iris",
        "multiclass",
        "Iris flowers (scikit-learn): 150 rows, 4 numeric features, 3 classes",
    ),
    "wine": (
        "load_wine",
        "multiclass",
        "Wine recognition (scikit-learn): 178 rows, 13 numeric features, 3 classes",
    ),
}
_MNIST1D_DESCRIPTION = (
    "MNIST-1D (Greydanus, 2020), generated locally with its default arguments: "
    "4,000 train + 1,000 predefined test rows, 40 numeric features x0..x39, 10 classes"
)


def builtin_names() -> list[str]:
    """The names `load_builtin` accepts, sorted.

    >>> "iris" in builtin_names()
    True
    """
    return sorted([*_SKLEARN, "mnist1d"])


def is_builtin(name: str) -> bool:
    """Whether `name` is a built-in dataset (case and '-' versus '_' do not matter).

    >>> is_builtin("Breast-Cancer"), is_builtin("train.csv")
    (True, False)
    """
    return isinstance(name, str) and _normalise(name) in builtin_names()


def load_builtin(name: str) -> BuiltinDataset:
    """Load a built-in dataset; classification targets stay integer class codes.

    Each call returns fresh frames, so callers may modify them freely.

    >>> ds = load_builtin("mnist1d")
    >>> ds.frame.shape, ds.test_frame.shape
    ((4000, 41), (1000, 41))
    """
    key = _normalise(name) if isinstance(name, str) else ""
    if key == "mnist1d":
        train, test = _mnist1d_frames()
        return BuiltinDataset(
            name=key,
            frame=train.copy(),
            target="target",
            task="multiclass",
            test_frame=test.copy(),
            description=_MNIST1D_DESCRIPTION,
            kind="sequence",
        )
    if key in _SKLEARN:
        loader, task, description = _SKLEARN[key]
        from sklearn import datasets  # imported here: it costs ~0.5 s and only these need it

        frame = getattr(datasets, loader)(as_frame=True).frame
        if task != "regression":
            frame["target"] = frame["target"].astype("int64")
        return BuiltinDataset(
            name=key, frame=frame, target="target", task=task, description=description
        )
    close = difflib.get_close_matches(key or str(name), builtin_names(), n=1)
    raise DataError(
        f"unknown built-in dataset {name!r}",
        f"one of: {', '.join(builtin_names())}",
        f"did you mean {close[0]!r}?" if close else "pick one of these names, or pass a file path",
    )


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_")


@functools.lru_cache(maxsize=1)
def _mnist1d_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """MNIST-1D once per process (from the cache folder, else generated); callers get copies."""
    cached = _mnist1d_cache_file()
    data = _read_mnist1d(cached)
    if data is None:
        data = _generate_mnist1d()
        _write_mnist1d(cached, data)
    return _mnist1d_frame(data["x"], data["y"]), _mnist1d_frame(data["x_test"], data["y_test"])


def cache_folder() -> Path:
    """Where trainwise keeps data it can make again: `$TRAINWISE_CACHE`, else
    `$XDG_CACHE_HOME/trainwise`, else `~/.cache/trainwise`."""
    if os.environ.get("TRAINWISE_CACHE"):
        return Path(os.environ["TRAINWISE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "trainwise"


_MNIST1D_ARRAYS = {"x": 2, "y": 1, "x_test": 2, "y_test": 1}  # name -> dimensions


def _mnist1d_cache_file() -> Path:
    """Named by the generator's version: another version may generate other data."""
    version = importlib.metadata.version("mnist1d")
    return cache_folder() / f"mnist1d-{version}-default.npz"


def _generate_mnist1d() -> dict[str, np.ndarray]:
    # make_dataset, never get_dataset: the latter downloads and unpickles a file.
    from mnist1d.data import get_dataset_args, make_dataset

    # make_dataset reseeds the global `random` and NumPy generators; put the caller's state back.
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    return {name: np.asarray(data[name]) for name in _MNIST1D_ARRAYS}


def _read_mnist1d(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when the file is missing or not what was written."""
    try:
        with open(path, "rb") as file:  # closed here even when numpy cannot parse it
            stored = np.load(file, allow_pickle=False)
            if not isinstance(stored, np.lib.npyio.NpzFile):
                return None
            with stored:
                data = {name: stored[name] for name in _MNIST1D_ARRAYS}
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile):  # absent, damaged...
        return None
    shapes_agree = all(data[name].ndim == dims for name, dims in _MNIST1D_ARRAYS.items()) and (
        len(data["x"]) == len(data["y"]) and len(data["x_test"]) == len(data["y_test"])
    )
    return data if shapes_agree else None


def _write_mnist1d(path: Path, data: dict[str, np.ndarray]) -> None:
    """Written to a temporary file, then renamed: a reader never sees half a file, and two
    processes generating at once both succeed. A folder that cannot be written is no error:
    the next process generates the data again."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".mnist1d-", suffix=".npz")
    except OSError:
        return
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **data)
        os.chmod(tmp, 0o644)  # readable like any other file written here
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)


def _mnist1d_frame(x: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])])
    frame["target"] = y.astype("int64")
    return frame
