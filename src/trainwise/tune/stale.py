"""Trials left running by a dead worker: found and failed, so their budget comes free.

Optuna fails a running trial once its heartbeat is older than the storage's grace period, and
the storage's retry callback queues it again with the same values. It skips a running trial
that never recorded a heartbeat, though, and a worker killed between claiming a trial and its
first heartbeat leaves exactly that: a trial that stays running forever and holds a place in
the trial budget, so the workers of a resumed study wait for it without end.

A live worker records its trial's first heartbeat within moments of claiming it. A running
trial seen without one for a whole grace period is therefore dead. The wait is measured on this
process's own monotonic clock from the moment it first saw the trial, so clocks that disagree
between machines sharing a study do not matter.
"""

from __future__ import annotations

import copy
import time
import warnings

import optuna
from optuna.storages import RDBStorage
from optuna.trial import TrialState


class StaleTrials:
    """Fails the trials of dead workers; call `fail` whenever a worker waits on running ones."""

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self._first_seen: dict[int, float] = {}  # trial id -> when seen running, no heartbeat

    def fail(self, study: optuna.Study) -> list[int]:
        """Fail every stale trial, queue its retry, and return the numbers of those failed."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna marks its heartbeat API experimental
            before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
            optuna.storages.fail_stale_trials(study)
            failed = [
                t.number
                for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
                if t.number not in before
            ]
            return failed + self._fail_without_heartbeat(study)

    def _fail_without_heartbeat(self, study: optuna.Study) -> list[int]:
        storage = study._storage
        backend = getattr(storage, "_backend", storage)  # the database under Optuna's cache
        if not isinstance(backend, RDBStorage) or backend.get_heartbeat_interval() is None:
            return []
        running = {
            t._trial_id: t.number
            for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        }
        silent = set(running) - _with_heartbeat(backend, list(running))
        now = time.monotonic()
        self._first_seen = {tid: self._first_seen.get(tid, now) for tid in silent}
        failed = []
        for trial_id, seen in list(self._first_seen.items()):
            if now - seen < self.grace_s:
                continue
            del self._first_seen[trial_id]
            try:
                if not storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                    continue
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # another worker failed it first, or it finished after all
            failed.append(running[trial_id])
            retry = backend.get_heartbeat_stale_trial_callback()
            if retry is not None:
                retry(study, copy.deepcopy(storage.get_trial(trial_id)))
        return failed


def _with_heartbeat(storage: RDBStorage, trial_ids: list[int]) -> set[int]:
    """Which of these trials have recorded a heartbeat."""
    if not trial_ids:
        return set()
    from optuna.storages._rdb import models

    session = storage.scoped_session()
    try:
        rows = session.query(models.TrialHeartbeatModel.trial_id).filter(
            models.TrialHeartbeatModel.trial_id.in_(trial_ids)
        )
        return {trial_id for (trial_id,) in rows}
    finally:
        storage.scoped_session.remove()


def close_queued(study: optuna.Study, attr: str) -> list[int]:
    """Fail the trials still queued (WAITING) once the budget is full, marked with the user
    attribute `attr`, and return their numbers.

    A dead worker's trial is queued again so that its place in the budget is run after all;
    when the other workers fill the budget first (two dead trials and one place left), the
    queued copies would otherwise stay waiting for ever, and a study that is finished would
    look as if it still had work in it.
    """
    storage = study._storage
    closed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        try:
            storage.set_trial_user_attr(trial._trial_id, attr, True)
            if storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                closed.append(trial.number)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker took or closed it first
    return closed
