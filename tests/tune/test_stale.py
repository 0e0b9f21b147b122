"""Trials a dead worker left running are failed and queued again, heartbeat or none."""

from __future__ import annotations

import time
import warnings

import optuna
from optuna.trial import TrialState

from trainwise.tune.stale import StaleTrials, close_queued
from trainwise.tune.study import open_storage


def make_study(tmp_path) -> optuna.Study:
    storage = open_storage(f"sqlite:///{(tmp_path / 'study.db').as_posix()}")
    return optuna.create_study(storage=storage, study_name="s")


def claim(study: optuna.Study) -> optuna.Trial:
    """A trial taken as a worker takes it, before its first heartbeat."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna expects heartbeats only inside optimize()
        return study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})


def states(study: optuna.Study) -> list[str]:
    return [t.state.name for t in study.get_trials(deepcopy=False)]


def test_a_trial_claimed_without_a_heartbeat_is_failed_after_the_grace_period(tmp_path):
    study = make_study(tmp_path)
    claimed = claim(study)  # then the worker died
    stale = StaleTrials(grace_s=0.5)
    assert stale.fail(study) == []  # first seen now: it may still record its heartbeat
    assert states(study) == ["RUNNING"]
    time.sleep(0.6)
    assert stale.fail(study) == [claimed.number]
    trials = study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING]
    assert trials[1].params == trials[0].params  # queued again with the same values


def test_a_trial_with_a_fresh_heartbeat_is_left_running(tmp_path):
    study = make_study(tmp_path)
    live = claim(study)
    study._storage.record_heartbeat(live._trial_id)
    stale = StaleTrials(grace_s=0.2)
    stale.fail(study)
    time.sleep(0.3)
    study._storage.record_heartbeat(live._trial_id)
    assert stale.fail(study) == []
    assert states(study) == ["RUNNING"]


def test_a_trial_that_records_its_heartbeat_late_is_no_longer_counted_silent(tmp_path):
    study = make_study(tmp_path)
    slow = claim(study)
    stale = StaleTrials(grace_s=0.3)
    stale.fail(study)  # seen without a heartbeat
    study._storage.record_heartbeat(slow._trial_id)  # its worker was only slow to start
    time.sleep(0.4)
    assert stale.fail(study) == []  # its heartbeat is 0.4 s old, inside the storage's grace
    assert states(study) == ["RUNNING"]


def test_retries_queued_after_the_budget_filled_are_closed(tmp_path):
    study = make_study(tmp_path)
    done = claim(study)
    study.tell(done, 0.5)
    dead = [claim(study), claim(study)]  # two workers die; each trial is queued again
    stale = StaleTrials(grace_s=0.0)
    assert sorted(stale.fail(study)) == [t.number for t in dead]
    assert states(study) == ["COMPLETE", "FAIL", "FAIL", "WAITING", "WAITING"]
    # the budget fills before the queued copies run: they are closed, not left waiting
    assert close_queued(study, "skipped") == [3, 4]
    trials = study.get_trials(deepcopy=False)
    assert states(study) == ["COMPLETE", "FAIL", "FAIL", "FAIL", "FAIL"]
    assert [t.user_attrs.get("skipped") for t in trials[3:]] == [True, True]
    assert close_queued(study, "skipped") == []
