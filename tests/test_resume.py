"""Exact resume: a run that is killed, stopped by a signal or interrupted and then resumed ends
bit for bit where an uninterrupted run ends — same weights, same history, same sample order.

Signals and SIGKILL need a process of their own, so those tests drive `trainwise fit` in a
subprocess and compare with one uninterrupted reference run (shared by every test and xdist
worker of the session). The sample-order test runs in-process with the Python API, where a
callback can stop the run exactly the way the signal handler does.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

import trainwise
from resume_helpers import fit_stopped_at
from trainwise.cli import main
from trainwise.errors import RunError, SpecError
from trainwise.train.checkpoint import list_checkpoints, load_checkpoint

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and flock")

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# 600 rows → 420 training rows → 27 steps per epoch at batch 16; 162 steps in all, with a
# checkpoint every 3 steps, so a signal sent once the first checkpoint exists lands mid-training.
SETTINGS = [
    "train.deterministic=true",
    "train.checkpoint.every_steps=3",
    "train.epochs=6",
    "train.batch_size=16",
    "model.hidden=[16]",
]
STEPS_PER_EPOCH = 27
TOTAL_STEPS = 6 * STEPS_PER_EPOCH
TIMEOUT = 240


# ---------------------------------------------------------------------------------------------
# helpers


def make_frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({k: rng.normal(size=n) for k in ("a", "b", "c")})
    frame["y"] = np.where(frame["a"] + 0.5 * frame["b"] > 0, "yes", "no")
    return frame


def fit_args(csv: Path, out: Path) -> list[str]:
    return ["fit", "--data", str(csv), "--target", "y", "--output", str(out), *SETTINGS, "--quiet"]


STARTED: list[subprocess.Popen[str]] = []


def start(*args: str | Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainwise.cli", *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    STARTED.append(proc)
    return proc


@pytest.fixture(autouse=True)
def _no_leftover_processes() -> Iterator[None]:
    """A failed test must not leave its training process running: kill the ones it started."""
    yield
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    _, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, err


def cli(*args: str | Path) -> tuple[int, str]:
    return finish(start(*args))


def partial_of(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def newest_step(partial: Path) -> int:
    """The newest complete checkpoint's step (-1 if none); safe while the run writes."""
    steps = [-1]
    for path in (partial / "checkpoints").glob("step-*"):
        if not path.name.endswith(".tmp") and (path / "manifest.json").is_file():
            steps.append(int(path.name.removeprefix("step-")))
    return max(steps)


