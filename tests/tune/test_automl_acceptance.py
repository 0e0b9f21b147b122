"""`fit --auto` against scikit-learn's HistGradientBoosting on the same 5 folds.

For each dataset: a 120 s `--auto` run; then, on the development rows (training + validation,
the test split kept apart) and the same 5 folds, the cross-validated score of the spec it chose,
of trainwise's default spec, and of HistGradientBoosting with its defaults (accuracy for
classification, R² for regression). The figures are printed (`-s`) and recorded in
docs/tuning.md.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.model_selection import cross_val_score

import trainwise
from trainwise.data.prepare import load_frames
from trainwise.pipeline import run
from trainwise.spec.io import spec_from_kwargs
from trainwise.tune.cv import cross_validate, development_rows, fold_indices

pytestmark = pytest.mark.slow
BUDGET_S = 120


@pytest.mark.parametrize("name", ["breast_cancer", "wine", "digits", "diabetes"])
def test_auto_matches_gradient_boosting_and_beats_the_defaults(name, tmp_path):
    started = time.time()
    result = trainwise.fit(
        name, auto=True, time_budget=BUDGET_S, output={"root": str(tmp_path)}, progress=False
    )
    took = time.time() - started
    found = result.search
    chosen = found.best_spec
    regression = result.task == "regression"
    metric = "r2" if regression else "accuracy"

    spec = spec_from_kwargs(source=name, evaluate={"cv": 5}, progress=False, save=False)
    dev = development_rows(spec, load_frames(spec.data))
    folds = fold_indices(dev, 5, "auto", None, spec.train.seed)
    features = dev.frame.drop(columns=["target"]).to_numpy()
    hgb = HistGradientBoostingRegressor() if regression else HistGradientBoostingClassifier()
    hgb_score = cross_val_score(
        hgb, features, dev.frame["target"].to_numpy(), cv=folds, scoring=metric
    ).mean()

    tuned_cv = found.best_attrs.get("cv_mean")
    if tuned_cv is None:  # tuned on a validation split: score the chosen spec on the folds
        chosen_cv = chosen.model_copy(update={"evaluate": spec.evaluate})
        tuned_cv = cross_validate(run, chosen_cv, dev).mean
    default_cv = cross_validate(run, spec, dev).mean
    print(
        f"\n{name}: auto {metric}={tuned_cv[metric]:.4f} default={default_cv[metric]:.4f} "
        f"HGB={hgb_score:.4f}  trials={found.counts}  auto wall={took:.0f} s  "
        f"test={result.metrics['test'].get(metric, result.metrics['test'].get('rmse')):.4f}\n"
        f"  selection: {found.selection.note}"
    )
    assert took <= BUDGET_S * 1.25  # start-up and the final folder on top of the budget
    assert tuned_cv[metric] >= hgb_score - 0.005
    assert tuned_cv[metric] >= default_cv[metric]
    assert np.isfinite(result.metrics["test"]["r2" if regression else "accuracy"])
    assert result.best_spec_path.is_file()
    assert (result.path / "tuning" / "trials.csv").is_file()
