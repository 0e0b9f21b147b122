"""`trainwise tune` and `trainwise fit --auto` from the command line: mistakes get one message
and exit code 2; a study can be listed with `--show`."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from test_cli import assert_one_error_line
from trainwise.cli import main

SPEC = {
    "data": {"source": "f.csv", "target": "y"},
    "model": {"hidden": [8]},
    "train": {"epochs": 3},
    "tune": {"space": {"train": {"lr": "loguniform(1e-3, 1e-1)"}}, "trials": 3},
}


@pytest.fixture
def workdir(tmp_path: Path, binary_csv: Path) -> Path:
    binary_csv.rename(tmp_path / "f.csv")
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(SPEC))
    return tmp_path


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["tune", "--data", "f.csv", "--target", "y"], ["nothing to tune"]),
        (["tune", "spec.yaml", "tune.space.train.lrr=uniform(0.1,0.2)"], ["'train.lrr'"]),
        (["tune", "spec.yaml", "--trials", "0"], ["--trials"]),
        (["tune", "spec.yaml", "tune.timeout=0"], ["tune.timeout"]),
        (["tune", "spec.yaml", "--strategy", "grid"], ["grid search cannot enumerate"]),
        (
            ["tune", "spec.yaml", "tune.space.model.dropout=uniform(0.5,0.1)"],
            ["LOW must be below HIGH"],
        ),
        (
            ["tune", "spec.yaml", "--storage", "postgresql://nobody@127.0.0.1:9/none"],
            ["cannot open the study storage", "postgresql://nobody@127.0.0.1:9/none"],
        ),
        (["tune", "--show", "no-such-study"], ["no study at 'no-such-study'"]),
        (["tune", "spec.yaml", "tune.metric=r2"], ["not a validation metric of a binary task"]),
        (["tune", "spec.yaml", "tune.select=bogus"], ["'tune.select'", "best, one_se"]),
        (
            ["fit", "--data", "f.csv", "--target", "y", "--auto", "tune.select=lowest"],
            ["'tune.select'", "best, one_se"],
        ),
        (
            ["tune", "spec.yaml", "data.split.validation=0", "data.split.train=0.9"],
            ["tuning needs validation rows"],
        ),
        (["fit", "--data", "f.csv", "--target", "y", "--auto", "--time-budget", "0"], ["budget"]),
    ],
)
def test_mistakes_get_one_message_and_exit_2(
    workdir, run_cli, args, fragments, monkeypatch, capsys
):
    if "--storage" in args:  # the one case run as a user meets it, in a fresh process
        proc = run_cli(*args, cwd=workdir)
    else:  # the same main() in this process: same exit code and stderr, no start-up cost
        monkeypatch.chdir(workdir)
        code = main(args)
        out = capsys.readouterr()
        proc = SimpleNamespace(returncode=code, stderr=out.err)
    assert_one_error_line(proc, *fragments)
    assert not list(workdir.glob("runs/tune-*/trials.csv"))  # nothing written for a mistake


def test_tune_then_show_prints_the_trials_and_importances(workdir, run_cli):
    proc = run_cli("tune", "spec.yaml", "--study", "cli", cwd=workdir, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "best accuracy = " in proc.stdout
    assert "report: runs/tune-cli/report.html" in proc.stdout  # the study's own page
    assert (workdir / "runs/tune-cli/report.html").is_file()
    best = yaml.safe_load((workdir / "runs/tune-cli/best_spec.yaml").read_text())
    assert 1e-3 <= best["train"]["lr"] <= 1e-1
    shown = run_cli("tune", "--show", "runs/tune-cli", cwd=workdir)
    assert shown.returncode == 0, shown.stderr
    assert "study cli: 3 complete" in shown.stdout
    assert "train.lr" in shown.stdout and "parameter importances" in shown.stdout
