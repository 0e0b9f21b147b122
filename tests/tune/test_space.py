"""The `tune.space` grammar and its validation against the spec, and sampling into specs."""

from __future__ import annotations

import optuna
import pytest

from trainwise.errors import SpecError
from trainwise.spec.io import parse_spec
from trainwise.spec.space import parse_entry
from trainwise.tune.space import SearchSpace, apply


def spec_with(space: dict, **tune) -> object:
    return parse_spec({"tune": {"space": space, **tune}})


def test_forms_parse_to_distributions():
    assert parse_entry("train.lr", "loguniform(1e-5, 1e-1)").log
    d = parse_entry("model.blocks", "int(1, 4)")
    assert (d.kind, d.low, d.high, d.grid_values()) == ("int", 1, 4, [1, 2, 3, 4])
    assert parse_entry("model.dropout", "uniform(0, 0.4, step=0.1)").grid_values() == [
        0.0,
        0.1,
        0.2,
        0.3,
        0.4,
    ]
    assert parse_entry("train.batch_size", "choice([32, 64])").choices == (32, 64)
    assert parse_entry("model.hidden", [[64], [128, 64]]).choices == ([64], [128, 64])
    assert parse_entry("train.batch_size", "int(16, 256, log=true)").log


@pytest.mark.parametrize(
    ("space", "fragment"),
    [
        ({"train.lrr": "loguniform(1e-5, 1e-1)"}, "did you mean 'train.lr'"),
        ({"train.lr": "uniform(0.1, 0.01)"}, "LOW must be below HIGH"),
        ({"train.lr": "loguniform(0, 1)"}, "needs LOW > 0"),
        ({"train.batch_size": []}, "empty choice"),
        ({"model.dropout": "uniform(0, 1.5)"}, "can yield 1.5"),
        ({"train.optimizer": ["adamw", "adamx"]}, "can yield 'adamx'"),
        ({"train.lr": "normal(0, 1)"}, "unknown distribution 'normal'"),
        ({"train.lr": "__import__('os')"}, "expected one of"),
        ({"train": "uniform(0, 1)"}, "a section"),
        ({"tune.trials": "int(1, 3)"}, "unknown field"),
        (
            {"model.channels": {"choice": [[8, 16]], "when": {"model.name": "rnn"}}},
            "fixed at 'auto'",
        ),
        (
            {
                "model.name": ["mlp"],
                "model.channels": {"choice": [[8, 16]], "when": {"model.name": "cnn1d"}},
            },
            "never yields",
        ),
        (
            {
                "model.channels": {"choice": [[8, 16]], "when": {"model.name": "cnn1d"}},
                "model.name": ["mlp", "cnn1d"],
            },
            "must come after",
        ),
    ],
)
def test_bad_spaces_fail_when_the_spec_is_read(space, fragment):
    with pytest.raises(SpecError, match=None) as err:
        spec_with(space)
    assert fragment in err.value.message


def test_zero_budgets_are_rejected():
    for tune in ({"trials": 0}, {"timeout": 0}, {"worker_processes": 0}):
        with pytest.raises(SpecError):
            spec_with({"train.lr": "uniform(0.001, 0.01)"}, **tune)


def test_empty_space_is_refused_when_tuning():
    with pytest.raises(SpecError, match="nothing to tune"):
        SearchSpace.from_spec(parse_spec({}))


def test_conditional_fields_are_sampled_only_when_their_condition_holds():
    spec = spec_with(
        {
            "model.name": ["mlp", "cnn1d"],
            "model.channels": {"choice": [[8, 16], [16, 32]], "when": {"model.name": "cnn1d"}},
            "model.hidden": {"choice": [[8], [16, 8]], "when": {"model.name": "mlp"}},
            "train.lr": "loguniform(1e-4, 1e-2)",
        }
    )
    space = SearchSpace.from_spec(spec)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(20):
        trial = study.ask()
        values = space.sample(trial, spec)
        name = values["model.name"]
        seen.add(name)
        assert ("model.channels" in values) == (name == "cnn1d")
        assert ("model.hidden" in values) == (name == "mlp")
        built = apply(spec, values)
        assert built.model.name == name and 1e-4 <= built.train.lr <= 1e-2
        if name == "mlp":
            assert built.model.hidden in ([8], [16, 8])  # lists decoded from Optuna's text
        study.tell(trial, 0.0)
    assert seen == {"mlp", "cnn1d"}


def test_grid_needs_finite_unconditional_fields():
    grid = SearchSpace.from_spec(
        spec_with({"train.batch_size": [16, 32], "model.blocks": "int(1, 3)"})
    )
    assert grid.grid() == {"train.batch_size": [16, 32], "model.blocks": [1, 2, 3]}
    assert grid.grid_size() == 6
    with pytest.raises(SpecError, match="cannot enumerate"):
        SearchSpace.from_spec(spec_with({"train.lr": "loguniform(1e-4, 1e-2)"})).grid()
