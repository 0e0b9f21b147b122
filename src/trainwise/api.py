"""The Python API: `fit`, `load`, and the result object they return.

`fit` mirrors `trainwise fit`: it takes a file, a built-in dataset name, a DataFrame or arrays
`(X, y)`, optional explicit validation and test data, and the spec as a YAML path, a `Spec`,
section dicts or flat keywords (`lr=3e-4`, `hidden=[128, 64]`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from torch import nn

from trainwise.data.audio import PATH as AUDIO_PATH
from trainwise.data.audio import AudioPreprocessor as Audio
from trainwise.data.audio import rows_for_prediction as audio_rows_for_prediction
from trainwise.data.audio import table_for_prediction as audio_table_for_prediction
from trainwise.data.image_columns import resolve_for_prediction
from trainwise.data.image_sources import read_image_folder
from trainwise.data.prepare import frame_from_arrays, load_frames
from trainwise.data.sources import check_unique_columns, read_table
from trainwise.diagnose.findings import Finding, read_findings
from trainwise.errors import DataError, RunError, SpecError
from trainwise.evaluate.forecast_history import (
    forecast_future,
    forecast_windows,
    is_forecaster,
    score_history,
)
from trainwise.evaluate.predict import Predictor
from trainwise.pipeline import run
from trainwise.runs.bundle import load_bundle
from trainwise.runs.folder import RunFolder
from trainwise.spec.io import read_yaml, spec_from_kwargs
from trainwise.spec.model import Spec
from trainwise.train.callbacks import Callback

if TYPE_CHECKING:
    from trainwise.tune.search import SearchResult

DataLike = str | Path | pd.DataFrame | np.ndarray | tuple[Any, Any]


class Result:
    """A trained model with its metrics, history and run folder.

    `predict` returns labels (classification) or values (regression) as a NumPy array;
    `predict_proba` class probabilities; `predict_frame` both as a readable DataFrame. A
    time-series forecaster predicts the `horizon` steps after the history it is given (see
    `forecast`).
    """

    def __init__(
        self,
        predictor: Predictor,
        metrics: dict[str, Any],
        history: list[dict[str, Any]],
        path: Path | None,
        spec: Spec | None,
        summary: dict[str, Any] | None = None,
    ) -> None:
        self.predictor = predictor
        self.metrics = metrics
        self.history = history
        self.path = path
        self.spec = spec
        self.summary = summary or {}
        self.findings: list[Finding] = []  # the training doctor's diagnoses (findings.json)

    @property
    def model(self) -> nn.Module:
        return self.predictor.model

    @property
    def task(self) -> str:
        return self.predictor.schema.task

    @property
    def classes(self) -> list[Any]:
        return list(self.predictor.schema.classes)

    def predict_frame(self, data: DataLike) -> pd.DataFrame:
        """Predictions with readable columns; for a folder of audio clips, led by each clip's
        `path` (the folder's files are listed, so the row order alone would not name them)."""
        return self._predictions(data, with_files=True)

    def _predictions(self, data: DataLike, with_files: bool) -> pd.DataFrame:
        if is_forecaster(self.predictor):
            return self.forecast(data)
        frame = _as_frame(data, self.predictor)
        self.predictor.warn_unfamiliar(frame)
        out = self.predictor.predict_frame(frame)
        folder = isinstance(data, str | Path) and Path(data).is_dir()
        if with_files and folder and AUDIO_PATH in frame.columns:
            out.insert(0, AUDIO_PATH, frame[AUDIO_PATH].to_numpy())
        return out

    def forecast(self, data: DataLike, windows: bool = False) -> pd.DataFrame:
        """A time-series forecaster's forecast from a history (the time column and the series).

        By default the `horizon` steps after the last time stamp: the time column (future
        stamps on the model's step) and one column per forecast series. `windows=True`: the
        forecast made at every step with a full lookback (a backtest), one row per step, with
        columns `<series>[t+k]` (see docs/timeseries.md).
        """
        frame = _as_frame(data, self.predictor)
        self.predictor.warn_unfamiliar(frame)
        if windows:
            return forecast_windows(self.predictor, frame)
        return forecast_future(self.predictor, frame)

    def predict(self, data: DataLike) -> np.ndarray:
        frame = self._predictions(data, with_files=False)
        if is_forecaster(self.predictor):  # (horizon,) or (horizon, n_series)
            values = frame.drop(columns=frame.columns[0]).to_numpy()
            return values.squeeze(-1) if values.shape[1] == 1 else values
        if self.task == "multilabel":
            return frame[list(self.predictor.schema.target)].to_numpy()
        if self.task == "regression":
            return frame.to_numpy().squeeze(-1) if frame.shape[1] == 1 else frame.to_numpy()
        return np.asarray(frame["prediction"].tolist())

    def predict_proba(self, data: DataLike) -> np.ndarray:
        if self.task == "regression":
            raise DataError(
                "predict_proba called on a regression model",
                "a classification model",
                "use predict() for regression",
            )
        frame = _as_frame(data, self.predictor)
        self.predictor.warn_unfamiliar(frame)
        out = self.predictor.outputs(frame)
        return np.column_stack([1 - out, out]) if self.task == "binary" else out

    def evaluate(self, data: DataLike, start: Any = None) -> dict[str, Any]:
        """Metrics on labelled data (raw rows with the target column).

        A time-series forecaster is scored on every window of the given series, beside the
        last-value and seasonal-naive forecasts; `start` (a time) scores only the windows whose
        targets begin at or after it, the rows before serving as history (docs/timeseries.md).
        """
        frame = _as_frame(data, self.predictor, with_target=True)
        self.predictor.warn_unfamiliar(frame)
        if is_forecaster(self.predictor):
            return score_history(self.predictor, frame, start)
        if start is not None:
            raise SpecError(
                "start= was given but this run is not a time-series forecaster",
                "start only with a run trained with data.kind=timeseries",
                "drop start",
            )
        target = list(self.predictor.schema.target)
        missing = [t for t in target if t not in frame.columns]
        if missing:
            raise DataError(
                f"the data has no target column {missing[0]!r}, so it cannot be scored",
                "labelled rows with the training target",
                "use predict for unlabelled data",
            )
        frame = frame.dropna(subset=target).reset_index(drop=True)
        return self.predictor.score_frame(frame)

    def __repr__(self) -> str:
        test = self.metrics.get("test", {})
        shown = {k: round(v, 4) for k, v in test.items() if isinstance(v, float)}
        return f"Result(task={self.task!r}, test={shown}, path={str(self.path)!r})"


def fit(
    data: DataLike | None = None,
    target: str | list[str] | None = None,
    *,
    validation: DataLike | None = None,
    test: DataLike | None = None,
    model: nn.Module | dict[str, Any] | None = None,
    spec: str | Path | Spec | dict[str, Any] | None = None,
    callbacks: Iterable[Callback] = (),
    resume: str | Path | None = None,
    log: Any = None,
    auto: bool = False,
    time_budget: float | None = None,
    **overrides: Any,
) -> Result:
    """Train, validate and test a network; returns a `Result`.

    `auto=True` chooses the model and tunes it within `time_budget` seconds first (see
    docs/tuning.md); the result's `search` holds the study's outcome.

    >>> result = fit("iris", epochs=5, progress=False, save=False)  # doctest: +SKIP
    >>> result.metrics["test"]["accuracy"]  # doctest: +SKIP
    """
    if auto:
        return _auto_fit(data, target, validation, test, spec, time_budget, log, overrides)
    base: dict[str, Any] = {}
    if resume is not None:  # the interrupted run's own spec; only display may change
        folder = RunFolder.reopen(resume)
        base = read_yaml(folder.path / "spec.yaml")
        from_file = bool(base.get("data", {}).get("source"))
        if set(overrides) - {"progress"} or spec is not None or (from_file and data is not None):
            raise SpecError(
                "resume takes the run's own spec; other settings were given",
                "fit(resume=RUN_FOLDER), plus the same data for runs trained on a DataFrame "
                "or arrays (progress= may be set)",
                "drop the other arguments, or start a new run",
            )
        if not from_file and data is None:
            raise SpecError(
                "this run was trained on data passed from Python, so resuming needs it again",
                "fit(<the same DataFrame or arrays>, resume=RUN_FOLDER)",
                "pass the same data (and validation/test, if given) as in the first call",
            )
        spec = None
    if isinstance(model, dict):
        overrides["model"] = model
        model = None
    resolved, frame, val_frame, test_frame = _resolve(
        data, target, validation, test, spec, overrides, base
    )
    log = log or (print if resolved.output.progress else _silent)
    cv = None
    if resolved.evaluate.cv and resume is None and model is None:
        cv = _cross_validated(resolved, frame, val_frame, test_frame, log)
    outcome = run(
        resolved,
        frame,
        val_frame,
        test_frame,
        model=model,
        callbacks=callbacks,
        log=log,
        resume=resume,
    )
    if cv is not None:
        outcome.metrics["cv"] = cv
        if outcome.path is not None:
            (Path(outcome.path) / "cv.json").write_text(json.dumps(cv, indent=2) + "\n")
    result = Result(
        outcome.predictor,
        outcome.metrics,
        outcome.history,
        outcome.path,
        outcome.spec,
        outcome.summary,
    )
    result.findings = list(outcome.extras.get("findings", []))
    return result


def tune(
    data: DataLike | None = None,
    target: str | list[str] | None = None,
    *,
    validation: DataLike | None = None,
    test: DataLike | None = None,
    spec: str | Path | Spec | dict[str, Any] | None = None,
    storage: str | None = None,
    workers: int | None = None,
    log: Any = None,
    **overrides: Any,
) -> SearchResult:
    """Search `tune.space` (see docs/tuning.md); returns the best values and spec.

    >>> space = {"train.lr": "loguniform(1e-4, 1e-2)", "model.hidden": [[64], [128, 64]]}
    >>> found = tune("wine", tune={"space": space, "trials": 8})  # doctest: +SKIP
    >>> found.best_params, found.best_spec.train.lr  # doctest: +SKIP
    """
    from trainwise.tune.search import search  # Optuna loads only when tuning

    resolved, frames = _resolve_for_search(data, target, validation, test, spec, overrides)
    return search(
        resolved,
        run,
        frames,
        storage=storage,
        workers=workers,
        log=log or (print if resolved.output.progress else _silent),
    )


def _cross_validated(
    spec: Spec,
    frame: pd.DataFrame | None,
    validation: pd.DataFrame | None,
    test: pd.DataFrame | None,
    log: Any,
) -> dict[str, Any]:
    """`evaluate.cv: K`: K runs on the development rows before the final run; mean ± std."""
    from trainwise.tune.cv import cross_validate, development_rows

    dev = development_rows(spec, load_frames(spec.data, frame, validation, test))
    result = cross_validate(run, spec, dev)
    mean, std = result.mean, result.std
    shown = [k for k in ("accuracy", "f1_macro", "roc_auc", "rmse", "mae", "r2") if k in mean]
    log(
        f"cross-validation ({len(result.folds)} folds): "
        + "  ".join(f"{k}={mean[k]:.4f} ± {std[k]:.4f}" for k in shown)
    )
    return result.summary()


def _auto_fit(
    data: DataLike | None,
    target: str | list[str] | None,
    validation: DataLike | None,
    test: DataLike | None,
    spec: str | Path | Spec | dict[str, Any] | None,
    time_budget: float | None,
    log: Any,
    overrides: dict[str, Any],
) -> Result:
    from trainwise.tune.automl import run_auto  # Optuna loads only when tuning

    resolved, frames = _resolve_for_search(data, target, validation, test, spec, overrides)
    outcome = run_auto(
        resolved, run, frames, time_budget, log or (print if resolved.output.progress else _silent)
    )
    final = outcome.run
    result = Result(
        final.predictor, final.metrics, final.history, final.path, final.spec, final.summary
    )
    result.search = outcome.search  # type: ignore[attr-defined]
    result.best_spec_path = outcome.spec_path  # type: ignore[attr-defined]
    return result


def _resolve_for_search(
    data: DataLike | None,
    target: str | list[str] | None,
    validation: DataLike | None,
    test: DataLike | None,
    spec: str | Path | Spec | dict[str, Any] | None,
    overrides: dict[str, Any],
) -> tuple[Spec, Any]:
    """The spec and the raw frames a search trains on, loaded once."""
    resolved, frame, val_frame, test_frame = _resolve(
        data, target, validation, test, spec, overrides
    )
    return resolved, load_frames(resolved.data, frame, val_frame, test_frame)


def _resolve(
    data: DataLike | None,
    target: str | list[str] | None,
    validation: DataLike | None,
    test: DataLike | None,
    spec: str | Path | Spec | dict[str, Any] | None,
    overrides: dict[str, Any],
    base: dict[str, Any] | None = None,
) -> tuple[Spec, Any, Any, Any]:
    """The spec (a file, dict or Spec, else `base`, with the keyword overrides on top, the
    data's source and target filled in) and the training, validation and test frames."""
    if isinstance(spec, Spec):
        base = spec.model_dump()
    elif isinstance(spec, dict):
        base = spec
    elif spec is not None:
        base = read_yaml(spec)
    frame, source = _training_frame(data)
    if target is not None:
        overrides["target"] = target
    elif isinstance(data, tuple) and frame is not None and "data" not in overrides:
        overrides["target"] = _array_target_names(frame)
    if source is not None:
        overrides["source"] = source
    resolved = spec_from_kwargs(base or {}, **overrides)
    val_frame, _ = _training_frame(validation) if validation is not None else (None, None)
    test_frame, _ = _training_frame(test) if test is not None else (None, None)
    return resolved, frame, val_frame, test_frame


def load(path: str | Path, model: nn.Module | None = None) -> Result:
    """Load a finished run (or a bundle folder) to predict or evaluate; never executes code."""
    folder = Path(path)
    predictor = load_bundle(folder, model=model)
    metrics, history = {}, []
    if (folder / "metrics.json").is_file():
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    if (folder / "history.jsonl").is_file():
        lines = (folder / "history.jsonl").read_text(encoding="utf-8").splitlines()
        history = [json.loads(line) for line in lines if line.strip()]
    spec = None
    if (folder / "spec.yaml").is_file():
        spec = Spec.model_validate(read_yaml(folder / "spec.yaml"))
    result = Result(predictor, metrics, history, folder, spec)
    if (folder / "findings.json").is_file():
        result.findings = read_findings(folder / "findings.json")
    return result


def _training_frame(data: DataLike | None) -> tuple[pd.DataFrame | None, str | None]:
    if data is None:
        return None, None
    if isinstance(data, pd.DataFrame):
        return data, None
    if isinstance(data, tuple):
        if len(data) != 2:
            raise DataError(
                f"data given as a tuple of {len(data)} items",
                "(X, y)",
                "pass fit((X, y)) or a DataFrame with the target column",
            )
        return frame_from_arrays(*data), None
    if isinstance(data, np.ndarray):
        raise DataError(
            "data given as one array without targets",
            "(X, y) arrays, a DataFrame, a file or a built-in dataset name",
            "pass fit((X, y))",
        )
    if isinstance(data, str | Path):
        return None, str(data)
    raise DataError(
        f"data of type {type(data).__name__} is not supported",
        "a file path, built-in name, DataFrame or (X, y) arrays",
        "convert the data to a pandas DataFrame",
    )


def _array_target_names(frame: pd.DataFrame) -> str | list[str]:
    names = [c for c in frame.columns if str(c).startswith("target")]
    return names[0] if len(names) == 1 else names


def _as_frame(data: DataLike, predictor: Predictor, with_target: bool = False) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        check_unique_columns(list(data.columns), "the DataFrame")
        return data
    if isinstance(data, str | Path):
        if not Path(data).exists():
            raise RunError(
                f"file {str(data)!r} does not exist",
                "a CSV/TSV/Parquet/JSON-lines file of rows",
                "check the path",
            )
        audio = predictor.preprocessor if isinstance(predictor.preprocessor, Audio) else None
        if Path(data).is_dir():  # a folder of WAV clips, or of class sub-folders of images
            if audio is not None:
                return audio_rows_for_prediction(data, audio.spec, labelled=with_target)
            return read_image_folder(data)
        if audio is not None:  # relative clip paths are read from the table's folder
            return audio_table_for_prediction(read_table(data), data)
        # image paths relative to the table are read from its folder, as in training
        return resolve_for_prediction(read_table(data), predictor.schema, Path(data))
    if isinstance(data, tuple) and len(data) == 2:
        return frame_from_arrays(*data)
    x = np.asarray(data)
    if x.ndim == 1:
        x = x.reshape(1, -1)
    return frame_from_arrays(x)


def _silent(*_: Any, **__: Any) -> None:
    return None
