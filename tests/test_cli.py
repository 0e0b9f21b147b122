"""The `trainwise` command in a subprocess, the way a user meets it.

For every user mistake: exit code 2, one `trainwise: error:` line on stderr, no traceback, and no
run folder that looks complete. For the happy path: the run folder holds every promised file, and
`predict` / `evaluate` in fresh processes reproduce the test metrics the run recorded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from safetensors.numpy import load_file
from sklearn.metrics import confusion_matrix, log_loss, mean_absolute_error, r2_score

from conftest import SUBPROCESS_ENV
from trainwise.cli import main

RUN_FILES = (
    "spec.yaml",
    "data_summary.json",
    "history.jsonl",
    "metrics.json",
    "run.json",
    "test.csv",
    "model/weights.safetensors",
    "model/bundle.json",
)


def assert_one_error_line(proc, *fragments: str) -> str:
    """Exit 2, a single `trainwise: error:` line on stderr, no traceback; returns the line."""
    assert proc.returncode == 2, f"exit {proc.returncode}\nstderr:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{proc.stderr}"
    line = lines[0]
    assert line.startswith("trainwise: error: "), line
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in: {line}"
    return line


# ---------------------------------------------------------------------------------------------
# user mistakes


@dataclass
class Mistake:
    """Files to write in the working folder, the command line, and what the message must say.

    `subprocess=False` runs `trainwise.cli.main` in this process instead (same exit code and
    stderr, no interpreter start-up): used for the extra cases, to keep the default run fast.
    """

    args: list[str]
    files: dict[str, str | bytes | Callable[[pd.DataFrame], str]] = field(default_factory=dict)
    says: tuple[str, ...] = ()
    subprocess: bool = True


def _frame_csv(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[pd.DataFrame], str]:
    """File content made from the shared binary frame (a fixture), changed one way."""
    return lambda frame: change(frame).to_csv(index=False)


def _random_bytes(n: int = 4096, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


SAME = _frame_csv(lambda f: f)

MISTAKES = {
    "missing target column": Mistake(
        ["fit", "--data", "f.csv", "--target", "price"], {"f.csv": SAME}, ("'price'", "a, b, c, y")
    ),
    "empty file": Mistake(
        ["fit", "--data", "empty.csv", "--target", "y"], {"empty.csv": ""}, ("empty",)
    ),
    "header only": Mistake(
        ["fit", "--data", "h.csv", "--target", "y"], {"h.csv": "a,b,y\n"}, ("no rows",)
    ),
    # random bytes hold lone carriage returns, which once crashed the CSV sniffer
    "binary garbage (random bytes)": Mistake(
        ["fit", "--data", "g.csv", "--target", "y"], {"g.csv": _random_bytes()}, ("g.csv",)
    ),
    "binary garbage (NUL and 0xff bytes)": Mistake(
        ["fit", "--data", "g.csv", "--target", "y"],
        {"g.csv": b"\x00\x01\x02\xff\xfe" * 500},
        ("g.csv",),
        subprocess=False,
    ),
    "garbage parquet": Mistake(
        ["fit", "--data", "g.parquet", "--target", "y"],
        {"g.parquet": b"\x00garbage" * 100},
        ("g.parquet",),
        subprocess=False,
    ),
    "nonexistent file": Mistake(
        ["fit", "--data", "nothere.csv", "--target", "y"], {}, ("nothere.csv", "not found")
    ),
    "target with one class": Mistake(
        ["fit", "--data", "f.csv", "--target", "y"],
        {"f.csv": _frame_csv(lambda f: f.assign(y="same"))},
        ("'y'", "one class"),
    ),
    "all-missing feature column": Mistake(
        ["fit", "--data", "f.csv", "--target", "y"],
        {"f.csv": _frame_csv(lambda f: f.assign(e=np.nan))},
        ("'e'",),
    ),
    "all-missing feature column declared numeric": Mistake(
        ["fit", "--data", "f.csv", "--target", "y", "data.kinds={e: numeric}"],
        {"f.csv": _frame_csv(lambda f: f.assign(e=np.nan))},
        ("'e'",),
        subprocess=False,
    ),
    "non-numeric target with --task regression": Mistake(
        ["fit", "--data", "f.csv", "--target", "y", "--task", "regression"],
        {"f.csv": SAME},
        ("'y'", "non-numeric"),
    ),
    "unknown built-in dataset": Mistake(["fit", "--data", "irsi"], {}, ("did you mean 'iris'",)),
    "misspelt key in YAML": Mistake(
        ["fit", "s.yaml"],
        {"s.yaml": "data:\n  source: f.csv\n  targt: y\n", "f.csv": SAME},
        ("data.targt", "did you mean 'data.target'"),
    ),
    "misspelt key in dotted override": Mistake(
        ["fit", "--data", "f.csv", "--target", "y", "train.lrr=0.01"],
        {"f.csv": SAME},
        ("train.lrr", "did you mean 'train.lr'"),
    ),
    "misspelt section in dotted override": Mistake(
        ["fit", "--data", "f.csv", "--target", "y", "trian.lr=0.01"],
        {"f.csv": SAME},
        ("did you mean 'train'",),
        subprocess=False,
    ),
    "invalid YAML": Mistake(
        ["fit", "s.yaml"], {"s.yaml": "data: [unclosed\n  x: : :\n"}, ("s.yaml", "YAML")
    ),
    "YAML that is not a mapping": Mistake(
        ["fit", "s.yaml"], {"s.yaml": "- a\n- b\n"}, ("s.yaml",), subprocess=False
    ),
    "bad value in override": Mistake(
        ["spec", "--show", "train.optimizer=adamm"],
        {},
        ("train.optimizer", "did you mean 'adam"),
        subprocess=False,
    ),
    "spec file that does not exist": Mistake(
        ["fit", "nothere.yaml"], {}, ("nothere.yaml",), subprocess=False
    ),
    "no data at all": Mistake(["fit"], {}, ("--data",), subprocess=False),
}


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """`trainwise.cli.main(args)` in this process, in `cwd`; an uncaught exception fails."""

    def run(*args: str, cwd: Path) -> Outcome:
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return Outcome(code, out.out, out.err)

    return run


@pytest.mark.parametrize("mistake", [pytest.param(m, id=k) for k, m in MISTAKES.items()])
def test_user_mistake_exits_2_with_one_message(
    mistake: Mistake, tmp_path: Path, run_cli, run_main, binary_df: pd.DataFrame, complete_runs
):
    for name, content in mistake.files.items():
        path = tmp_path / name
        if callable(content):
            content = content(binary_df)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")

    runner = run_cli if mistake.subprocess else run_main
    proc = runner(*mistake.args, cwd=tmp_path)

    assert_one_error_line(proc, *mistake.says)
    assert complete_runs(tmp_path) == [], "a complete-looking run folder was left behind"


def test_failure_after_folder_creation_leaves_only_a_partial_folder(
    tmp_path: Path, run_main, binary_csv: Path, complete_runs
):
    proc = run_main(
        "fit",
        "--data",
        binary_csv.name,
        "--target",
        "y",
        "train.early_stopping.monitor=val_x",
        cwd=tmp_path,
    )
    assert_one_error_line(proc, "val_x")
    runs = list((tmp_path / "runs").iterdir()) if (tmp_path / "runs").exists() else []
    assert all(p.name.endswith(".partial") for p in runs), runs
    assert complete_runs(tmp_path) == []


def test_cr_only_line_endings_are_read(tmp_path: Path, run_main, binary_df: pd.DataFrame):
    """Classic-Mac line endings once crashed the CSV sniffer with a traceback."""
    text = binary_df.to_csv(index=False, lineterminator="\r")
    (tmp_path / "cr.csv").write_bytes(text.encode())
    proc = run_main(
        "fit",
        "--data",
        "cr.csv",
        "--target",
        "y",
        "--output",
        "out",
        "--quiet",
        "train.epochs=2",
        "model.hidden=[8]",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "out" / "data_summary.json").read_text())
    assert summary["rows_in"] == len(binary_df)
    assert set(summary["columns"]) == {"a", "b", "c"}


def test_predict_data_missing_model_columns_names_them(tmp_path: Path, run_cli, trained_run: Path):
    rows = pd.read_csv(trained_run / "test.csv").drop(columns=["b", "c"])
    rows.to_csv(tmp_path / "rows.csv", index=False)
    proc = run_cli("predict", trained_run, "--data", "rows.csv", "--out", "p.csv", cwd=tmp_path)
    assert_one_error_line(proc, "'b'", "'c'")
    assert not (tmp_path / "p.csv").exists()


def test_predict_to_unsupported_format_exits_2(tmp_path: Path, run_cli, trained_run: Path):
    proc = run_cli(
        "predict",
        trained_run,
        "--data",
        trained_run / "test.csv",
        "--out",
        "x.xlsx",
        cwd=tmp_path,
    )
    assert_one_error_line(proc, "x.xlsx")
    assert list(tmp_path.iterdir()) == []


def test_output_files_in_missing_folders_are_made_and_blocked_ones_named(
    tmp_path: Path, run_main, trained_run: Path
):
    # writing into a folder that did not exist ended in a traceback after the whole prediction
    test = trained_run / "test.csv"
    proc = run_main("predict", trained_run, "--data", test, "--out", "new/p.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(pd.read_csv(tmp_path / "new" / "p.csv")) == len(pd.read_csv(test))
    proc = run_main("evaluate", trained_run, "--data", test, "--out", "m/s.json", cwd=tmp_path)
    assert proc.returncode == 0 and json.loads((tmp_path / "m" / "s.json").read_text())["n"]
    (tmp_path / "file").write_text("x", encoding="utf-8")
    for command in (["predict", "--data", test], ["evaluate", "--data", test], ["report"]):
        proc = run_main(command[0], trained_run, *command[1:], "--out", "file/o.csv", cwd=tmp_path)
        assert_one_error_line(proc, "file/o.csv", "is a file")
    proc = run_main("predict", trained_run, "--data", test, "--out", "new", cwd=tmp_path)
    assert_one_error_line(proc, "'new'")


def test_evaluate_without_target_column_exits_2(tmp_path: Path, run_main, trained_run: Path):
    pd.read_csv(trained_run / "test.csv").drop(columns=["y"]).to_csv(
        tmp_path / "rows.csv", index=False
    )
    proc = run_main("evaluate", trained_run, "--data", "rows.csv", cwd=tmp_path)
    assert_one_error_line(proc, "'y'")


def test_predict_from_folder_without_model_exits_2(tmp_path: Path, run_main, binary_csv: Path):
    (tmp_path / "notarun").mkdir()
    proc = run_main("predict", "notarun", "--data", binary_csv.name, "--out", "p.csv", cwd=tmp_path)
    assert_one_error_line(proc, "notarun")


def test_fit_into_existing_nonempty_output_exits_2_and_keeps_it(
    tmp_path: Path, run_cli, binary_csv: Path, complete_runs
):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier work", encoding="utf-8")
    proc = run_cli(
        "fit", "--data", binary_csv.name, "--target", "y", "--output", "out", cwd=tmp_path
    )
    assert_one_error_line(proc, "'out'")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert (out / "keep.txt").read_text(encoding="utf-8") == "earlier work"
    assert complete_runs(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# the happy path


def _check_run_folder(out: Path, max_epochs: int) -> dict:
    for name in RUN_FILES:
        assert (out / name).is_file(), f"{name} missing from the run folder"
    assert not out.with_name(out.name + ".partial").exists()
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert 1 <= len(history) <= max_epochs
    assert all(np.isfinite(h["loss"]) for h in history)
    spec = yaml.safe_load((out / "spec.yaml").read_text())
    assert spec["train"]["epochs"] == max_epochs
    weights = load_file(str(out / "model" / "weights.safetensors"))
    assert weights and all(np.isfinite(w).all() for w in weights.values())
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == len(history) == len(metrics["epoch_seconds"])
    assert metrics["test"]["n"] == len(pd.read_csv(out / "test.csv"))
    return metrics


def test_fit_predict_evaluate_classification(tmp_path: Path, run_cli, binary_csv: Path):
    fitted = run_cli(
        "fit",
        "--data",
        "f.csv",
        "--target",
        "y",
        "--output",
        "out",
        "train.epochs=3",
        cwd=tmp_path,
    )
    assert fitted.returncode == 0, fitted.stderr
    assert "Traceback" not in fitted.stderr
    out = tmp_path / "out"
    metrics = _check_run_folder(out, max_epochs=3)
    test = metrics["test"]
    typical = sorted(metrics["epoch_seconds"])[1]  # three epochs: the median
    assert f"epochs ({metrics['train_seconds']:.1f} s, {typical:.3g} s per epoch)" in (
        fitted.stdout + fitted.stderr
    )

    predicted = run_cli("predict", "out", "--data", "out/test.csv", "--out", "p.csv", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    rows = pd.read_csv(out / "test.csv")
    pred = pd.read_csv(tmp_path / "p.csv", float_precision="round_trip")
    assert list(pred.columns) == ["prediction", "proba_no", "proba_yes"]
    assert len(pred) == len(rows)
    classes = ["no", "yes"]
    truth = rows["y"].map(classes.index).to_numpy()
    predicted_codes = pred["prediction"].map(classes.index).to_numpy()
    assert np.mean(truth == predicted_codes) == test["accuracy"]
    assert (
        confusion_matrix(truth, predicted_codes, labels=[0, 1]).tolist() == test["confusion_matrix"]
    )
    proba = pred[["proba_no", "proba_yes"]].to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert log_loss(truth, proba, labels=[0, 1]) == pytest.approx(test["log_loss"], rel=1e-9)

    evaluated = run_cli(
        "evaluate", "out", "--data", "out/test.csv", "--out", "m.json", cwd=tmp_path
    )
    assert evaluated.returncode == 0, evaluated.stderr
    again = json.loads(evaluated.stdout)
    assert again == json.loads((tmp_path / "m.json").read_text())
    for key in ("accuracy", "log_loss", "confusion_matrix", "roc_auc", "f1_macro", "n"):
        assert again[key] == test[key], key
    assert again == test


def test_fit_predict_evaluate_regression(tmp_path: Path, run_cli, regression_csv: Path):
    fitted = run_cli(
        "fit",
        "--data",
        "r.csv",
        "--target",
        "y",
        "--output",
        "out",
        "--quiet",
        "train.epochs=3",
        cwd=tmp_path,
    )
    assert fitted.returncode == 0, fitted.stderr
    out = tmp_path / "out"
    metrics = _check_run_folder(out, max_epochs=3)
    assert json.loads((out / "data_summary.json").read_text())["task"] == "regression"
    test = metrics["test"]

    predicted = run_cli(
        "predict", "out", "--data", "out/test.csv", "--out", "p.parquet", cwd=tmp_path
    )
    assert predicted.returncode == 0, predicted.stderr
    truth = pd.read_csv(out / "test.csv", float_precision="round_trip")["y"].to_numpy()
    pred = pd.read_parquet(tmp_path / "p.parquet")["prediction"].to_numpy()
    rmse = float(np.sqrt(np.mean((truth - pred) ** 2)))
    assert rmse == pytest.approx(test["rmse"], rel=1e-9)
    assert mean_absolute_error(truth, pred) == pytest.approx(test["mae"], rel=1e-9)
    assert r2_score(truth, pred) == pytest.approx(test["r2"], rel=1e-9)

    evaluated = run_cli("evaluate", "out", "--data", "out/test.csv", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    again = json.loads(evaluated.stdout)
    for key in ("rmse", "mae", "r2", "n"):
        assert again[key] == test[key], key


# ---------------------------------------------------------------------------------------------
# spec and help


def test_spec_show_prints_every_section(tmp_path: Path, run_main):
    proc = run_main("spec", "--show", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    spec = yaml.safe_load(proc.stdout)
    assert list(spec) == ["data", "model", "train", "evaluate", "output", "tune"]
    assert spec["train"]["lr"] == 1e-3
    assert spec["data"]["split"]["train"] + spec["data"]["split"]["validation"] + spec["data"][
        "split"
    ]["test"] == pytest.approx(1.0)


def test_spec_show_applies_a_dotted_override(tmp_path: Path, run_cli):
    proc = run_cli("spec", "--show", "train.lr=0.01", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load(proc.stdout)["train"]["lr"] == 0.01


def test_spec_show_merges_file_and_overrides(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text("model:\n  hidden: [8, 4]\n", encoding="utf-8")
    assert main(["spec", "--show", "s.yaml", "train.lr=0.01", "train.epochs=7"]) == 0
    spec = yaml.safe_load(capsys.readouterr().out)
    assert spec["model"]["hidden"] == [8, 4]
    assert (spec["train"]["lr"], spec["train"]["epochs"]) == (0.01, 7)


@pytest.mark.parametrize("command", [[], ["fit"], ["evaluate"], ["predict"], ["spec"]])
def test_help_exits_0(command: list[str], capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(" ".join(["usage: trainwise", *command]))
    if not command:
        for name in ("fit", "evaluate", "predict", "spec"):
            assert name in out


def test_overrides_may_follow_options(capsys: pytest.CaptureFixture[str]):
    from trainwise.cli import main

    assert main(["spec", "--show", "train.lr=0.25", "model.hidden=[8]"]) == 0
    shown = capsys.readouterr().out
    assert "lr: 0.25" in shown and "- 8" in shown
    with pytest.raises(SystemExit) as exit_info:
        main(["spec", "--show", "--no-such-flag"])
    assert exit_info.value.code == 2


def test_a_reader_that_closes_the_pipe_ends_quietly(tmp_path: Path) -> None:
    # `trainwise evaluate RUN --data F | head` ended in a BrokenPipeError traceback
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    proc = subprocess.run(
        [sys.executable, "-m", "trainwise.cli", "spec", "--show"],
        cwd=tmp_path,
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    os.close(write_end)
    assert proc.returncode == 141, proc.stderr
    assert proc.stderr == ""


def test_predict_names_values_training_never_saw(tmp_path: Path, run_cli, trained_run: Path):
    rows = pd.read_csv(trained_run / "test.csv")
    proc = run_cli(
        "predict", trained_run, "--data", trained_run / "test.csv", "--out", "p.csv", cwd=tmp_path
    )
    assert proc.returncode == 0 and "warning" not in proc.stderr
    rows["a"] = rows["a"].astype(object)
    rows.loc[0, "a"] = "abc"
    rows.loc[1:2, "c"] = "zebra"
    rows.loc[3, "b"] = np.nan  # merely missing: imputed as in training, nothing to say
    rows.to_csv(tmp_path / "odd.csv", index=False)
    proc = run_cli("predict", trained_run, "--data", "odd.csv", "--out", "p.csv", cwd=tmp_path)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    warned = [line for line in proc.stderr.splitlines() if line.startswith("trainwise: warning:")]
    assert len(warned) == 2, proc.stderr
    number, category = sorted(warned)
    assert "'a'" in number and f"1 of {len(rows)} rows" in number and "'abc'" in number
    assert "'c'" in category and f"2 of {len(rows)} rows" in category and "'zebra'" in category
    assert len(pd.read_csv(tmp_path / "p.csv")) == len(rows)  # every row is still predicted


def test_predict_does_not_import_scikit_learn(tmp_path: Path, trained_run: Path):
    """scikit-learn costs about a second to import and predicting needs none of it (splits,
    metrics and text vectorising at fit time do): `trainwise predict` must not wait for it."""
    rows = pd.read_csv(trained_run / "test.csv").drop(columns="y")
    rows.to_csv(tmp_path / "rows.csv", index=False)
    script = (
        "import sys\n"
        "from trainwise.cli import main\n"
        f"code = main(['predict', {str(trained_run)!r}, '--data', {str(tmp_path / 'rows.csv')!r}, "
        f"'--out', {str(tmp_path / 'out.csv')!r}])\n"
        "print('sklearn' in sys.modules, code)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=SUBPROCESS_ENV
    )
    assert proc.stdout.split()[-2:] == ["False", "0"], proc.stdout + proc.stderr
    assert len(pd.read_csv(tmp_path / "out.csv")) == len(rows)
