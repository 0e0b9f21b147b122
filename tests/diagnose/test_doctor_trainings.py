"""Deliberately broken trainings, each diagnosed with the right finding (and layer, epoch or
step where that applies), healthy trainings with no warning, and auto-fix repairing a run whose
learning rate is far too high."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import trainwise
from trainwise import Callback

QUIET = {"progress": False, "save": False}


def table(n: int = 300, d: int = 8, seed: int = 0, noise: float = 0.0, kind: str = "linear"):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = x[:, 0] + x[:, 1] > 0 if kind == "linear" else x[:, 0] * x[:, 1] > 0
    y = np.where(rng.random(n) < noise, ~y, y).astype(int)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(d)])
    frame["y"] = y
    return frame


def fit(frame=None, **kw):
    return trainwise.fit(table() if frame is None else frame, "y", **(QUIET | kw))


def rules(result, severity=("warning", "error")):
    return {f.rule: f for f in result.findings if f.severity in severity}


class TwoLayerNet(nn.Module):
    """Named layers, so findings can be checked by name."""

    def __init__(self, d: int = 8, width: int = 32, fc2_bias: float = 0.0) -> None:
        super().__init__()
        self.fc1, self.act1 = nn.Linear(d, width), nn.ReLU()
        self.fc2, self.act2 = nn.Linear(width, width), nn.ReLU()
        self.out = nn.Linear(width, 1)
        with torch.no_grad():
            self.fc2.bias.fill_(fc2_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.act2(self.fc2(self.act1(self.fc1(x)))))


def test_healthy_run_has_no_warning():
    result = fit(epochs=30, hidden=[32, 16])
    assert rules(result) == {}, [f.line() for f in result.findings]
    assert result.metrics["test"]["accuracy"] > 0.85


def test_deep_sigmoid_net_has_vanishing_gradients_in_its_first_layer():
    result = fit(hidden=[32] * 8, activation="sigmoid", norm="none", dropout=0.0, epochs=6)
    found = rules(result)["vanishing_gradients"]
    assert found.layer == "body.0"


def test_far_too_high_learning_rate_diverges():
    result = fit(lr=10.0, epochs=4)
    found = rules(result)
    assert found["divergence"].severity == "error" and found["divergence"].epoch == 1
    assert "update_ratio" in found and "too high" in found["update_ratio"].what


def test_very_negative_bias_kills_the_relu_units_of_that_layer():
    result = fit(model=TwoLayerNet(fc2_bias=-10.0), epochs=4)
    found = rules(result)["dead_relu"]
    assert found.layer == "fc2" and found.evidence["dead_share"] == 1.0
    assert found.epoch == 1


def test_tiny_learning_rate_barely_moves_the_loss():
    result = fit(lr=1e-7, epochs=6, hidden=[32, 16])
    found = rules(result)
    assert "too low" in found["loss_stagnant"].what
    assert "underfitting" not in found


def test_big_unregularised_net_on_small_noisy_data_overfits_from_the_best_epoch():
    frame = table(n=200, d=20, noise=0.3)
    result = fit(
        frame,
        hidden=[256, 256],
        dropout=0.0,
        weight_decay=0.0,
        epochs=40,
        early_stopping={"enabled": False},
    )
    found = rules(result)["overfitting"]
    val = [h["val_loss"] for h in result.history]
    assert found.epoch == result.history[int(np.argmin(val))]["epoch"]
    assert found.evidence["val_loss_end"] > found.evidence["val_loss_best"]


def test_tiny_model_on_a_nonlinear_problem_underfits():
    result = fit(table(n=400, kind="xor"), hidden=[1], epochs=25)
    assert "underfitting" in rules(result)


class PoisonWeight(Callback):
    """Writes a NaN into one weight after a given step, as a bad kernel or a bit flip would."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_batch_end(self, state, out):
        if state.step == self.step:
            with torch.no_grad():
                state.model.fc2.weight[0, 0] = float("nan")


def test_injected_nan_is_reported_with_its_first_step_and_layer():
    result = fit(model=TwoLayerNet(), callbacks=[PoisonWeight(9)], epochs=5)
    found = rules(result)["nonfinite"]
    assert (found.severity, found.step, found.layer) == ("error", 10, "fc2")


