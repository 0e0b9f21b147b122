"""Searches end to end on tiny data, through `trainwise.tune`: budgets, grid, results, resume,
pruning and cross-validation, with the real pipeline scoring every trial."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from optuna.trial import TrialState

import trainwise
from conftest import binary_frame, regression_frame
from trainwise.data.prepare import load_frames
from trainwise.pipeline import run
from trainwise.spec.io import parse_spec, spec_from_kwargs
from trainwise.train.state import TrainState
from trainwise.tune.cv import cross_validate, development_rows
from trainwise.tune.pruning import TrialReporter
from trainwise.tune.study import load_existing

FAST = {"hidden": [8], "epochs": 4, "progress": False}


def tune(tmp_path: Path, frame: pd.DataFrame, target: str, tune_section: dict, **kw):
    return trainwise.tune(
        frame,
        target,
        tune=tune_section,
        output={"root": str(tmp_path)},
        log=lambda *_: None,
        **{**FAST, **kw},
    )


def study_of(found) -> optuna.Study:
    return load_existing(found.plan.storage, found.plan.name)


def test_grid_visits_exactly_the_grid_and_writes_results(tmp_path):
    space = {"train.batch_size": [16, 32], "model.hidden": [[4], [8, 4]]}
    found = tune(tmp_path, binary_frame(), "y", {"space": space, "strategy": "grid"})
    trials = study_of(found).get_trials(states=(TrialState.COMPLETE,))
    visited = sorted((t.params["train.batch_size"], t.params["model.hidden"]) for t in trials)
    assert visited == [(16, "[4]"), (16, "[8, 4]"), (32, "[4]"), (32, "[8, 4]")]
    folder = Path(found.plan.folder)
    table = pd.read_csv(folder / "trials.csv")
    assert len(table) == 4 and set(table["state"]) == {"complete"}
    assert {"trial", "state", "score", "seconds", "train.batch_size"} <= set(table.columns)
    assert len(json.loads((folder / "trials.json").read_text())) == 4
    assert (folder / "history.png").stat().st_size > 1000
    assert (folder / "parallel_coordinate.png").is_file()
    best = parse_spec(__import__("yaml").safe_load((folder / "best_spec.yaml").read_text()))
    assert best.train.batch_size == found.best_spec.train.batch_size
    assert best.model.hidden == found.best_params["model.hidden"]
    assert found.best_value == max(t.value for t in trials)  # accuracy: higher is better


def test_budget_counts_study_trials_and_a_rerun_resumes(tmp_path):
    section = {"space": {"train.lr": "loguniform(1e-3, 1e-1)"}, "strategy": "random"}
    first = tune(tmp_path, binary_frame(), "y", {**section, "trials": 2})
    before = {t.number: t.value for t in study_of(first).trials}
    again = tune(tmp_path, binary_frame(), "y", {**section, "trials": 3})
    after = study_of(again).get_trials(states=(TrialState.COMPLETE,))
    assert len(after) == 3  # one more trial, not three more
    assert {t.number: t.value for t in after if t.number in before} == before
    # the defaults (lr 1e-3 is inside the space) are the first trial
    assert study_of(again).trials[0].params["train.lr"] == pytest.approx(1e-3)


def test_the_time_budget_is_not_overrun_by_more_than_a_trial(tmp_path):
    started = time.time()
    found = tune(
        tmp_path,
        binary_frame(),
        "y",
        {"space": {"train.lr": "loguniform(1e-3, 1e-1)"}, "trials": 1000, "timeout": 4},
    )
    trials = study_of(found).get_trials(states=(TrialState.COMPLETE,))
    longest = max(t.duration.total_seconds() for t in trials)
    last_end = max(t.datetime_complete.timestamp() for t in trials)
    assert 1 <= len(trials) < 1000
    assert last_end - started <= 4 + longest


def test_another_space_under_the_same_study_name_is_refused(tmp_path):
    tune(
        tmp_path, binary_frame(), "y", {"space": {"train.lr": "uniform(0.001, 0.01)"}, "trials": 1}
    )
    with pytest.raises(trainwise.SpecError, match="another search space"):
        tune(tmp_path, binary_frame(), "y", {"space": {"model.dropout": [0.0, 0.2]}, "trials": 1})


def test_reporter_prunes_a_trial_that_trails_the_median():
    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=2)
    )
    for _ in range(2):
        good = study.ask()
        for epoch in range(1, 4):
            good.report(0.9, epoch)
        study.tell(good, 0.9)
    trial = study.ask()
    net = torch.nn.Linear(2, 1)
    state = TrainState(
        net, torch.optim.SGD(net.parameters()), torch.nn.MSELoss(), 10, 4, torch.Generator()
    )
    reporter = TrialReporter(trial, "val_accuracy")
    state.epoch = 1
    reporter.on_epoch_end(state, {"val_accuracy": float("nan")})  # not reported
    assert state.stop_reason is None
    state.epoch = 2
    reporter.on_epoch_end(state, {"val_accuracy": 0.3})
    assert reporter.pruned and state.stop_reason.startswith("pruned")


def test_reporter_stops_training_at_the_deadline():
    net = torch.nn.Linear(2, 1)
    state = TrainState(
        net, torch.optim.SGD(net.parameters()), torch.nn.MSELoss(), 10, 4, torch.Generator()
    )
    TrialReporter(None, "val_loss", deadline=time.time() - 1).on_epoch_end(state, {})
    assert state.stop_reason == "time budget reached"


def test_cross_validation_refits_each_fold_and_keeps_the_test_rows_apart():
    frame = regression_frame(n=150)
    spec = spec_from_kwargs(target="y", evaluate={"cv": 3}, **{**FAST, "epochs": 60, "lr": 0.01})
    frames = load_frames(spec.data, frame)
    dev = development_rows(spec, frames)
    assert len(dev.frame) + len(dev.test) == len(frame)
    assert not set(map(tuple, dev.frame.values)) & set(map(tuple, dev.test.values))
    fitted = []

    def recording_run(*args, **kwargs):
        outcome = run(*args, **kwargs)
        fitted.append((kwargs["frame"], outcome.predictor.target.mean_))
        return outcome

    result = cross_validate(recording_run, spec, dev)
    assert len(result.folds) == 3 and len(fitted) == 3
    assert sum(len(f) for f, _ in fitted) == 2 * len(dev.frame)  # each row trains in K-1 folds
    for fold_frame, target_mean in fitted:  # the target scale is fitted on the fold's rows
        assert float(np.ravel(target_mean)[0]) == pytest.approx(fold_frame["y"].mean(), rel=1e-5)
    assert result.mean["r2"] > 0.5 and result.std["r2"] >= 0.0
    assert set(result.mean) == set(result.std) and "rmse" in result.mean


def test_a_cross_validated_study_records_mean_and_std(tmp_path):
    found = tune(
        tmp_path,
        binary_frame(),
        "y",
        {"space": {"model.dropout": [0.0, 0.3]}, "trials": 2, "pruner": "none"},
        evaluate={"cv": 3},
    )
    assert found.best_attrs["cv_folds"] == 3
    assert found.best_value == pytest.approx(found.best_attrs["cv_mean"]["accuracy"])
    assert "score_std" in pd.read_csv(Path(found.plan.folder) / "trials.csv").columns


def test_fit_with_cv_reports_mean_and_std_per_metric(tmp_path):
    lines: list[str] = []
    result = trainwise.fit(
        binary_frame(),
        "y",
        evaluate={"cv": 3},
        output={"root": str(tmp_path)},
        log=lines.append,
        **FAST,
    )
    cv = result.metrics["cv"]
    assert cv["folds"] == 3 and len(cv["per_fold"]) == 3
    assert cv["mean"]["accuracy"] == pytest.approx(np.mean([f["accuracy"] for f in cv["per_fold"]]))
    assert cv["std"]["accuracy"] == pytest.approx(
        np.std([f["accuracy"] for f in cv["per_fold"]], ddof=1)
    )
    assert any(line.startswith("cross-validation (3 folds): accuracy=") for line in lines)
    assert json.loads((result.path / "cv.json").read_text())["folds"] == 3


@pytest.mark.parametrize("strategy", ["tpe", "random", "cmaes", "gp"])
@pytest.mark.parametrize("pruner", ["median", "hyperband"])
def test_every_strategy_and_pruner_runs_a_study(tmp_path, strategy, pruner):
    if pruner == "hyperband" and strategy != "tpe":
        pytest.skip("one pruner pairing per strategy keeps the run short")
    space = {"train.lr": "loguniform(1e-3, 1e-1)", "model.hidden": [[4], [8]]}
    found = tune(
        tmp_path,
        binary_frame(n=80),
        "y",
        {"space": space, "trials": 3, "strategy": strategy, "pruner": pruner, "startup_trials": 1},
        epochs=2,
    )
    assert found.counts["COMPLETE"] + found.counts["PRUNED"] == 3
    assert 1e-3 <= found.best_spec.train.lr <= 1e-1
