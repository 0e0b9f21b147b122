"""AutoML's choices that need no long run (the space by data kind, the refit spec), and one short
`fit --auto` whose run report shows the search (the selection rule: test_select.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from trainwise.spec.io import parse_spec
from trainwise.tune.automl import auto_space, refit_spec
from trainwise.tune.space import SearchSpace


@pytest.mark.parametrize(
    ("kind", "rows"), [("tabular", 300), ("tabular", 50_000), ("sequence", 4000)]
)
def test_auto_spaces_are_valid_specs(kind, rows):
    space = auto_space(kind, rows)
    spec = parse_spec({"tune": {"space": space}})  # validated like any user's space
    assert ("model.channels" in space) == (kind == "sequence")
    assert len(SearchSpace.from_spec(spec).dists) == len(space)


def test_refit_trains_on_train_plus_validation_for_the_kept_epochs():
    best = parse_spec({"train": {"epochs": 200}})
    refit = refit_spec(best, epochs=40)
    assert refit.data.split.validation == 0 and refit.data.split.test == best.data.split.test
    assert refit.train.epochs == 44 and not refit.train.early_stopping.enabled
    assert refit.evaluate.test


def test_auto_fit_tunes_refits_tests_once_and_writes_a_rerunnable_spec(tmp_path):
    import time

    import yaml

    import trainwise
    from conftest import binary_frame

    lines: list[str] = []
    started = time.time()
    result = trainwise.fit(
        binary_frame(),
        "y",
        auto=True,
        time_budget=20,
        epochs=10,
        output={"root": str(tmp_path)},
        log=lines.append,
    )
    took = time.time() - started
    assert result.search.counts["COMPLETE"] >= 1
    assert "accuracy" in result.metrics["test"] and "validation" not in result.metrics
    assert any(line.startswith("auto: refitting the best spec") for line in lines)
    spec = parse_spec(yaml.safe_load(result.best_spec_path.read_text()))
    assert spec.data.split.validation == 0 and not spec.train.early_stopping.enabled
    assert spec.tune.space  # the space used, for `trainwise tune best_spec.yaml`
    assert (result.path / "tuning" / "trials.csv").is_file()
    longest = pd.read_csv(result.path / "tuning" / "trials.csv")["seconds"].max()
    # the budget, overrun by less than one trial, plus writing the results, plots and report
    # (about 2 s; up to twice that on a machine running at half speed under contention)
    assert took <= 20 + longest + 6
    # the run report shows the search, with the rule that chose the refitted trial
    page = (result.path / "report.html").read_text()
    assert '<section id="tuning"><h2>Tuning</h2>' in page
    assert "tune.select=best" in page and result.search.selection.note.split(":")[0] in page
    assert (result.path / "tuning" / "selection.json").is_file()