def test_run_folder_holds_findings_and_gradients(tmp_path: Path):
    out = tmp_path / "run"
    trainwise.fit(table(), "y", epochs=3, hidden=[16, 8], progress=False, output={"dir": str(out)})
    raw = json.loads((out / "findings.json").read_text())
    assert isinstance(raw["findings"], list)
    grads = json.loads((out / "gradients.json").read_text())
    assert grads["layers"][0] == "body.0" and grads["layers"][-1] == "head"
    assert grads["epochs"] == [1, 2, 3]
    assert all(len(row) == len(grads["layers"]) for row in grads["grad_norm"])
    assert all(len(row) == len(grads["layers"]) for row in grads["update_ratio"])
    assert all(v > 0 for row in grads["grad_norm"] for v in row)
    assert trainwise.load(out).findings == []


def test_findings_are_printed_as_they_appear():
    lines: list[str] = []
    trainwise.fit(table(), "y", lr=10.0, epochs=2, progress=False, save=False, log=lines.append)
    doctor_lines = [line for line in lines if line.startswith("doctor: ")]
    assert any("[divergence]" in line for line in doctor_lines)


def test_auto_fix_repairs_a_diverging_run_and_records_the_changes(tmp_path: Path):
    out = tmp_path / "run"
    result = trainwise.fit(
        table(),
        "y",
        lr=10.0,
        epochs=15,
        doctor={"auto_fix": True},
        progress=False,
        output={"dir": str(out)},
    )
    assert np.isfinite(result.history[-1]["loss"])
    assert result.metrics["test"]["accuracy"] > 0.85
    fixes = [f for f in result.findings if f.rule == "auto_fix"]
    assert fixes and "train.lr 10 -> 1" in fixes[0].applied
    assert "clip_norm None -> 1.0" in fixes[0].applied
    assert result.metrics["auto_fix"] == [f.applied for f in fixes]
    saved = json.loads((out / "findings.json").read_text())["findings"]
    assert [f["applied"] for f in saved if f["rule"] == "auto_fix"] == [f.applied for f in fixes]


def test_without_auto_fix_the_same_run_is_not_changed():
    result = fit(lr=10.0, epochs=3)
    assert "auto_fix" not in result.metrics
    assert all(f.applied is None for f in result.findings)


def test_doctor_can_be_turned_off():
    result = fit(lr=10.0, epochs=2, doctor={"enabled": False})
    assert result.findings == []


BUILTIN = ["iris", "wine", "breast_cancer", "diabetes", "digits", "mnist1d"]


@pytest.mark.slow
@pytest.mark.parametrize("name", BUILTIN)
def test_default_runs_on_builtin_datasets_have_no_warning(name: str):
    epochs = {"digits": 60, "mnist1d": 12}.get(name, 200)
    result = trainwise.fit(name, epochs=epochs, **QUIET)
    assert rules(result) == {}, [f.line() for f in result.findings]


class PoisonOnce(PoisonWeight):
    def on_batch_end(self, state, out):
        if not getattr(self, "done", False) and state.step == self.step:
            self.done = True
            super().on_batch_end(state, out)


def test_auto_fix_rolls_back_a_nan_and_training_continues():
    result = fit(
        model=TwoLayerNet(), callbacks=[PoisonOnce(9)], epochs=6, doctor={"auto_fix": True}
    )
    found = rules(result)
    assert (found["nonfinite"].step, found["nonfinite"].layer) == (10, "fc2")
    assert "rolled back" in found["auto_fix"].applied
    assert len(result.history) == 6 and np.isfinite(result.history[-1]["loss"])
    assert result.metrics["stop_reason"] == "max_epochs"


def test_on_nan_rollback_events_become_findings():
    result = fit(model=TwoLayerNet(), callbacks=[PoisonOnce(9)], epochs=5, on_nan="rollback")
    (event,) = [f for f in result.findings if f.rule == "numeric_fault"]
    assert "rolled back" in event.applied and "halved" in event.what


class SaturatingNet(nn.Module):
    """A tanh layer fed by weights 30x too large: its units sit at ±1."""

    def __init__(self, d: int = 8, width: int = 32) -> None:
        super().__init__()
        self.hidden, self.squash = nn.Linear(d, width), nn.Tanh()
        self.out = nn.Linear(width, 1)
        with torch.no_grad():
            self.hidden.weight.mul_(30.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.squash(self.hidden(x)))


def test_oversized_weights_saturate_the_tanh_units_of_that_layer():
    result = fit(model=SaturatingNet(), epochs=3)
    found = rules(result)["saturated_units"]
    assert found.layer == "hidden" and found.evidence["saturated_share"] >= 0.5
