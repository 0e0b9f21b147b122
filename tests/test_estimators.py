"""`trainwise.Classifier` / `Regressor` keep scikit-learn's estimator contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import estimator_checks

from trainwise import Classifier, Regressor

# Small and quick, yet enough to learn iris: 16 hidden units, a larger learning rate.
SMALL = {"hidden": (16,), "epochs": 30, "lr": 1e-2}


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    return load_iris(return_X_y=True)


@pytest.mark.parametrize("cls", [Classifier, Regressor])
def test_get_params_set_params_round_trip(cls):
    est = cls(lr=0.05, hidden=(8, 4), epochs=7)
    params = est.get_params()
    assert params["lr"] == 0.05
    assert params["hidden"] == (8, 4)
    assert params["epochs"] == 7
    rebuilt = cls(**params)
    assert rebuilt.get_params() == params
    assert est.set_params(lr=0.2, batch_size=32) is est
    assert (est.lr, est.batch_size) == (0.2, 32)
    assert est.get_params()["lr"] == 0.2
    with pytest.raises(ValueError):
        est.set_params(lrr=0.1)


@pytest.mark.parametrize("cls", [Classifier, Regressor])
def test_constructor_only_stores(cls):
    spec = {"train": {"seed": 4}}
    est = cls(spec=spec, hidden=(3,))
    assert est.spec is spec
    assert est.hidden == (3,)
    assert not [k for k in vars(est) if k.endswith("_")]


@pytest.mark.parametrize("cls", [Classifier, Regressor])
def test_clone_copies_params_not_fitted_state(cls, iris):
    x, y = iris
    est = cls(epochs=2, hidden=(8,), lr=0.03, seed=5).fit(x, y if cls is Classifier else x[:, 0])
    copy = clone(est)
    assert copy is not est
    assert copy.get_params() == est.get_params()
    assert not hasattr(copy, "result_")
    assert hasattr(est, "result_")


COMMON_CHECKS = [
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_estimator_repr",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_estimators_overwrite_params",
    "check_dont_overwrite_parameters",
    "check_n_features_in",
    "check_fit_score_takes_y",
    "check_estimators_dtypes",
    "check_fit_check_is_fitted",
]


@pytest.mark.parametrize(
    ("cls", "check"),
    [(cls, check) for cls in (Classifier, Regressor) for check in COMMON_CHECKS]
    + [(Classifier, "check_classifiers_classes")],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_scikit_learn_estimator_check(cls, check):
    getattr(estimator_checks, check)(cls.__name__, cls(epochs=2, hidden=(8,)))


def test_kinds_are_recognised():
    assert is_classifier(Classifier())
    assert is_regressor(Regressor())


def test_fit_returns_self_and_sets_fitted_attributes(iris):
    x, y = iris
    clf = Classifier(epochs=2, hidden=(8,))
    assert clf.fit(x, y) is clf
    assert clf.n_features_in_ == 4
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])


def test_works_inside_a_pipeline_with_standard_scaler(iris):
    x, y = iris
    pipe = Pipeline([("scale", StandardScaler()), ("net", Classifier(**SMALL))]).fit(x, y)
    assert pipe.score(x, y) > 0.85
    assert pipe.predict_proba(x[:5]).shape == (5, 3)


def test_cross_val_score_on_iris(iris):
    x, y = iris
    scores = cross_val_score(Classifier(**SMALL), x, y, cv=3)
    assert scores.shape == (3,)
    assert scores.mean() > 0.8


def test_grid_search_over_lr_picks_one(iris):
    x, y = iris
    grid = GridSearchCV(Classifier(hidden=(16,), epochs=10), {"lr": [1e-3, 3e-2]}, cv=2)
    grid.fit(x, y)
    assert grid.best_params_["lr"] in (1e-3, 3e-2)
    assert len(grid.cv_results_["mean_test_score"]) == 2
    assert grid.best_estimator_.predict(x).shape == (len(y),)


def test_string_labels_come_back_as_strings(iris):
    x, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = Classifier(**SMALL).fit(x, names)
    predicted = clf.predict(x)
    assert predicted.dtype == names.dtype
    assert set(predicted) <= set(names)
    np.testing.assert_array_equal(clf.classes_, ["setosa", "versicolor", "virginica"])
    assert np.mean(predicted == names) > 0.85


def test_integer_labels_come_back_as_integers(iris):
    x, y = iris
    clf = Classifier(epochs=2, hidden=(8,)).fit(x, y)
    predicted = clf.predict(x)
    assert predicted.dtype == y.dtype
    assert set(predicted) <= {0, 1, 2}


def test_int32_labels_keep_their_dtype(iris):
    x, y = iris
    y32 = y.astype(np.int32)
    clf = Classifier(epochs=2, hidden=(8,)).fit(x, y32)
    assert clf.predict(x).dtype == np.int32


def test_boolean_labels_come_back_as_booleans(iris):
    x, y = iris
    flags = y > 0
    clf = Classifier(epochs=2, hidden=(8,)).fit(x, flags)
    predicted = clf.predict(x)
    assert predicted.dtype == np.bool_
    np.testing.assert_array_equal(clf.classes_, [False, True])


@pytest.mark.parametrize("n_classes", [2, 3])
def test_predict_proba_rows_sum_to_one(iris, n_classes):
    x, y = iris
    keep = y < n_classes
    clf = Classifier(epochs=3, hidden=(8,)).fit(x[keep], y[keep])
    proba = clf.predict_proba(x)
    assert proba.shape == (len(x), n_classes)
    assert (proba >= 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    # predict agrees with the most probable class
    np.testing.assert_array_equal(clf.predict(x), clf.classes_[proba.argmax(axis=1)])


def test_dataframe_input_keeps_feature_names(iris):
    frame = load_iris(as_frame=True).frame
    x, y = frame.drop(columns="target"), frame["target"]
    clf = Classifier(epochs=2, hidden=(8,)).fit(x, y)
    assert list(clf.feature_names_in_) == list(x.columns)
    assert clf.predict(x.head(4)).shape == (4,)


def test_regressor_learns_a_line():
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, size=(200, 1))
    y = 2 * x[:, 0] + 3 + rng.normal(scale=0.05, size=200)
    reg = Regressor(hidden=(16,), epochs=60, lr=1e-2).fit(x, y)
    predicted = reg.predict(x)
    assert predicted.shape == (200,)
    assert predicted.dtype.kind == "f"
    assert reg.score(x, y) > 0.98


def test_regressor_on_a_dataframe_target_series():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=120), "b": rng.normal(size=120)})
    target = pd.Series(frame["a"] - frame["b"], name="t")
    reg = Regressor(hidden=(8,), epochs=3).fit(frame, target)
    assert reg.predict(frame).shape == (120,)
