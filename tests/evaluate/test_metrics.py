"""Task metrics: hand-computed known answers, scikit-learn oracles, and the JSON/None contract."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from trainwise.evaluate.metrics import (
    GREATER_IS_BETTER,
    classification_metrics,
    compute_metrics,
    is_better,
    multilabel_metrics,
    primary_metric,
    regression_metrics,
)

BIN = ["neg", "pos"]


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _assert_json_ready(obj: object) -> None:
    """Plain Python types only, no NaN/inf anywhere (allow_nan=False rejects them)."""
    json.dumps(obj, allow_nan=False)
    if isinstance(obj, dict):
        for value in obj.values():
            _assert_json_ready(value)
    elif isinstance(obj, list):
        for value in obj:
            _assert_json_ready(value)
    else:
        assert obj is None or type(obj) in (float, int), (obj, type(obj))


# --- known answers, computed by hand ---------------------------------------------------------


def test_binary_tiny_example_by_hand() -> None:
    y = np.array([0, 0, 1, 1, 1])
    p = np.array([0.1, 0.6, 0.7, 0.4, 0.9])  # predicted: 0 1 1 0 1
    m = classification_metrics(y, p, BIN)
    assert m["confusion_matrix"] == [[1, 1], [1, 2]]
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["balanced_accuracy"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert m["precision_macro"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    # 5 of the 6 (positive, negative) pairs are ordered correctly; only 0.4 < 0.6 is not.
    assert m["roc_auc"] == pytest.approx(5 / 6)
    expected_ll = -np.mean(np.log([0.9, 0.4, 0.7, 0.4, 0.9]))
    assert m["log_loss"] == pytest.approx(expected_ll)
    assert m["per_class"]["neg"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert m["per_class"]["pos"]["support"] == 3
    assert m["n"] == 5


def test_multiclass_tiny_example_by_hand() -> None:
    y = np.array([0, 0, 1, 2, 2, 2])
    pred = np.array([0, 1, 1, 2, 0, 2])
    proba = np.full((6, 3), 0.1)
    proba[np.arange(6), pred] = 0.8
    m = classification_metrics(y, proba, ["a", "b", "c"])
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["recall_macro"] == pytest.approx((1 / 2 + 1 + 2 / 3) / 3)
    assert m["precision_macro"] == pytest.approx((1 / 2 + 1 / 2 + 1) / 3)
    assert m["per_class"]["c"] == pytest.approx(
        {"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3}
    )
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.8, 0.1, 0.8, 0.8, 0.1, 0.8])))
    assert "f1" not in m  # positive-class metrics are binary only


def test_regression_tiny_example_by_hand() -> None:
    m = regression_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0, 6.0]))
    assert m["mse"] == pytest.approx(1.0)
    assert m["rmse"] == pytest.approx(1.0)
    assert m["mae"] == pytest.approx(0.5)
    assert m["r2"] == pytest.approx(1 - 4 / 5)  # SS_res = 4, SS_tot = 5
    assert m["n"] == 4


# --- oracles against scikit-learn on random data ---------------------------------------------


def test_binary_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = 1 / (1 + np.exp(-(1.5 * (y - 0.5) + rng.normal(size=500))))
    pred = (p >= 0.5).astype(int)
    m = classification_metrics(y, p, BIN)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert m["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert m["recall"] == pytest.approx(skm.recall_score(y, pred))
    assert m["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, p))
    assert m["confusion_matrix"] == skm.confusion_matrix(y, pred).tolist()
    assert 0.5 < m["roc_auc"] < 1.0  # the data is informative but not separable


def test_multiclass_matches_sklearn() -> None:
    rng = np.random.default_rng(1)
    k, n = 4, 400
    y = rng.integers(0, k, n)
    proba = _softmax(rng.normal(size=(n, k)) + 1.2 * np.eye(k)[y])
    pred = proba.argmax(axis=1)
    m = classification_metrics(y, proba, list("abcd"))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    for name in ("precision", "recall", "f1"):
        fn = getattr(skm, f"{name}_score")
        assert m[f"{name}_macro"] == pytest.approx(fn(y, pred, average="macro"))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr"))
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, proba))
    assert m["confusion_matrix"] == skm.confusion_matrix(y, pred).tolist()
    f1s = skm.f1_score(y, pred, average=None)
    assert [m["per_class"][c]["f1"] for c in "abcd"] == pytest.approx(f1s)
    assert sum(m["per_class"][c]["support"] for c in "abcd") == n


@pytest.mark.parametrize("k", [1, 3])
def test_regression_matches_sklearn(k: int) -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(size=(300, k)) * np.arange(1, k + 1)
    pred = y + rng.normal(scale=0.5, size=y.shape)
    m = regression_metrics(y, pred)
    assert m["mse"] == pytest.approx(skm.mean_squared_error(y, pred))
    assert m["rmse"] == pytest.approx(skm.root_mean_squared_error(y, pred))
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, pred))
    assert m["r2"] == pytest.approx(skm.r2_score(y, pred))
    if k == 1:
        assert m == regression_metrics(y.ravel(), pred.ravel())
        assert m["rmse"] == pytest.approx(math.sqrt(m["mse"]))


def test_multilabel_matches_sklearn() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, (300, 5))
    proba = 1 / (1 + np.exp(-(2.0 * (y - 0.5) + rng.normal(size=y.shape))))
    pred = (proba >= 0.5).astype(int)
    m = multilabel_metrics(y, proba, list("vwxyz"))
    assert m["subset_accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["hamming_loss"] == pytest.approx(skm.hamming_loss(y, pred))
    assert m["f1_micro"] == pytest.approx(skm.f1_score(y, pred, average="micro"))
    assert m["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert m["roc_auc_macro"] == pytest.approx(skm.roc_auc_score(y, proba, average="macro"))
    recalls = skm.recall_score(y, pred, average=None)
    assert [m["per_label"][c]["recall"] for c in "vwxyz"] == pytest.approx(recalls)
    assert [m["per_label"][c]["support"] for c in "vwxyz"] == y.sum(axis=0).tolist()
    assert m["n"] == 300


# --- edge cases --------------------------------------------------------------------------------


def test_binary_proba_shapes_agree_including_ties() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 50)
    p = rng.random(50)
    p[:5] = 0.5  # a tie must go the same way whichever shape the model emits
    flat = classification_metrics(y, p, BIN)
    assert flat == classification_metrics(y, np.stack([1 - p, p], axis=1), BIN)
    assert flat == classification_metrics(y, p[:, None], BIN)
    assert flat == compute_metrics("binary", y, p, BIN)
    tie = classification_metrics(np.array([0, 1]), np.array([0.5, 0.5]), BIN)
    assert tie["confusion_matrix"] == [[0, 1], [0, 1]]  # P(class 1) = 0.5 predicts class 1


def test_one_class_present_gives_none_auc_without_warnings() -> None:
    m = classification_metrics(np.ones(6, dtype=int), np.linspace(0.2, 0.9, 6), BIN)
    assert m["roc_auc"] is None
    assert m["confusion_matrix"] == [[0, 0], [3, 3]]  # 0.2 0.34 0.48 | 0.62 0.76 0.9
    assert m["recall"] == pytest.approx(3 / 6)
    assert m["log_loss"] is not None and m["log_loss"] > 0
    _assert_json_ready(m)

    proba = _softmax(np.random.default_rng(5).normal(size=(8, 3)))
    m3 = classification_metrics(np.full(8, 2), proba, ["a", "b", "c"])
    assert m3["roc_auc"] is None
    assert m3["log_loss"] == pytest.approx(-np.mean(np.log(proba[:, 2])))
    _assert_json_ready(m3)


def test_missing_class_averages_auc_over_present_classes() -> None:
    rng = np.random.default_rng(6)
    y = rng.choice([0, 2], 60)  # class 1 never occurs but is still predicted sometimes
    proba = _softmax(rng.normal(size=(60, 3)) + np.eye(3)[y])
    m = classification_metrics(y, proba, ["a", "b", "c"])
    expected = np.mean([skm.roc_auc_score(y == c, proba[:, c]) for c in (0, 2)])
    assert m["roc_auc"] == pytest.approx(expected)
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=[0, 1, 2]))
    assert m["per_class"]["b"]["support"] == 0
    assert np.array(m["confusion_matrix"]).shape == (3, 3)


def test_macro_averages_leave_out_classes_absent_and_never_predicted() -> None:
    # a rare class missing from a small test split is not a class the model got wrong
    y = np.array([0, 2, 2, 0, 2])
    m = classification_metrics(y, np.eye(4)[y], ["a", "b", "c", "d"])
    assert m["f1_macro"] == m["precision_macro"] == m["recall_macro"] == 1.0
    assert m["recall_macro"] == m["balanced_accuracy"]
    mb = classification_metrics(np.array([1, 1, 1]), np.array([0.9, 0.8, 0.7]), BIN)
    assert mb["f1_macro"] == 1.0
    # a class predicted but absent still counts: its precision is 0
    m2 = classification_metrics(np.array([0, 0, 1, 1]), np.eye(3)[[0, 2, 1, 1]], ["a", "b", "c"])
    assert m2["precision_macro"] == pytest.approx(
        skm.precision_score([0, 0, 1, 1], [0, 2, 1, 1], average="macro", zero_division=0)
    )


def test_perfect_predictions() -> None:
    y = np.array([0, 1, 2, 1, 0])
    m = classification_metrics(y, np.eye(3)[y], ["a", "b", "c"])  # exact 0s and 1s
    assert m["accuracy"] == 1.0 and m["f1_macro"] == 1.0 and m["roc_auc"] == 1.0
    assert 0.0 <= m["log_loss"] < 1e-6
    mb = classification_metrics(np.array([0, 1, 1]), np.array([0.0, 1.0, 1.0]), BIN)
    assert mb["accuracy"] == 1.0 and mb["f1"] == 1.0 and mb["log_loss"] < 1e-6
    assert regression_metrics(np.arange(4.0), np.arange(4.0)) == {
        "mse": 0.0,
        "rmse": 0.0,
        "mae": 0.0,
        "r2": 1.0,
        "n": 4,
    }


def test_confident_mistake_gives_large_finite_log_loss() -> None:
    m = classification_metrics(np.array([1, 0]), np.array([0.0, 0.0]), BIN)
    assert m["log_loss"] is not None and 10 < m["log_loss"] < 100


def test_float32_softmax_rows_do_not_warn() -> None:
    rng = np.random.default_rng(7)
    proba = _softmax(rng.normal(size=(200, 10)) * 3).astype(np.float32)
    y = rng.integers(0, 10, 200)
    # Rows of a float32 softmax miss 1.0 by more than sklearn tolerates in float64: passed
    # straight to sklearn they warn (an error under pytest), so the module must renormalise.
    with pytest.warns(UserWarning, match="sum to one"):
        skm.log_loss(y, proba.astype(np.float64))
    m = classification_metrics(y, proba, [str(i) for i in range(10)])
    expected = -np.mean(np.log(proba[np.arange(200), y].astype(np.float64)))
    assert m["log_loss"] == pytest.approx(expected, rel=1e-5)


def test_non_finite_output_gives_none_not_nan() -> None:
    p = np.array([0.2, np.nan, 0.9, 0.1])
    m = classification_metrics(np.array([0, 1, 1, 0]), p, BIN)
    assert m["roc_auc"] is None and m["log_loss"] is None
    _assert_json_ready(m)
    r = regression_metrics(np.arange(3.0), np.array([0.0, np.inf, 1.0]))
    assert r == {"mse": None, "rmse": None, "mae": None, "r2": None, "n": 3}


def test_r2_none_for_constant_target_and_skips_constant_outputs() -> None:
    assert regression_metrics(np.full(5, 3.0), np.arange(5.0))["r2"] is None
    rng = np.random.default_rng(8)
    y = np.column_stack([rng.normal(size=40), np.full(40, 1.0)])
    pred = y + rng.normal(scale=0.3, size=y.shape)
    assert regression_metrics(y, pred)["r2"] == pytest.approx(skm.r2_score(y[:, 0], pred[:, 0]))


def test_multilabel_auc_skips_constant_labels_and_none_when_all_constant() -> None:
    rng = np.random.default_rng(9)
    y = rng.integers(0, 2, (30, 3))
    y[:, 1] = 0
    proba = rng.random((30, 3))
    m = multilabel_metrics(y, proba, ["a", "b", "c"])
    expected = np.mean([skm.roc_auc_score(y[:, j], proba[:, j]) for j in (0, 2)])
    assert m["roc_auc_macro"] == pytest.approx(expected)
    assert multilabel_metrics(np.ones((4, 2)), rng.random((4, 2)), "ab")["roc_auc_macro"] is None


def test_bad_shapes_raise_value_error() -> None:
    with pytest.raises(ValueError, match="shape"):
        classification_metrics(np.array([0, 1, 2]), np.zeros((3, 2)), ["a", "b", "c"])
    with pytest.raises(ValueError, match="class codes"):
        classification_metrics(np.array([0, 3]), np.zeros((2, 3)), ["a", "b", "c"])
    with pytest.raises(ValueError, match="shape"):
        regression_metrics(np.zeros(4), np.zeros(3))
    with pytest.raises(ValueError, match="no samples"):
        regression_metrics(np.zeros(0), np.zeros(0))


# --- contract: JSON-ready output, directions, dispatch ----------------------------------------


def _all_outputs() -> dict[str, dict]:
    rng = np.random.default_rng(10)
    y3 = rng.integers(0, 3, 40)
    return {
        "binary": compute_metrics("binary", rng.integers(0, 2, 40), rng.random(40), BIN),
        "multiclass": compute_metrics("multiclass", y3, _softmax(rng.normal(size=(40, 3))), "abc"),
        "regression": compute_metrics("regression", rng.normal(size=40), rng.normal(size=40), None),
        "multilabel": compute_metrics(
            "multilabel", rng.integers(0, 2, (40, 3)), rng.random((40, 3)), "xyz"
        ),
    }


def test_every_output_is_json_ready_and_every_scalar_has_a_direction() -> None:
    for task, m in _all_outputs().items():
        _assert_json_ready(m)
        scalars = {k for k, v in m.items() if not isinstance(v, dict | list) and k != "n"}
        assert scalars <= GREATER_IS_BETTER.keys(), task
        assert primary_metric(task) in scalars
        assert all(isinstance(m[k], float) for k in scalars), task


def test_is_better_directions() -> None:
    assert is_better("accuracy", 0.9, 0.8) and not is_better("accuracy", 0.8, 0.9)
    assert is_better("rmse", 0.8, 0.9) and not is_better("rmse", 0.9, 0.8)
    assert is_better("loss", 0.1, 0.2) and not is_better("loss", 0.2, 0.1)
    assert is_better("val_accuracy", 0.9, 0.8) and is_better("val_loss", 0.1, 0.2)
    assert not is_better("accuracy", 0.8, 0.8)  # a tie is not an improvement
    assert not is_better("accuracy", 0.805, 0.8, min_delta=0.01)
    assert is_better("loss", 5.0, None) and not is_better("loss", None, 5.0)
    assert not is_better("loss", float("nan"), 5.0)
    assert GREATER_IS_BETTER["log_loss"] is False and GREATER_IS_BETTER["r2"] is True
    with pytest.raises(ValueError, match="unknown metric"):
        is_better("acuracy", 0.9, 0.8)


def test_primary_metric_and_unknown_task() -> None:
    assert primary_metric("binary") == primary_metric("multiclass") == "accuracy"
    assert primary_metric("regression") == "rmse"
    assert primary_metric("multilabel") == "f1_macro"
    with pytest.raises(ValueError, match="unknown task"):
        primary_metric("ranking")
    with pytest.raises(ValueError, match="unknown task"):
        compute_metrics("ranking", np.zeros(2), np.zeros(2), None)


def test_classification_matches_sklearn_on_random_splits_with_ties_and_absent_classes() -> None:
    # counted from one confusion matrix and ranks, so every metric is checked against the
    # library's own functions on splits that lack classes, tie scores or have a single row
    rng = np.random.default_rng(3)
    for case in range(120):
        k = int(rng.choice([2, 3, 6]))
        n = int(rng.choice([1, 7, 60, 300]))
        y = rng.integers(0, k, n)
        if case % 4 == 0 and k > 2:
            y[y == 1] = 0  # class 1 absent from the truth
        logits = np.round(rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y], case % 3)  # ties
        proba = _softmax(logits)
        pred = (proba[:, 1] >= 0.5).astype(int) if k == 2 else proba.argmax(axis=1)
        names = [f"c{i}" for i in range(k)]
        m = classification_metrics(y, proba, names)
        labels = list(range(k))
        seen = np.union1d(y, pred)
        assert m["accuracy"] == skm.accuracy_score(y, pred)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
        for name in ("precision", "recall", "f1"):
            fn = getattr(skm, f"{name}_score")
            expected = fn(y, pred, labels=seen, average="macro", zero_division=0)
            assert m[f"{name}_macro"] == pytest.approx(expected)
        p, r, f, s = skm.precision_recall_fscore_support(
            y, pred, labels=labels, average=None, zero_division=0
        )
        got = [m["per_class"][c] for c in names]
        assert [c["precision"] for c in got] == pytest.approx(p)
        assert [c["recall"] for c in got] == pytest.approx(r)
        assert [c["f1"] for c in got] == pytest.approx(f)
        assert [c["support"] for c in got] == s.tolist()
        assert m["confusion_matrix"] == skm.confusion_matrix(y, pred, labels=labels).tolist()
        assert m["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=labels))
        present = np.unique(y)
        if k == 2:
            expected_auc = skm.roc_auc_score(y, proba[:, 1]) if len(present) == 2 else None
        elif len(present) > 1:
            onehot = np.eye(k)[y][:, present]
            expected_auc = skm.roc_auc_score(onehot, proba[:, present], average="macro")
        else:
            expected_auc = None
        assert m["roc_auc"] == (pytest.approx(expected_auc) if expected_auc is not None else None)
