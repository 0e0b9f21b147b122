"""Text end to end: `trainwise fit` on a text file, then `predict` / `evaluate` in new
processes reproduce the run; exact resume; the spam acceptance check (slow)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trainwise
import trainwise.errors
from resume_helpers import fit_stopped_at

REPO = Path(__file__).resolve().parents[1]
SMS_CANDIDATES = [
    Path(os.environ.get("TRAINWISE_DATASETS", REPO.parent / "shared" / "datasets")),
    REPO.parent / "shared" / "datasets",
    REPO.parent.parent / "shared" / "datasets",  # a worktree one level further down
]

SPAM = ["win", "free", "prize", "claim", "cash", "urgent", "txt", "call"]
HAM = ["see", "you", "later", "lunch", "home", "ok", "thanks", "love", "meeting", "tonight"]


def messages(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """Short messages; spam ones carry a few spam words among ordinary ones."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        spam = i % 3 == 0
        words = list(rng.choice(HAM, size=rng.integers(3, 9)))
        if spam:
            words += list(rng.choice(SPAM, size=rng.integers(2, 4)))
            rng.shuffle(words)
        rows.append(("spam" if spam else "ham", " ".join(words) + f" {rng.integers(100)}"))
    return pd.DataFrame(rows, columns=["label", "message"])


def test_text_file_fit_then_predict_and_evaluate_in_new_processes(tmp_path: Path, run_cli):
    messages().to_csv(tmp_path / "msgs.csv", index=False)
    fitted = run_cli(
        "fit", "--data", "msgs.csv", "--target", "label", "--output", "out",
        "train.epochs=40", "--quiet", cwd=tmp_path,
    )  # fmt: skip
    assert fitted.returncode == 0, fitted.stderr
    out = tmp_path / "out"
    summary = json.loads((out / "data_summary.json").read_text())
    assert summary["kind"] == "text"
    manifest = json.loads((out / "model" / "bundle.json").read_text())
    assert manifest["model"]["name"] == "embedding_bag"
    test = json.loads((out / "metrics.json").read_text())["test"]
    assert test["accuracy"] >= 0.9  # spam words are a plain signal

    predicted = run_cli("predict", "out", "--data", "out/test.csv", "--out", "p.csv", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    pred = pd.read_csv(tmp_path / "p.csv", float_precision="round_trip")
    rows = pd.read_csv(out / "test.csv")
    assert np.mean(pred["prediction"].to_numpy() == rows["label"].to_numpy()) == test["accuracy"]

    evaluated = run_cli("evaluate", "out", "--data", "out/test.csv", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout) == test


@pytest.mark.parametrize("family", ["rnn", "transformer"])
def test_reloaded_model_predicts_identically(tmp_path: Path, family: str):
    frame = messages(150)
    result = trainwise.fit(
        frame, "label", epochs=2, progress=False, output={"dir": str(tmp_path / "run")},
        spec={"model": {"name": family, "rnn": {"hidden": 16}, "transformer": {"d_model": 16}}},
    )  # fmt: skip
    loaded = trainwise.load(tmp_path / "run")
    new_rows = frame.drop(columns="label").head(20)
    assert np.array_equal(result.predict_proba(new_rows), loaded.predict_proba(new_rows))


def test_mixed_table_is_detected_trained_and_reloaded(tmp_path: Path):
    frame = messages(150)
    rng = np.random.default_rng(1)
    frame["message"] = frame["message"] + " sent from my phone today"  # prose: >= 6 words
    frame["hour"] = rng.integers(0, 24, size=len(frame))
    frame["channel"] = rng.choice(["sms", "mms", "app"], size=len(frame))
    result = trainwise.fit(
        frame, "label", epochs=2, progress=False, output={"dir": str(tmp_path / "run")}
    )
    assert result.summary["kind"] == "mixed"
    loaded = trainwise.load(tmp_path / "run")
    rows = frame.drop(columns="label").head(20)
    assert np.array_equal(result.predict_proba(rows), loaded.predict_proba(rows))


def test_sequences_of_varying_length_learn_and_reload(tmp_path: Path):
    """Python API: a column of arrays; the label is whether the walk ends above zero."""
    rng = np.random.default_rng(0)
    walks = [rng.normal(size=int(rng.integers(4, 30))).cumsum() for _ in range(300)]
    frame = pd.DataFrame({"walk": walks, "up": [int(w[-1] > 0) for w in walks]})
    result = trainwise.fit(
        frame, "up", epochs=15, progress=False, output={"dir": str(tmp_path / "run")}
    )
    assert result.summary["kind"] == "varseq"
    assert result.metrics["test"]["accuracy"] >= 0.8
    loaded = trainwise.load(tmp_path / "run")
    rows = frame.drop(columns="up").head(20)
    assert np.array_equal(result.predict_proba(rows), loaded.predict_proba(rows))


def test_resume_mid_epoch_is_exact_with_text_augmentation(tmp_path: Path):
    frame = messages(200)
    settings = {
        "epochs": 3,
        "batch_size": 16,
        "progress": False,
        "early_stopping": {"enabled": False},
        "spec": {"data": {"augment": {"token_dropout": 0.2, "token_swap": 0.1}}},
    }
    straight = trainwise.fit(frame, "label", output={"dir": str(tmp_path / "a")}, **settings)
    stopped = fit_stopped_at(13, frame, "label", output={"dir": str(tmp_path / "b")}, **settings)
    resumed = trainwise.fit(frame, resume=stopped.run_folder)
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]
    rows = frame.drop(columns="label")
    assert np.array_equal(resumed.predict_proba(rows), straight.predict_proba(rows))


@pytest.mark.slow
def test_sms_spam_with_defaults_from_the_cli(tmp_path: Path, run_cli):
    sms = next((d / "sms_spam.tsv" for d in SMS_CANDIDATES if (d / "sms_spam.tsv").is_file()), None)
    if sms is None:
        pytest.skip("sms_spam.tsv not found in the shared datasets folder")
    proc = run_cli("fit", "--data", sms, "--target", "col0", "--output", "out", "--quiet",
                   cwd=tmp_path, timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "out" / "data_summary.json").read_text())
    assert summary["kind"] == "text" and summary["splits"]["train"] > 3000
    test = json.loads((tmp_path / "out" / "metrics.json").read_text())["test"]
    assert test["per_class"]["spam"]["f1"] >= 0.90, test
