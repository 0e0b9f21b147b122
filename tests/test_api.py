"""The Python API: `trainwise.fit`, `trainwise.load` and `Result`, on tiny known-answer tasks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

import trainwise
from trainwise import DataError, ModelError, Result, RunError, SpecError

FAST = {"hidden": [16], "progress": False, "lr": 1e-2}


class Linear(nn.Module):
    """A user's own module: one linear layer over the dense features."""

    def __init__(self, n_in: int = 3, n_out: int = 1) -> None:
        super().__init__()
        self.layer = nn.Linear(n_in, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


def _numeric_binary(binary_df: pd.DataFrame) -> pd.DataFrame:
    """The shared binary frame without its categorical column: 2 numeric features."""
    return binary_df.drop(columns=["c"])


# ---------------------------------------------------------------------------------------------
# inputs fit accepts


def test_fit_dataframe_returns_a_usable_result(binary_df: pd.DataFrame):
    result = trainwise.fit(binary_df, "y", epochs=5, save=False, **FAST)

    assert isinstance(result, Result)
    assert result.task == "binary"
    assert result.classes == ["no", "yes"]
    assert result.path is None
    assert 1 <= len(result.history) <= 5
    assert {"validation", "test"} <= set(result.metrics)
    splits = result.summary["splits"]
    assert sum(splits.values()) == len(binary_df)

    rows = binary_df.head(10)
    labels = result.predict(rows)
    assert labels.shape == (10,)
    assert set(labels) <= {"no", "yes"}
    proba = result.predict_proba(rows)
    assert proba.shape == (10, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    # the label is the class with the larger probability
    assert list(labels) == [result.classes[i] for i in (proba[:, 1] >= 0.5).astype(int)]

    frame = result.predict_frame(rows)
    assert list(frame.columns) == ["prediction", "proba_no", "proba_yes"]
    assert frame["prediction"].tolist() == list(labels)
    np.testing.assert_array_equal(frame[["proba_no", "proba_yes"]].to_numpy(), proba)

    scores = result.evaluate(binary_df)
    assert scores["n"] == len(binary_df)
    assert scores["accuracy"] == np.mean(result.predict(binary_df) == binary_df["y"].to_numpy())


def test_fit_arrays(blob_data):
    x, y = blob_data
    result = trainwise.fit((x, y), epochs=30, save=False, **FAST)
    assert result.task == "binary"
    labels = result.predict(x)  # a bare array predicts too
    assert labels.shape == (len(y),)
    assert np.mean(labels.astype(int) == y) == 1.0


def test_fit_builtin_name():
    result = trainwise.fit("iris", epochs=3, save=False, **FAST)
    assert result.task == "multiclass"
    assert len(result.classes) == 3
    assert result.summary["dataset"] == "iris"


def test_fit_builtin_name_predicts_on_its_own_columns():
    from sklearn.datasets import load_iris

    result = trainwise.fit("iris", epochs=3, save=False, **FAST)
    rows = load_iris(as_frame=True).frame.head(5)
    proba = result.predict_proba(rows)
    assert proba.shape == (5, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


def test_fit_with_explicit_validation_and_test(binary_df: pd.DataFrame):
    train, val, test = binary_df.iloc[:70], binary_df.iloc[70:100], binary_df.iloc[100:]
    result = trainwise.fit(train, "y", validation=val, test=test, epochs=3, save=False, **FAST)
    assert result.summary["splits"] == {"train": 70, "validation": 30, "test": 20}
    assert result.metrics["validation"]["n"] == 30
    assert result.metrics["test"]["n"] == 20
    assert result.metrics["test"] == result.evaluate(test)


def test_fit_with_yaml_spec_and_flat_overrides(tmp_path: Path, binary_df: pd.DataFrame):
    path = tmp_path / "spec.yaml"
    path.write_text(
        "model:\n  hidden: [8]\ntrain:\n  epochs: 9\n  lr: 0.02\n  seed: 3\n", encoding="utf-8"
    )
    result = trainwise.fit(binary_df, "y", spec=path, epochs=2, progress=False, save=False)
    assert result.spec is not None
    assert result.spec.train.epochs == 2  # the keyword wins over the file
    assert result.spec.train.lr == 0.02  # the file wins over the default
    assert result.spec.train.seed == 3
    assert result.spec.model.hidden == [8]
    assert len(result.history) <= 2


def test_misspelt_keyword_is_a_spec_error_with_a_suggestion(binary_df: pd.DataFrame):
    with pytest.raises(SpecError, match="did you mean 'epochs'"):
        trainwise.fit(binary_df, "y", epochz=3, save=False, progress=False)


def test_one_bare_array_is_a_data_error():
    with pytest.raises(DataError, match=r"\(X, y\)"):
        trainwise.fit(np.zeros((10, 2)))


def test_predict_proba_on_regression_is_a_data_error(regression_df: pd.DataFrame):
    result = trainwise.fit(regression_df, "y", epochs=2, save=False, **FAST)
    with pytest.raises(DataError, match="regression"):
        result.predict_proba(regression_df)


# ---------------------------------------------------------------------------------------------
# bring your own module


def test_user_module_trains_and_is_the_model(binary_df: pd.DataFrame):
    net = Linear(2, 1)
    before = net.layer.weight.detach().clone()
    result = trainwise.fit(
        _numeric_binary(binary_df), "y", model=net, epochs=40, save=False, **{**FAST, "lr": 0.05}
    )
    assert result.model is net
    assert not torch.equal(before, net.layer.weight.detach())
    assert result.metrics["test"]["accuracy"] >= 0.8  # a line separates the classes


def test_user_module_with_wrong_input_width_is_a_model_error(binary_df: pd.DataFrame):
    with pytest.raises(ModelError) as info:
        trainwise.fit(_numeric_binary(binary_df), "y", model=Linear(5, 1), save=False, **FAST)
    message = str(info.value)
    assert "(2, 2)" in message  # the shape of the first batch it was given
    assert "2 input features" in message  # how to fix it


def test_user_module_with_wrong_output_width_is_a_model_error(binary_df: pd.DataFrame):
    with pytest.raises(ModelError) as info:
        trainwise.fit(_numeric_binary(binary_df), "y", model=Linear(2, 4), save=False, **FAST)
    message = str(info.value)
    assert "(2, 4)" in message
    assert "(batch, 1)" in message


def test_module_class_instead_of_instance_is_a_model_error(binary_df: pd.DataFrame):
    with pytest.raises(ModelError, match="instance"):
        trainwise.fit(binary_df, "y", model=Linear, save=False, **FAST)  # type: ignore[arg-type]


def test_user_module_run_loads_only_with_the_module(tmp_path: Path, binary_df: pd.DataFrame):
    frame = _numeric_binary(binary_df)
    result = trainwise.fit(
        frame, "y", model=Linear(2, 1), epochs=3, output={"dir": str(tmp_path / "run")}, **FAST
    )
    assert result.path == tmp_path / "run"
    with pytest.raises(RunError, match="model="):
        trainwise.load(result.path)
    loaded = trainwise.load(result.path, model=Linear(2, 1))
    np.testing.assert_array_equal(loaded.predict_proba(frame), result.predict_proba(frame))
    with pytest.raises(RunError):
        trainwise.load(result.path, model=Linear(2, 3))


# ---------------------------------------------------------------------------------------------
# saved runs


@pytest.fixture
def saved_run(tmp_path: Path, binary_df: pd.DataFrame) -> Result:
    return trainwise.fit(binary_df, "y", epochs=5, output={"dir": str(tmp_path / "run")}, **FAST)


def test_load_predicts_identically(saved_run: Result, binary_df: pd.DataFrame):
    assert saved_run.path is not None
    loaded = trainwise.load(saved_run.path)
    np.testing.assert_array_equal(
        loaded.predict_proba(binary_df), saved_run.predict_proba(binary_df)
    )
    np.testing.assert_array_equal(loaded.predict(binary_df), saved_run.predict(binary_df))
    assert loaded.metrics == json.loads((saved_run.path / "metrics.json").read_text())
    assert [h["loss"] for h in loaded.history] == [h["loss"] for h in saved_run.history]
    # the saved spec is the resolved one, minus output.dir (so re-running it makes a new folder)
    assert loaded.spec is not None and saved_run.spec is not None
    assert loaded.spec.output.dir is None
    skip_dir = {"output": {"dir"}}
    assert loaded.spec.model_dump(exclude=skip_dir) == saved_run.spec.model_dump(exclude=skip_dir)
    # the saved test rows score exactly as the run scored them
    assert loaded.evaluate(saved_run.path / "test.csv") == saved_run.metrics["test"]


def test_load_of_a_folder_without_a_model_is_a_run_error(tmp_path: Path):
    with pytest.raises(RunError, match="no trained model"):
        trainwise.load(tmp_path)


def test_run_folder_holds_no_pickle(saved_run: Result):
    assert saved_run.path is not None
    files = [p for p in saved_run.path.rglob("*") if p.is_file()]
    assert len(files) >= 8
    weights = saved_run.path / "model" / "weights.safetensors"
    for path in files:
        data = path.read_bytes()
        assert data[:4] != b"PK\x03\x04", f"{path} is a zip archive (torch.save format)"
        if path == weights:
            # safetensors: an 8-byte little-endian header length, then a JSON header. The length
            # bytes may look like a pickle opcode, so the file is checked by its own format.
            size = int.from_bytes(data[:8], "little")
            assert 8 + size <= len(data)
            assert isinstance(json.loads(data[8 : 8 + size]), dict)
        else:
            assert data[:2] not in (b"\x80\x04", b"\x80\x05"), f"{path} is a pickle"
    with safe_open(str(weights), framework="pt") as handle:
        names = list(handle.keys())
    state = load_file(str(weights))
    assert sorted(names) == sorted(state)
    model_state = saved_run.model.state_dict()
    assert set(state) == set(model_state)
    for name, tensor in state.items():
        torch.testing.assert_close(tensor, model_state[name].cpu(), rtol=0, atol=0)
    json.loads((saved_run.path / "model" / "bundle.json").read_text())


# ---------------------------------------------------------------------------------------------
# known answers


def test_linear_regression_reaches_r2_above_098(regression_df: pd.DataFrame):
    result = trainwise.fit(regression_df, "y", epochs=60, save=False, **FAST)
    assert result.task == "regression"
    assert result.metrics["test"]["r2"] > 0.98
    x = pd.DataFrame({"x": [-1.0, 0.0, 1.0], "z": [0.0, 0.0, 0.0]})
    np.testing.assert_allclose(result.predict(x), [1.0, 3.0, 5.0], atol=0.3)


def test_separated_blobs_reach_accuracy_1(blob_data):
    x, y = blob_data
    result = trainwise.fit((x, y), epochs=30, save=False, **FAST)
    assert result.metrics["test"]["accuracy"] == 1.0
    assert result.metrics["validation"]["accuracy"] == 1.0


def test_multilabel_end_to_end(tmp_path: Path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(240, 3)), columns=["a", "b", "c"])
    labels = ["la", "lb", "lc"]
    for name, label in zip("abc", labels, strict=True):
        frame[label] = (frame[name] > 0).astype(int)
    result = trainwise.fit(frame, labels, epochs=40, output={"dir": str(tmp_path / "run")}, **FAST)
    assert result.task == "multilabel"
    assert result.metrics["test"]["f1_macro"] > 0.85

    rows = frame.head(20)
    predicted = result.predict(rows)
    assert predicted.shape == (20, 3)
    assert set(np.unique(predicted)) <= {0, 1}
    proba = result.predict_proba(rows)
    assert proba.shape == (20, 3)
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_array_equal(predicted, (proba >= 0.5).astype(int))

    loaded = trainwise.load(tmp_path / "run")
    np.testing.assert_array_equal(loaded.predict_proba(rows), proba)
    assert loaded.evaluate(tmp_path / "run" / "test.csv") == result.metrics["test"]


def test_same_seed_reproduces_and_another_seed_differs(binary_df: pd.DataFrame):
    def losses(seed: int) -> list[float]:
        result = trainwise.fit(binary_df, "y", epochs=4, seed=seed, save=False, **FAST)
        return [h["loss"] for h in result.history]

    first = losses(1)
    assert losses(1) == first
    assert losses(2) != first


def test_a_dataframe_with_a_repeated_column_name_is_one_clear_error() -> None:
    # a repeated name made `frame[name]` a table and ended in an AttributeError
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "y"])
    twice = frame.set_axis(["a", "a", "y"], axis=1)
    with pytest.raises(DataError, match="duplicate column names: a"):
        trainwise.fit(twice, "y", epochs=1, save=False, progress=False)
    result = trainwise.fit(frame, "y", epochs=1, save=False, progress=False)
    with pytest.raises(DataError, match="duplicate column names: a"):
        result.predict(twice)
