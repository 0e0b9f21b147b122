"""The Tuning section of the run report and the study report of `trainwise tune`: the trials
table, the defaults against the chosen trial, figures that decode, escaping and truncation."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from PIL import Image
from report_fixtures import HOSTILE

import trainwise
from trainwise.cli import main
from trainwise.report.html import SECTIONS, build_report
from trainwise.report.tuning import MAX_ROWS, section

FAST = {"hidden": [8], "epochs": 4, "progress": False, "tensorboard": False}
SPACE = {"train.lr": "loguniform(1e-4, 1e-1)", "model.hidden": [[8], [16, 8]]}


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> trainwise.tune.search.SearchResult:
    """Four cross-validated trials on wine; the defaults (lr 1e-4 for 4 epochs) barely train, so
    every other trial beats them by far more than one standard error."""
    root = tmp_path_factory.mktemp("study")
    return trainwise.tune(
        "wine",
        tune={
            "space": SPACE,
            "trials": 4,
            "startup_trials": 1,
            "pruner": "none",
            "select": "one_se",
        },
        evaluate={"cv": 3},
        lr=1e-4,
        output={"root": str(root)},
        log=lambda *_: None,
        **FAST,
    )


def _sections(page: str) -> dict[str, str]:
    found = re.findall(r'<section id="([^"]+)"><h2>(.*?)</h2>(.*?)</section>', page, re.S)
    return {anchor: body for anchor, _, body in found}


def _between(html: str, start: str, end: str) -> str:
    return html[html.index(start) : html.index(end, html.index(start))]


def _decoded_images(html: str) -> list[tuple[int, int]]:
    sizes = []
    for data in re.findall(r'src="data:image/png;base64,([^"]+)"', html):
        with Image.open(io.BytesIO(base64.b64decode(data))) as image:
            image.load()
            sizes.append(image.size)
    return sizes


def test_a_study_writes_a_report_with_its_trials_and_the_choice(study):
    folder = Path(study.plan.folder)
    page = (folder / "report.html").read_text()
    assert study.files["report"] == folder / "report.html"
    parts = _sections(page)
    assert list(parts) == ["tuning", "best-spec", "reproduce"]
    tuning = parts["tuning"]
    trials = _between(tuning, "<h3>Trials</h3>", "<h3>Optimisation history</h3>")
    assert trials.count("<tr") == 1 + 4  # the header and one row per trial
    for number in range(4):
        assert f'<td class="num">{number}</td>' in trials
    selection = json.loads((folder / "selection.json").read_text())
    assert selection["rule"] == "one_se" and selection["baseline"] == 0
    assert selection["best"] != 0 and not selection["within_se"]
    assert selection["chosen"] == selection["best"]  # far beyond one standard error
    assert "tune.select=one_se" in tuning
    assert "Best − defaults: +" in tuning and "paired over the same 3 folds" in tuning
    assert '<tr class="best">' in trials  # the best trial's row is highlighted
    # the chosen spec is the chosen trial's
    best_spec = yaml.safe_load((folder / "best_spec.yaml").read_text())
    row = next(
        r
        for r in json.loads((folder / "trials.json").read_text())
        if r["trial"] == selection["chosen"]
    )
    assert best_spec["train"]["lr"] == pytest.approx(row["train.lr"])
    # history, importances (4 trials whose values differ) and parallel coordinates
    sizes = _decoded_images(tuning)
    assert len(sizes) == 3 and all(w > 100 and h > 100 for w, h in sizes)
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")


def test_trainwise_report_rebuilds_a_study_page(study, capsys):
    folder = Path(study.plan.folder)
    (folder / "report.html").unlink()
    assert main(["report", str(folder)]) == 0
    assert "Study report: " in (folder / "report.html").read_text()
    assert str(folder / "report.html") in capsys.readouterr().out


def test_a_run_holding_tuning_results_gets_a_tuning_section_after_its_spec(study, tmp_path):
    out = tmp_path / "run"
    trainwise.fit("wine", output={"dir": str(out), "report": False}, **FAST)
    shutil.copytree(study.plan.folder, out / "tuning")
    page = build_report(out).read_text()
    anchors = list(_sections(page))
    expected = [a for a, _ in SECTIONS]
    expected.insert(expected.index("spec") + 1, "tuning")
    assert anchors == expected
    assert len(_decoded_images(_sections(page)["tuning"])) == 3


def _rows(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        rows.append(
            {
                "trial": i,
                "state": "complete",
                "score": 0.5 + i / (2 * n),
                "seconds": 1.0,
                "epochs": 10,
                "train.lr": 10 ** (-4 + 3 * i / n),
                "model.hidden": json.dumps([16 * (1 + i % 3)]),
                "model.activation": ["relu", "gelu"][i % 2],
            }
        )
    rows[5] = {
        "trial": 5,
        "state": "pruned",
        "score": None,
        "seconds": 0.4,
        "epochs": None,
        "train.lr": 0.01,
        "model.hidden": "[16]",
        "model.activation": "relu",
    }
    rows[6] = {
        "trial": 6,
        "state": "fail",
        "score": None,
        "seconds": 0.1,
        "epochs": None,
        "train.lr": 0.5,
        "error": f"diverged on column {HOSTILE}",
    }
    return rows


def test_long_tables_show_the_best_trials_with_a_note_and_strings_are_escaped(tmp_path):
    folder = tmp_path / "tuning"
    folder.mkdir()
    rows = _rows(120)
    (folder / "trials.json").write_text(json.dumps(rows))
    (folder / "importances.json").write_text(json.dumps({"train.lr": 0.8, "model.hidden": 0.2}))
    html = section(folder)
    trials = _between(html, "<h3>Trials</h3>", "<h3>Optimisation history</h3>")
    assert trials.count("<tr") == 1 + MAX_ROWS
    assert f"Showing the best {MAX_ROWS} of 120 trials" in trials
    first = re.search(r"<tbody><tr[^>]*>(.*?)</tr>", trials).group(1)
    assert '<td class="num">119</td>' in first  # the best score first
    # results written before selection.json existed: the best trial is named, nothing compared
    assert "no comparison with the defaults" in html
    # the failed trial and its error are beyond the best 50, so not shown; nothing raw either
    assert HOSTILE not in html
    with_error = section(_with_rows(tmp_path / "short", _rows(8)))
    assert HOSTILE not in with_error and "&lt;script&gt;" in with_error
    assert len(_decoded_images(html)) == 3


def _with_rows(folder: Path, rows: list[dict]) -> Path:
    folder.mkdir()
    (folder / "trials.json").write_text(json.dumps(rows))
    return folder
