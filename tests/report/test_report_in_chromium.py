"""The report in a real headless Chromium: the page loads from file:// with no console or page
error, every section heading is there, every figure decodes, and a screenshot is saved (its path
is printed; see it with `pytest -rP` or `-s`).

Needs Debian's chromium (`make system-deps`) and the playwright package; skipped otherwise.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from report_fixtures import hostile_frame, write_doctor_files

import trainwise
from trainwise.report.html import SECTIONS, build_report

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TITANIC = Path("/work/shared/datasets/titanic.csv")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (install it with `make system-deps`)"
)


@pytest.fixture(scope="module")
def browser() -> Any:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


def render(browser: Any, report: Path, screenshot: Path) -> dict[str, Any]:
    """Open the report, collect errors, headings and image sizes, save a full-page screenshot."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    try:
        page.goto(report.resolve().as_uri(), wait_until="load")
        headings = page.locator("section > h2").all_inner_texts()
        images = page.evaluate(
            "() => Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])"
        )
        page.screenshot(path=str(screenshot), full_page=True)
    finally:
        page.close()
    print(f"screenshot: {screenshot}")
    return {"errors": errors, "headings": headings, "images": images, "requests": requests}


def assert_renders(
    seen: dict[str, Any], screenshot: Path, figures: int, headings: list[str] | None = None
) -> None:
    assert seen["errors"] == []
    assert seen["headings"] == (headings or [title for _, title in SECTIONS])
    assert len(seen["images"]) >= figures
    for alt, complete, width in seen["images"]:
        assert complete and width > 0, f"figure {alt!r} did not decode"
    # nothing but the page itself and its inline data: works offline
    assert all(url.startswith(("file://", "data:")) for url in seen["requests"]), seen["requests"]
    assert screenshot.read_bytes().startswith(b"\x89PNG")


def test_classification_report_of_a_builtin_dataset_renders(browser: Any, tmp_path: Path):
    out = tmp_path / "wine"
    trainwise.fit("wine", hidden=[16], epochs=5, progress=False, output={"dir": str(out)})
    write_doctor_files(out)
    report = build_report(out)
    shot = tmp_path / "wine-report.png"
    # learning curves, LR, gradient flow, test and validation evaluation
    assert_renders(render(browser, report, shot), shot, figures=5)


def test_report_with_hostile_names_renders_without_running_them(browser: Any, tmp_path: Path):
    out = tmp_path / "hostile"
    trainwise.fit(
        hostile_frame(), "label", hidden=[16], epochs=3, progress=False, output={"dir": str(out)}
    )
    write_doctor_files(out)
    shot = tmp_path / "hostile-report.png"
    assert_renders(render(browser, build_report(out), shot), shot, figures=5)


@pytest.mark.slow
def test_regression_report_renders(browser: Any, tmp_path: Path):
    out = tmp_path / "diabetes"
    trainwise.fit("diabetes", epochs=20, progress=False, output={"dir": str(out)})
    shot = tmp_path / "diabetes-report.png"
    assert_renders(render(browser, out / "report.html", shot), shot, figures=4)


@pytest.mark.slow
@pytest.mark.skipif(not TITANIC.exists(), reason=f"{TITANIC} is absent (see datasets README)")
def test_titanic_report_renders_with_every_section(browser: Any, tmp_path: Path):
    data = tmp_path / "titanic.csv"
    shutil.copy(TITANIC, data)
    out = tmp_path / "titanic"
    result = trainwise.fit(
        str(data), "Survived", lr="auto", epochs=40, progress=False, output={"dir": str(out)}
    )
    assert result.metrics["test"]["accuracy"] > 0.75
    shot = tmp_path / "titanic-report.png"
    seen = render(browser, out / "report.html", shot)
    # learning curves, LR schedule, LR range test, test and validation evaluation
    assert_renders(seen, shot, figures=5)
    assert any(alt == "LR range test" for alt, _, _ in seen["images"])


def test_tuning_section_and_study_report_render(browser: Any, tmp_path: Path):
    found = trainwise.tune(
        "wine",
        tune={
            "space": {"train.lr": "loguniform(1e-3, 1e-1)", "model.hidden": [[8], [16]]},
            "trials": 3,
            "startup_trials": 1,
        },
        hidden=[8],
        epochs=3,
        progress=False,
        tensorboard=False,
        output={"root": str(tmp_path / "runs")},
        log=lambda *_: None,
    )
    study = Path(found.plan.folder)
    shot = tmp_path / "study-report.png"
    # history, importances and parallel coordinates
    seen = render(browser, study / "report.html", shot)
    assert_renders(seen, shot, figures=3, headings=["Tuning", "Chosen spec", "Use it"])
    out = tmp_path / "wine"
    trainwise.fit("wine", hidden=[8], epochs=3, progress=False, output={"dir": str(out)})
    shutil.copytree(study, out / "tuning")
    headings = [title for _, title in SECTIONS]
    headings.insert(headings.index("Spec") + 1, "Tuning")
    shot = tmp_path / "wine-tuned-report.png"
    seen = render(browser, build_report(out), shot)
    assert_renders(seen, shot, figures=8, headings=headings)
    assert {"Optimisation history", "Parallel coordinates"} <= {alt for alt, _, _ in seen["images"]}
