"""AutoML's choices that need no long run: the space by data kind, the refit spec, the 1-SE rule."""

from __future__ import annotations

import optuna
import pandas as pd
import pytest

from trainwise.spec.io import parse_spec
from trainwise.tune.automl import _one_standard_error, auto_space, refit_spec
from trainwise.tune.search import BASELINE, SearchResult
from trainwise.tune.space import SearchSpace, apply
from trainwise.tune.study import create_or_load, make_plan


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


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # ask/tell here, not optimize
@pytest.mark.parametrize(("best_value", "keeps_defaults"), [(0.91, True), (0.99, False)])
def test_one_standard_error_rule(tmp_path, best_value, keeps_defaults):
    spec = parse_spec(
        {
            "tune": {"space": {"train.lr": "loguniform(1e-4, 1e-1)"}},
            "output": {"root": str(tmp_path)},
        }
    )
    plan = make_plan(spec, "binary", "rule")
    study = create_or_load(plan, SearchSpace.from_spec(spec))
    dist = {"train.lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)}
    study.enqueue_trial({"train.lr": 1e-3}, user_attrs={BASELINE: True})
    baseline = study.ask(dist)
    study.tell(baseline, 0.90)  # on 200 validation rows: SE ≈ 0.02
    better = study.ask(dist)
    better.set_user_attr("validation_rows", 200)
    study.tell(better, best_value)
    params = {"train.lr": study.trials[1].params["train.lr"]}
    found = SearchResult(plan, best_value, params, apply(spec, params), {}, {}, 1.0)
    chosen = _one_standard_error(found, spec, log=lambda *_: None)
    assert (chosen.best_spec.train.lr == pytest.approx(1e-3)) == keeps_defaults
    assert chosen.best_value == (0.90 if keeps_defaults else best_value)


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
    # the budget, overrun by less than one trial (plus the seconds to write the results)
    assert took <= 20 + longest + 2
