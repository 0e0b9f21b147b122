"""The HTML run report: every section present, self-contained, strings escaped, built from the
run folder alone (`trainwise report RUN`), for classification and regression."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from report_fixtures import HOSTILE, hostile_frame, write_doctor_files

import trainwise
from trainwise.errors import RunError
from trainwise.report.html import SECTIONS, build_report

FAST = {"hidden": [16], "progress": False, "tensorboard": False}


@pytest.fixture(scope="module")
def classification_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "cls"
    trainwise.fit(hostile_frame(), "label", epochs=4, output={"dir": str(out)}, **FAST)
    return out


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "reg"
    trainwise.fit("diabetes", epochs=4, output={"dir": str(out)}, **FAST)
    return out


def _sections(page: str) -> dict[str, str]:
    found = re.findall(r'<section id="([^"]+)"><h2>(.*?)</h2>(.*?)</section>', page, re.S)
    return {anchor: body for anchor, _, body in found}


def test_a_run_writes_its_report_with_every_section(classification_run: Path):
    page = (classification_run / "report.html").read_text(encoding="utf-8")
    sections = _sections(page)
    assert list(sections) == [anchor for anchor, _ in SECTIONS]
    evaluation = sections["evaluation"]
    assert evaluation.count("<img") == 2  # test and validation: confusion, ROC, calibration
    assert "<img" in sections["learning-curves"] and "<img" in sections["learning-rate"]
    assert "predictions_validation.csv" in sections["reproduce"]
    assert "<td>hidden</td><td>16</td>" in sections["overview"]  # the model as built
    metrics = json.loads((classification_run / "metrics.json").read_text())
    typical = sorted(metrics["epoch_seconds"])[1:3]  # four epochs: the median is their mean
    shown = f"<b>{sum(typical) / 2:.3g}</b>"
    assert f'<span class="muted">seconds per epoch</span>{shown}' in sections["overview"]


def test_the_page_is_self_contained(classification_run: Path):
    page = (classification_run / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    for src in re.findall(r'(?:src|href)="([^"]*)"', page):
        assert src.startswith(("data:", "#")), src
    assert "http://" not in page.replace("http://www.w3.org", "")
    assert "https://" not in page


def test_user_strings_are_escaped(classification_run: Path):
    write_doctor_files(classification_run)
    page = build_report(classification_run).read_text(encoding="utf-8")
    assert HOSTILE not in page  # never raw
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in page
    assert "&lt;yes&gt;" in page  # a class label
    assert "b &amp; c" in page


def test_doctor_files_are_rendered_when_present(classification_run: Path):
    write_doctor_files(classification_run)
    sections = _sections(build_report(classification_run).read_text(encoding="utf-8"))
    findings = sections["findings"]
    assert findings.index("sev-error") < findings.index("sev-warning") < findings.index("sev-info")
    assert "1 error, 1 warning, 1 info" in findings
    assert "raise model.dropout or lower train.epochs" in findings
    assert "best_epoch: 2" in findings and "0.41, 0.43, 0.47" in findings
    assert "epoch 2, step 40, layer body.0" in findings
    gradient = sections["gradient-flow"]
    assert "<img" in gradient and "head.weight" in gradient


def test_sections_without_their_inputs_say_so(tmp_path: Path, classification_run: Path):
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("spec.yaml", "history.jsonl", "metrics.json", "data_summary.json"):
        (bare / name).write_bytes((classification_run / name).read_bytes())
    sections = _sections(build_report(bare).read_text(encoding="utf-8"))
    assert "training doctor did not run" in sections["findings"]
    assert "No gradient statistics" in sections["gradient-flow"]
    assert "<img" not in sections["evaluation"]  # scores only: no prediction tables
    assert "accuracy" in sections["evaluation"]


def test_regression_report_has_residuals(regression_run: Path):
    sections = _sections((regression_run / "report.html").read_text(encoding="utf-8"))
    assert sections["evaluation"].count("<img") == 2
    assert "residuals" in sections["evaluation"]
    assert "rmse" in sections["overview"]


def test_prediction_tables_hold_truth_and_predictions(
    classification_run: Path, regression_run: Path
):

    metrics = json.loads((classification_run / "metrics.json").read_text())
    table = pd.read_csv(classification_run / "predictions_test.csv", dtype=str)
    assert list(table.columns) == ["truth", "prediction", "proba_<yes>", "proba_no"]
    assert len(table) == metrics["test"]["n"]
    accuracy = (table["truth"] == table["prediction"]).mean()
    assert accuracy == pytest.approx(metrics["test"]["accuracy"])
    reg = pd.read_csv(regression_run / "predictions_validation.csv")
    reg_metrics = json.loads((regression_run / "metrics.json").read_text())["validation"]
    rmse = float(((reg["truth"] - reg["prediction"]) ** 2).mean() ** 0.5)
    assert rmse == pytest.approx(reg_metrics["rmse"], rel=1e-6)


def test_report_cli_rebuilds_the_page(run_cli, classification_run: Path, tmp_path: Path):
    out = tmp_path / "again.html"
    proc = run_cli("report", str(classification_run), "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert list(_sections(out.read_text(encoding="utf-8"))) == [a for a, _ in SECTIONS]


def test_report_of_a_folder_that_is_not_a_run_is_one_clear_error(run_cli, tmp_path: Path):
    proc = run_cli("report", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2
    assert "not a run folder" in proc.stderr and "Traceback" not in proc.stderr
    with pytest.raises(RunError):
        build_report(tmp_path / "missing")


def test_report_false_writes_no_page(tmp_path: Path):
    out = tmp_path / "run"
    trainwise.fit(
        hostile_frame(100), "label", epochs=1, output={"dir": str(out)}, report=False, **FAST
    )
    assert not (out / "report.html").exists()
    assert (out / "predictions_validation.csv").is_file()
