"""The rules on hand-made epoch histories: each fires on its pattern, names the right epoch or
layer, and stays quiet on a healthy trajectory."""

from __future__ import annotations

import json
import math

from trainwise.diagnose.findings import Finding, format_findings, read_findings, write_findings
from trainwise.diagnose.rules import (
    EPOCH_RULES,
    FINAL_RULES,
    Context,
    divergence,
    exploding_gradients,
    loss_stagnant,
    nonfinite,
    overfitting,
    run_rules,
    underfitting,
    update_ratio,
    vanishing_gradients,
)

LAYERS = ["body.0", "body.1", "body.4", "body.5", "body.8", "head"]  # linear/norm pairs, head
CTX = Context(
    layers=LAYERS,
    numel=[16 * 8 + 16, 32, 16 * 16 + 16, 32, 16 * 16 + 16, 17],
    has_matrix=[True, False, True, False, True, True],
    embedding=[False] * 6,
    baseline_loss=0.69,
    restores_best=True,
)


def epochs_from(loss, val=None, grad=None, ratio=None):
    out = []
    for i, value in enumerate(loss):
        e = {
            "epoch": i + 1,
            "loss": value,
            "val_loss": val[i] if val else None,
            "nonfinite_steps": 0,
            "grad_norm": grad[i] if grad else [0.1, 0.01, 0.1, 0.01, 0.1, 0.1],
            "update_ratio": ratio[i] if ratio else [3e-3, 1e-3, 5e-3, 1e-3, 5e-3, 8e-3],
            "grad_norm_max": 0.5,
            "first_nonfinite": None,
            "activations": [],
        }
        e["ratio_grad_norm"] = e["grad_norm"]
        e["weight_norm"] = [3.0, 4.0, 4.0, 4.0, 4.0, 1.0]
        out.append(e)
    return out


def healthy():
    loss = [0.6 * 0.8**i + 0.05 for i in range(30)]
    val = [0.62 * 0.8**i + 0.08 for i in range(30)]
    return epochs_from(loss, val)


def severities(findings):
    return [f.severity for f in findings]


def test_healthy_trajectory_has_no_findings():
    assert run_rules([*EPOCH_RULES, *FINAL_RULES], healthy(), CTX) == []


def test_overfitting_names_the_epoch_validation_loss_was_best():
    loss = [0.6 * 0.8**i for i in range(20)]
    val = [0.6, 0.5, 0.45, 0.43, 0.44, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0] + [1.1] * 9
    (f,) = overfitting(epochs_from(loss, val), CTX)
    assert f.rule == "overfitting" and f.epoch == 4 and f.severity == "warning"
    assert f.evidence["val_loss_best"] == 0.43


def test_a_mild_late_rise_that_early_stopping_handled_is_only_info():
    loss = [0.6 * 0.8**i for i in range(20)]
    val = [0.6 * 0.8**i + 0.05 for i in range(10)] + [0.05 + 0.6 * 0.8**9 * 1.3] * 10
    (f,) = overfitting(epochs_from(loss, val), CTX)
    assert f.severity == "info"
    no_restore = Context(**{**CTX.__dict__, "restores_best": False})
    assert severities(overfitting(epochs_from(loss, val), no_restore)) == ["warning"]


def test_underfitting_when_the_loss_is_flat_near_the_constant_prediction():
    loss = [0.69, 0.62, 0.6, 0.59] + [0.585] * 10
    (f,) = underfitting(epochs_from(loss, loss), CTX)
    assert f.rule == "underfitting" and f.evidence["loss_to_baseline"] > 0.8
    assert loss_stagnant(epochs_from(loss, loss), CTX) == []


def test_a_flat_loss_with_tiny_steps_is_a_too_low_learning_rate_not_underfitting():
    loss = [0.70, 0.699, 0.699, 0.698, 0.698, 0.697]
    tiny = [[1e-6, 1e-6, 2e-6, 1e-6, 2e-6, 3e-6]] * 6
    epochs = epochs_from(loss, loss, ratio=tiny)
    (f,) = loss_stagnant(epochs, CTX)
    assert "too low" in f.what and "raise train.lr" in f.fix
    assert underfitting(epochs, CTX) == []
    (g,) = update_ratio(epochs, CTX)
    assert g.severity == "warning" and "too low" in g.what