def wait_for_checkpoint(proc: subprocess.Popen[str], partial: Path, above: int = -1) -> int:
    """Poll until a checkpoint newer than step `above` exists; fail if the run ends first."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        step = newest_step(partial)
        if step > above:
            return step
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(
                f"the run ended (exit {proc.returncode}) before a checkpoint > {above}:\n{err}"
            )
        time.sleep(0.005)
    proc.kill()
    pytest.fail(f"no checkpoint after step {above} within {TIMEOUT} s")


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model" / "weights.safetensors"))


def assert_same_run(run: Path, reference: Path) -> None:
    """Final weights bit-identical and history.jsonl byte-identical."""
    got, want = weights(run), weights(reference)
    assert got.keys() == want.keys()
    different = [k for k in want if not torch.equal(got[k], want[k])]
    assert not different, f"weights differ from the uninterrupted run in {different}"
    assert (run / "history.jsonl").read_text() == (reference / "history.jsonl").read_text()


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder common to every xdist worker of this session (their basetemps' parent)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    root = base / "resume-shared"
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture(scope="session")
def data_csv(shared: Path) -> Path:
    path = shared / "rows.csv"
    with locked(shared / "rows.lock"):
        if not path.is_file():
            tmp = path.with_name("rows.csv.tmp")
            make_frame().to_csv(tmp, index=False)
            tmp.replace(path)
    return path


@pytest.fixture(scope="session")
def reference(shared: Path, data_csv: Path) -> Path:
    """The uninterrupted run, trained once per session."""
    out = shared / "reference"
    with locked(shared / "reference.lock"):
        if not (out / "metrics.json").is_file():
            code, err = cli(*fit_args(data_csv, out))
            assert code == 0, err
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert len(history) == 6
    return out


# ---------------------------------------------------------------------------------------------
# the CLI: SIGKILL, SIGTERM, SIGINT


def test_sigkill_then_resume_matches_the_uninterrupted_run(
    tmp_path: Path, data_csv: Path, request: pytest.FixtureRequest
):
    out = tmp_path / "run"
    proc = start(*fit_args(data_csv, out))
    # past the first epoch, and (every 3 steps, 27 per epoch) most likely mid-epoch
    step = wait_for_checkpoint(proc, partial_of(out), above=STEPS_PER_EPOCH)
    proc.kill()
    code, _ = finish(proc)
    assert code == -signal.SIGKILL
    assert step < TOTAL_STEPS
    assert partial_of(out).is_dir() and not out.exists()

    code, err = cli("fit", "--resume", partial_of(out), "--quiet")
    assert code == 0, err
    assert out.is_dir() and not partial_of(out).exists()
    assert (out / "metrics.json").is_file()
    assert_same_run(out, request.getfixturevalue("reference"))


def test_sigterm_stops_with_a_checkpoint_and_resumes_exactly(
    tmp_path: Path, data_csv: Path, request: pytest.FixtureRequest
):
    out = tmp_path / "run"
    partial = partial_of(out)
    proc = start(*fit_args(data_csv, out))
    seen = wait_for_checkpoint(proc, partial)
    proc.send_signal(signal.SIGTERM)
    code, err = finish(proc)

    assert code == 143, err
    assert "SIGTERM" in err
    assert f"--resume {partial}" in err
    assert "Traceback" not in err
    assert not out.exists()
    checkpoints = list_checkpoints(partial / "checkpoints")
    assert checkpoints, "a stop on SIGTERM writes a checkpoint"
    last = load_checkpoint(checkpoints[0])
    assert seen <= last["position"]["step"] < TOTAL_STEPS

    code, err = cli("fit", "--resume", partial, "--quiet")
    assert code == 0, err
    assert not partial.exists()
    assert_same_run(out, request.getfixturevalue("reference"))


def test_sigint_stops_with_exit_130_and_a_checkpoint(tmp_path: Path, data_csv: Path):
    out = tmp_path / "run"
    partial = partial_of(out)
    proc = start(*fit_args(data_csv, out))
    wait_for_checkpoint(proc, partial)
    proc.send_signal(signal.SIGINT)
    code, err = finish(proc)

    assert code == 130, err
    assert "SIGINT" in err
    assert "--resume" in err
    assert "Traceback" not in err
    assert list_checkpoints(partial / "checkpoints")
    assert not out.exists()


def test_a_real_run_folder_holds_no_pickle(request: pytest.FixtureRequest):
    """Every file is text (JSON, YAML, CSV) or safetensors. (A byte-prefix test for pickle is
    unsound on safetensors: its first 8 bytes are the header length, and a 640-byte header
    starts the file with b"\\x80\\x02", pickle's protocol-2 marker.)"""
    reference = request.getfixturevalue("reference")
    files = [p for p in reference.rglob("*") if p.is_file()]
    assert any(p.parent.name.startswith("step-") for p in files)  # checkpoints are kept
    for path in files:
        data = path.read_bytes()
        if path.suffix == ".safetensors":
            (header_len,) = struct.unpack("<Q", data[:8])
            assert isinstance(json.loads(data[8 : 8 + header_len]), dict), path
        elif path.parent.name == "tensorboard":  # TFRecord-framed protobuf, for TensorBoard only
            assert path.name.startswith("events.out.tfevents."), path
            (record_len,) = struct.unpack("<Q", data[:8])
            assert 0 < record_len < len(data), path
            assert not data.startswith((b"\x80", b"PK\x03\x04")), path
        else:
            assert path.suffix in {".json", ".jsonl", ".yaml", ".csv", ".html"}, path
            data.decode("utf-8")  # text, not a binary container
            assert not data.startswith((b"\x80", b"PK\x03\x04")), path


@pytest.mark.slow
def test_resume_skips_a_damaged_newest_checkpoint_and_is_still_exact(
    tmp_path: Path, data_csv: Path, request: pytest.FixtureRequest
):
    out = tmp_path / "run"
    partial = partial_of(out)
    proc = start(*fit_args(data_csv, out))
    wait_for_checkpoint(proc, partial, above=STEPS_PER_EPOCH)
    proc.send_signal(signal.SIGTERM)
    code, err = finish(proc)
    assert code == 143, err
    newest, previous = list_checkpoints(partial / "checkpoints")[:2]
    tensors = newest / "tensors.safetensors"
    data = bytearray(tensors.read_bytes())
    data[-5] ^= 0xFF  # a weight's byte: same length, still parseable
    tensors.write_bytes(bytes(data))

    done = subprocess.run(
        [sys.executable, "-m", "trainwise.cli", "fit", "--resume", str(partial), "--quiet"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    said = done.stdout + done.stderr
    assert f"{newest.name}: tensors.safetensors does not match its recorded hash" in said
    assert previous.name in said or "previous checkpoint" in said
    assert_same_run(out, request.getfixturevalue("reference"))


# ---------------------------------------------------------------------------------------------
# resuming what cannot be resumed


def test_resuming_a_finished_run_exits_2_saying_it_finished(
    reference: Path, capsys: pytest.CaptureFixture[str]
):
    for given in (reference, partial_of(reference)):  # with or without the suffix
        assert main(["fit", "--resume", str(given)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("trainwise: error: ")
        assert "already finished" in err
        assert "start a new run without --resume" in err
        assert len(err.strip().splitlines()) == 1
    with pytest.raises(RunError, match="already finished"):
        trainwise.fit(resume=reference)
    assert (reference / "metrics.json").is_file() and not partial_of(reference).exists()


def test_resuming_a_folder_that_does_not_exist_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    missing = tmp_path / "nothing-here"
    assert main(["fit", "--resume", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "is not an interrupted run" in err
    assert "already finished" not in err
    assert not missing.exists() and not partial_of(missing).exists()


def test_resume_takes_no_other_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    code = main(["fit", "--resume", str(tmp_path / "x.partial"), "train.lr=0.1"])
    assert code == 2
    assert "--resume takes no spec" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# in-process: the order in which training rows are seen


class RowRecorder(nn.Module):
    """A user's module whose first input feature is a unique row id; it records the ids of
    every training batch (eval-mode calls — shape check, validation — are not recorded)."""

    def __init__(self, n_features: int = 3) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(n_features, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1)
        )
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.seen.append(x[:, 0].detach().clone())
        return self.body(x)


def recorder_net() -> RowRecorder:
    torch.manual_seed(7)  # the user's module is initialised outside trainwise's seeding
    return RowRecorder()


IN_PROCESS = {
    "epochs": 4,
    "batch_size": 16,
    "progress": False,
    "early_stopping": {"enabled": False},
}


@pytest.fixture
def id_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    n = 200
    frame = pd.DataFrame(
        {"u": rng.permutation(n) / n + 0.5, "a": rng.normal(size=n), "b": rng.normal(size=n)}
    )
    frame["y"] = np.where(frame["a"] + frame["b"] > 0, "yes", "no")
    path = tmp_path / "ids.csv"
    frame.to_csv(path, index=False)
    return path


def test_interrupted_and_resumed_run_sees_the_same_rows_in_the_same_order(
    tmp_path: Path, id_csv: Path
):
    ref_net = recorder_net()
    ref = trainwise.fit(id_csv, "y", model=ref_net, save=False, **IN_PROCESS)
    per_epoch = len(ref_net.seen) // 4
    assert len(ref_net.seen) == 4 * per_epoch
    stop_at = per_epoch + per_epoch // 2  # mid second epoch, not a checkpoint step otherwise

    first = recorder_net()
    out = tmp_path / "run"
    stopped = fit_stopped_at(
        stop_at, id_csv, "y", model=first, output={"dir": str(out)}, **IN_PROCESS
    )
    assert stopped.signal_name == "SIGTERM"
    assert stopped.exit_code == 143
    assert stopped.run_folder == str(partial_of(out))
    assert len(first.seen) == stop_at
    assert newest_step(partial_of(out)) == stop_at  # the stop wrote a checkpoint of its step

    second = recorder_net()  # fresh weights: the checkpoint must overwrite them
    resumed = trainwise.fit(resume=stopped.run_folder, model=second)
    assert len(second.seen) == 4 * per_epoch - stop_at

    seen = torch.cat(first.seen + second.seen)
    want = torch.cat(ref_net.seen)
    assert torch.equal(seen, want), "rows replayed or skipped around the interruption"
    # and within each epoch every training row exactly once
    rows = want.unique()
    n_per_epoch = len(want) // 4
    for e in range(4):
        epoch_rows = seen[e * n_per_epoch : (e + 1) * n_per_epoch]
        assert torch.equal(epoch_rows.sort().values, rows)

    assert resumed.history == ref.history
    for k, v in ref_net.state_dict().items():
        assert torch.equal(second.state_dict()[k], v), k
    assert resumed.path == out and (out / "metrics.json").is_file()


@pytest.fixture
def noise_csv(tmp_path: Path) -> Path:
    """Random labels: a big learning rate overfits them, so validation loss is best early."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    frame["y"] = rng.choice(["yes", "no"], size=200)
    path = tmp_path / "noise.csv"
    frame.to_csv(path, index=False)
    return path


def test_resume_after_the_best_epoch_still_restores_the_best_weights(
    tmp_path: Path, noise_csv: Path
):
    """Early stopping's best weights travel with the checkpoint: a run resumed after its best
    epoch, that never improves again, ends with the best weights like an uninterrupted one."""
    settings = {"epochs": 8, "batch_size": 16, "hidden": [64], "lr": 0.03, "dropout": 0.0}
    settings |= {"progress": False}
    ref = trainwise.fit(noise_csv, "y", output={"dir": str(tmp_path / "ref")}, **settings)
    out = tmp_path / "run"
    # step 40: epoch 5 of 8 (9 steps per epoch)
    stopped = fit_stopped_at(40, noise_csv, "y", output={"dir": str(out)}, **settings)
    resumed = trainwise.fit(resume=stopped.run_folder)
    assert resumed.history == ref.history
    # the premise: the best epoch lies before the interruption and is never beaten after it
    vals = [h["val_loss"] for h in ref.history]
    best_epoch = int(np.argmin(vals)) + 1
    assert best_epoch < 40 // 9 + 1 < len(vals), vals
    assert_same_run(out, tmp_path / "ref")
    for k, v in ref.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[k], v), k


def test_a_run_trained_on_a_dataframe_can_be_resumed(tmp_path: Path):
    frame = make_frame(200)
    out = tmp_path / "run"
    settings = {"epochs": 3, "batch_size": 16, "hidden": [16], "progress": False}
    stopped = fit_stopped_at(12, frame, "y", output={"dir": str(out)}, **settings)
    try:
        result = trainwise.fit(resume=stopped.run_folder)
    except (SpecError, trainwise.DataError):
        result = trainwise.fit(frame, resume=stopped.run_folder)
    assert result.path == out
    assert len(result.history) == 3


def test_a_resumed_run_trains_with_the_thread_count_its_first_part_recorded(tmp_path: Path):
    """The load of the machine may have changed since the interruption; the resumed steps keep
    the recorded count, since another one would compute other bits."""
    frame = make_frame(200)
    out = tmp_path / "run"
    settings = {"epochs": 3, "batch_size": 16, "hidden": [16], "progress": False}
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        stopped = fit_stopped_at(12, frame, "y", output={"dir": str(out)}, **settings)
        summary_file = partial_of(out) / "data_summary.json"
        summary = json.loads(summary_file.read_text())
        assert summary["training_budget"]["threads"]["threads"] == 1  # a small MLP: one thread
        summary["training_budget"]["threads"]["threads"] = 2  # as if chosen on an idle machine
        summary_file.write_text(json.dumps(summary))
        resumed = trainwise.fit(frame, resume=stopped.run_folder)
    finally:
        torch.set_num_threads(before)
    threads = resumed.summary["training_budget"]["threads"]
    assert threads["threads"] == 2 and "interrupted run" in threads["why"]


# ---------------------------------------------------------------------------------------------
# fault injection


@pytest.mark.slow
def test_ten_sigkills_at_random_moments_then_resume_is_exact(
    tmp_path: Path, data_csv: Path, reference: Path
):
    """SIGKILL ten times — once the run has saved past a seeded random step (so the kill lands
    mid-step, mid-save or mid-prune) or, for some resumed processes, at a random moment of their
    start-up — resuming each time; the end is exact."""
    rng = random.Random(20240601)
    out = tmp_path / "run"
    partial = partial_of(out)
    # one target in each stretch of 13 steps: spread over the run, ending well before its end
    targets = [3 + 13 * i + rng.randrange(10) for i in range(10)]
    assert targets[-1] < TOTAL_STEPS - 30
    proc = start(*fit_args(data_csv, out))
    progress = []
    for i, target in enumerate(targets):
        if 0 < i < 8 and rng.random() < 0.3:  # a resumed process, during start-up
            time.sleep(rng.uniform(0.0, 1.0))
        else:  # once this process has itself saved a checkpoint past the target
            wait_for_checkpoint(proc, partial, above=max(target - 1, newest_step(partial)))
            time.sleep(rng.uniform(0.0, 0.01))
        assert proc.poll() is None, "the run finished before it could be killed"
        proc.kill()
        code, _ = finish(proc)
        assert code == -signal.SIGKILL
        progress.append(newest_step(partial))
        assert not out.exists(), "a killed run must stay .partial"
        proc = start("fit", "--resume", partial, "--quiet")
    code, err = finish(proc)
    assert code == 0, err
    assert len(progress) == 10
    assert progress[-1] >= targets[-1], f"kills at checkpoints {progress} missed {targets}"
    assert_same_run(out, reference)
