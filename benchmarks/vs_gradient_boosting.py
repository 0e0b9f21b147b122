"""trainwise defaults against scikit-learn's HistGradientBoosting on the same splits.

Run: `.venv/bin/python -m benchmarks.vs_gradient_boosting [dataset ...]`. Prints a table of
test scores (accuracy for classification, RMSE for regression) per dataset and seed; both
models see exactly the same train/validation/test rows (HistGradientBoosting trains on
train + validation, since it does its own early stopping split internally).
"""

from __future__ import annotations

import sys
import time

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import accuracy_score, root_mean_squared_error

import trainwise

DATASETS = ["breast_cancer", "wine", "digits", "iris", "diabetes"]


def main(names: list[str], seeds: tuple[int, ...] = (0, 1, 2)) -> None:
    print(f"{'dataset':<15}{'seed':>5}{'metric':>10}{'trainwise':>11}{'HGB':>9}{'tw sec':>8}")
    for name in names:
        for seed in seeds:
            started = time.perf_counter()
            result = trainwise.fit(name, seed=seed, progress=False, save=False)
            seconds = time.perf_counter() - started
            test = result.metrics["test"]
            rows = _split_rows(result)
            x_fit, y_fit, x_test, y_test = rows
            if result.task == "regression":
                hgb = HistGradientBoostingRegressor(random_state=seed).fit(x_fit, y_fit)
                ours, theirs = test["rmse"], root_mean_squared_error(y_test, hgb.predict(x_test))
                metric = "rmse"
            else:
                hgb = HistGradientBoostingClassifier(random_state=seed).fit(x_fit, y_fit)
                ours, theirs = test["accuracy"], accuracy_score(y_test, hgb.predict(x_test))
                metric = "accuracy"
            print(f"{name:<15}{seed:>5}{metric:>10}{ours:>11.4f}{theirs:>9.4f}{seconds:>8.1f}")


def _split_rows(result: trainwise.Result) -> tuple[np.ndarray, ...]:
    """Rebuild the exact split from the run's seed by re-running the data stage."""
    from trainwise.data.prepare import load_frames, prepare

    spec = result.spec
    assert spec is not None
    data = prepare(spec.data, load_frames(spec.data), spec.train.seed)
    target = data.schema.target[0]
    features = data.schema.features
    test_rows = data.test_rows
    assert test_rows is not None
    # train + validation rows = all rows minus the test rows (after the same de-duplication)
    full = load_frames(spec.data).frame.drop_duplicates(ignore_index=True)
    merged = full.merge(test_rows.assign(__test=1), how="left", on=list(full.columns))
    fit_rows = full[merged["__test"].isna().to_numpy()]
    return (
        fit_rows[features].to_numpy(float),
        fit_rows[target].to_numpy(),
        test_rows[features].to_numpy(float),
        test_rows[target].to_numpy(),
    )


if __name__ == "__main__":
    main(sys.argv[1:] or DATASETS)
