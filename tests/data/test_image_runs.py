"""Image data end to end: folders through the CLI, arrays through the API, bad input → exit 2."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from image_fixtures import shapes_images, write_folder

import trainwise
from resume_helpers import fit_stopped_at
from trainwise.errors import DataError

SMALL = {"channels": [8, 16], "progress": False, "epochs": 15, "batch_size": 16, "lr": 3e-3}


def test_arrays_train_predict_and_load_through_the_api(tmp_path):
    images, labels = shapes_images(30, size=10)
    result = trainwise.fit((images, labels), output={"dir": str(tmp_path / "run")}, **SMALL)
    assert result.summary["kind"] == "image" and result.summary["loading"] == "memory"
    assert result.metrics["test"]["accuracy"] >= 0.8  # stripes and squares: easy to tell apart
    again = trainwise.load(tmp_path / "run")
    assert np.array_equal(again.predict(images[:5]), result.predict(images[:5]))
    assert not (tmp_path / "run" / "test.csv").exists()  # arrays cannot go into a CSV
    nchw = trainwise.fit((images[:, None], labels), save=False, **SMALL)
    assert nchw.predict_proba(images[:3, None]).shape == (3, 3)


def test_streamed_and_in_memory_runs_are_the_same_run(tmp_path):
    root = write_folder(tmp_path / "imgs", n_per_class=12)
    common = {"save": False, "epochs": 2, "seed": 3, **{k: SMALL[k] for k in ("channels",)}}
    memory = trainwise.fit(str(root), loading="memory", progress=False, **common)
    stream = trainwise.fit(str(root), loading="stream", workers=1, progress=False, **common)
    assert stream.summary["loading"] == "stream"
    assert memory.history == stream.history


def test_a_folder_trains_from_the_cli_and_predicts_a_csv_of_paths(tmp_path, run_cli):
    root = write_folder(tmp_path / "imgs", n_per_class=16, colour=True, fmt="jpg")
    fit = run_cli(
        "fit", "--data", root, "--output", tmp_path / "run", "--quiet",
        "model.channels=[8,16]", "train.epochs=3", cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert fit.returncode == 0, fit.stderr
    test_rows = pd.read_csv(tmp_path / "run" / "test.csv")
    assert list(test_rows.columns) == ["image", "label"]
    out = run_cli(
        "predict", tmp_path / "run", "--data", tmp_path / "run" / "test.csv",
        "--out", tmp_path / "p.csv", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert len(pd.read_csv(tmp_path / "p.csv")) == len(test_rows)
    scored = run_cli("evaluate", tmp_path / "run", "--data", root, cwd=tmp_path)
    assert scored.returncode == 0, scored.stderr
    assert '"accuracy"' in scored.stdout  # a class folder is labelled data too


@pytest.mark.parametrize("case", ["empty", "stray", "corrupt", "missing_csv"])
def test_bad_image_input_is_one_message_and_exit_2(tmp_path, run_cli, case):
    root = tmp_path / "data"
    if case == "empty":
        root.mkdir()
    elif case == "missing_csv":
        root = tmp_path / "nope.csv"
    else:
        write_folder(root, n_per_class=4)
        name = "notes.txt" if case == "stray" else "bad.png"
        (root / "c0" / name).write_bytes(b"not an image")
    out = run_cli("fit", "--data", root, "--output", tmp_path / "run", cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and out.stderr.startswith("trainwise:")
    assert not (tmp_path / "run").exists()


def test_predicting_rows_without_the_image_column_is_a_data_error(tmp_path):
    images, labels = shapes_images(8, size=10)
    result = trainwise.fit((images, labels), save=False, **{**SMALL, "epochs": 1})
    with pytest.raises(DataError, match="image column"):
        result.predict(pd.DataFrame({"x": [1, 2]}))


def test_a_streamed_augmented_run_resumed_mid_epoch_is_exact(tmp_path):
    """Augmentation (and Mixup) are seeded per (epoch, batch) and the streamed batches replay:
    an interrupted run resumed mid-epoch ends with the uninterrupted run's history."""
    # 25 training rows: 2 batches per epoch, so step 3 is in the middle of epoch 2
    root = write_folder(tmp_path / "imgs", n_per_class=12)
    settings = {"channels": [8], "epochs": 3, "batch_size": 16, "progress": False}
    settings |= {"loading": "stream", "workers": 0, "mixup": 0.4, "cutout": 0.3, "flip": True}
    ref = trainwise.fit(str(root), output={"dir": str(tmp_path / "ref")}, **settings)
    stopped = fit_stopped_at(3, str(root), output={"dir": str(tmp_path / "run")}, **settings)
    resumed = trainwise.fit(resume=stopped.run_folder)
    assert resumed.history == ref.history
