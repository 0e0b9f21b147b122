"""Studies that outlive a process: two workers sharing a PostgreSQL study, and a study killed
with SIGKILL that resumes from its SQLite file with every completed trial kept.

The PostgreSQL server is a throwaway cluster (Debian's packages, installed by `make
system-deps`) in a temporary folder on a free port, stopped at the end.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from conftest import SUBPROCESS_ENV, binary_frame
from trainwise.tune.study import load_existing

pytestmark = pytest.mark.slow

N_TRIALS = 6


def write_workdir(root: Path, study: str) -> Path:
    binary_frame(n=200).to_csv(root / "f.csv", index=False)
    spec = {
        "data": {"source": "f.csv", "target": "y"},
        "model": {"hidden": [8]},
        "train": {"epochs": 15, "early_stopping": {"enabled": False}},
        "tune": {
            "space": {"train.lr": "loguniform(1e-3, 1e-1)", "model.dropout": "uniform(0, 0.3)"},
            "trials": N_TRIALS,
            "strategy": "random",
            "pruner": "none",
            "study": study,
        },
    }
    (root / "spec.yaml").write_text(yaml.safe_dump(spec))
    return root


def tune_process(cwd: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "trainwise.cli", "tune", "spec.yaml", "--quiet", *args],
        cwd=cwd,
        env=SUBPROCESS_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen, timeout: float = 600) -> tuple[str, str]:
    """Wait for a tune process; one that hangs is killed, so it cannot outlive its test."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"trainwise tune still ran after {timeout:.0f} s; its stderr:\n{err}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        pytest.skip(
            "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin: run make system-deps"
        )
    bindir = Path(bins[-1]).parent
    as_pg: list[str] = []
    home = Path(tempfile.mkdtemp(prefix="trainwise-pg-"))
    if os.geteuid() == 0:  # the server refuses to run as root: run it as `postgres`
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as postgres")
        shutil.chown(home, "postgres", "postgres")
        as_pg = ["runuser", "-u", "postgres", "--"]
    data, port = home / "data", free_port()

    def pg(*cmd: str) -> None:
        subprocess.run([*as_pg, *cmd], check=True, capture_output=True, timeout=120)

    pg(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1"
    pg(
        str(bindir / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(home / "log"),
        "-w",
        "start",
    )
    try:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE trainwise")
        conn.close()
        yield f"postgresql://postgres@127.0.0.1:{port}/trainwise"
    finally:
        pg(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(home, ignore_errors=True)


def test_two_workers_share_a_postgresql_study(tmp_path, postgres_url):
    one, two = tmp_path / "machine-a", tmp_path / "machine-b"
    for cwd in (one, two):
        cwd.mkdir()
        write_workdir(cwd, "shared")
    started = time.time()
    workers = [tune_process(cwd, "--storage", postgres_url) for cwd in (one, two)]
    outputs = [finish(w) for w in workers]
    wall = time.time() - started
    for w, (_, err) in zip(workers, outputs, strict=True):
        assert w.returncode == 0, err
    study = load_existing(postgres_url, "shared")
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(done) == N_TRIALS
    assert len({t.number for t in done}) == N_TRIALS
    assert len({tuple(sorted(t.params.items())) for t in done}) == N_TRIALS  # none ran twice
    workers_seen = {t.user_attrs["worker"] for t in done}
    assert len(workers_seen) == 2, "one worker ran every trial"
    assert all(t.state != TrialState.RUNNING for t in study.trials)
    print(f"two workers: {N_TRIALS} trials in {wall:.1f} s")


def test_a_killed_study_resumes_with_every_completed_trial(tmp_path):
    cwd = write_workdir(tmp_path, "killed")
    url = f"sqlite:///{(cwd / 'runs/tune-killed/study.db').as_posix()}"
    proc = tune_process(cwd)
    kept: dict[int, float] = {}
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
        if not (cwd / "runs/tune-killed/study.db").is_file():
            continue
        try:
            done = load_existing(url, "killed").get_trials(states=(TrialState.COMPLETE,))
        except Exception:  # the first worker may still be creating the tables
            continue
        if len(done) >= 2:
            proc.send_signal(signal.SIGKILL)
            proc.communicate()  # reaps it and closes its pipes
            break
    assert proc.returncode == -signal.SIGKILL, (
        f"the study ended before it could be killed: {proc.returncode}, {proc.communicate()[1]}"
    )
    kept = {t.number: t.value for t in load_existing(url, "killed").get_trials(
        states=(TrialState.COMPLETE,))}  # fmt: skip
    assert len(kept) >= 2
    # a worker killed just after claiming a trial, before its first heartbeat: its trial must
    # not hold a place in the budget for ever
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna expects heartbeats only inside optimize()
        load_existing(url, "killed").ask()
    rerun = tune_process(cwd)
    _, err = finish(rerun)
    assert rerun.returncode == 0, err
    study = load_existing(url, "killed")
    done = {t.number: t.value for t in study.get_trials(states=(TrialState.COMPLETE,))}
    assert {n: done[n] for n in kept} == kept  # every completed trial kept, unchanged
    assert len(done) == N_TRIALS
    # the trial that was running when the process died is failed, then run again
    unfinished = [
        (t.number, t.state.name, sorted(t.user_attrs))
        for t in study.trials
        if t.state not in (TrialState.COMPLETE, TrialState.FAIL)
    ]
    assert not unfinished, [(t.number, t.state.name) for t in study.trials] + unfinished
    assert isinstance(study, optuna.Study)


def test_local_workers_finish_the_trials_between_them(tmp_path):
    cwd = write_workdir(tmp_path, "local")
    proc = tune_process(cwd, "--workers", "2")
    _, err = finish(proc)
    assert proc.returncode == 0, err
    study = load_existing(f"sqlite:///{(cwd / 'runs/tune-local/study.db').as_posix()}", "local")
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(done) == N_TRIALS
    assert len({tuple(sorted(t.params.items())) for t in done}) == N_TRIALS
    assert len({t.user_attrs["worker"] for t in done}) == 2