def test_huge_update_ratio_names_the_layer():
    ratio = [[3e-3, 1e-3, 0.5, 1e-3, 5e-3, 8e-3]] * 3
    (f,) = update_ratio(epochs_from([0.6, 0.5, 0.4], ratio=ratio), CTX)
    assert f.layer == "body.4" and "too high" in f.what


def test_divergence_far_above_a_constant_prediction_is_an_error():
    (f,) = divergence(epochs_from([40.0, 30.0]), CTX)
    assert f.severity == "error" and f.epoch == 1
    (g,) = divergence(epochs_from([0.6, 0.3, 0.2, 0.7]), CTX)
    assert g.severity == "warning" and g.epoch == 4


def test_exploding_gradients_grow_from_earlier_epochs_not_later_ones():
    rising = [[g, 0.01, g, 0.01, g, g] for g in (0.1, 0.2, 1.0, 30.0)]
    (f,) = exploding_gradients(epochs_from([0.6, 0.5, 0.4, 0.3], grad=rising), CTX)
    assert f.epoch == 4 and f.evidence["growth"] >= 100
    converging = [[g, 0.01, g, 0.01, g, g] for g in (1.0, 0.3, 0.05, 0.005)]
    assert exploding_gradients(epochs_from([0.6, 0.3, 0.1, 0.05], grad=converging), CTX) == []


def test_a_spike_is_measured_against_the_median_of_the_epochs_so_far():
    """Four epoch means 1, 3, 1, 3: their median is 2 (the mean of the middle two), so a
    largest step of 200 in epoch 4 is a 100x spike and one of 150 is not."""
    grad = [[v, 0.0, 0.0, 0.0, 0.0, 0.0] for v in (1.0, 3.0, 1.0, 3.0)]

    def history(peak: float) -> list[dict]:
        epochs = epochs_from([0.6, 0.5, 0.4, 0.3], grad=grad)
        epochs[3]["grad_norm_max"] = peak
        return epochs

    (f,) = exploding_gradients(history(200.0), CTX)
    assert f.epoch == 4 and f.evidence["spike_to_median"] == 100.0
    assert exploding_gradients(history(150.0), CTX) == []


def test_divergence_compares_with_the_lowest_loss_before_each_epoch():
    (f,) = divergence(epochs_from([0.6, 0.2, 0.5, 0.25, 0.65]), CTX)
    assert f.epoch == 5 and "from 0.2 to 0.65" in f.what


def test_vanishing_names_the_earliest_layer():
    grad = [[1e-7, 1e-3, 1e-2, 1e-3, 1e-2, 1e-1]] * 3
    (f,) = vanishing_gradients(epochs_from([0.69] * 3, grad=grad), CTX)
    assert f.layer == "body.0" and "body.0" in f.evidence["vanishing_layers"]


def test_nonfinite_reports_first_step_and_layer():
    epochs = epochs_from([0.5, float("nan")])
    epochs[1]["nonfinite_steps"] = 3
    epochs[1]["first_nonfinite"] = {"step": 17, "layer": "body.4", "kind": "weights"}
    (f,) = nonfinite(epochs, CTX)
    assert (f.severity, f.step, f.layer, f.epoch) == ("error", 17, "body.4", 2)


def test_findings_round_trip_through_json(tmp_path):
    f = Finding(
        "nonfinite",
        "error",
        "NaN",
        {"loss": [0.5, math.nan], "n": 3, "ratio": 0.123456789},
        "lower lr",
        2,
        17,
        "body.4",
        "train.lr 1 -> 0.1",
    )
    write_findings(tmp_path / "findings.json", [f])
    raw = json.loads((tmp_path / "findings.json").read_text())
    assert set(raw["findings"][0]) == {
        "rule",
        "severity",
        "what",
        "evidence",
        "fix",
        "epoch",
        "step",
        "layer",
        "applied",
    }
    assert raw["findings"][0]["evidence"] == {"loss": [0.5, "nan"], "n": 3, "ratio": 0.1235}
    (back,) = read_findings(tmp_path / "findings.json")
    assert (back.rule, back.step, back.layer, back.applied) == (
        "nonfinite",
        17,
        "body.4",
        f.applied,
    )
    text = format_findings([back])
    assert "ERROR [nonfinite]" in text and "layer body.4" in text and "step 17" in text
