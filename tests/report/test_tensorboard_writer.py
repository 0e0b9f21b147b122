"""TensorBoard event files: what a run writes by default, read back with TensorBoard's own
reader, and `trainwise board` serving them over HTTP."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch
from torch import nn

import trainwise
from conftest import SUBPROCESS_ENV, TINY, binary_frame
from trainwise.report.tensorboard import ImageSamples, TensorBoardWriter, free_port
from trainwise.train.loop import fit as train_loop
from trainwise.train.state import TrainState

EventAccumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator"
).EventAccumulator


def _events(folder: Path) -> EventAccumulator:
    events = EventAccumulator(
        str(folder), size_guidance={"scalars": 0, "histograms": 0, "images": 0}
    )
    events.Reload()
    return events


def test_a_run_writes_scalars_histograms_and_step_losses_by_default(tmp_path: Path):
    out = tmp_path / "run"
    result = trainwise.fit(
        binary_frame(400),
        "y",
        epochs=3,
        batch_size=16,
        output={"dir": str(out)},
        report=False,
        **TINY,
    )
    events = _events(out / "tensorboard")
    tags = events.Tags()
    for tag in ("loss/train", "loss/validation", "accuracy/validation", "lr", "loss/train_step"):
        assert tag in tags["scalars"], tag
    train_loss = [e.value for e in events.Scalars("loss/train")]
    assert train_loss == pytest.approx([h["loss"] for h in result.history], rel=1e-5)
    val_loss = [e.value for e in events.Scalars("loss/validation")]
    assert val_loss == pytest.approx([h["val_loss"] for h in result.history], rel=1e-5)
    steps = [e.step for e in events.Scalars("loss/train_step")]
    assert steps == sorted(steps) and all(s % 10 == 0 for s in steps) and len(steps) >= 5
    assert any(t.startswith("weights/") for t in tags["histograms"])
    assert any(t.startswith("gradients/") for t in tags["histograms"])


def test_tensorboard_false_writes_no_event_files(tmp_path: Path):
    out = tmp_path / "run"
    trainwise.fit(
        binary_frame(),
        "y",
        epochs=1,
        output={"dir": str(out)},
        tensorboard=False,
        report=False,
        **TINY,
    )
    assert not (out / "tensorboard").exists()


class _TinyConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def test_image_data_get_sample_inputs_and_a_prediction_grid(tmp_path: Path):
    torch.manual_seed(0)
    x = torch.randn(48, 1, 8, 8)
    y = torch.randint(0, 3, (48,))
    model = _TinyConv()
    state = TrainState(
        model=model,
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
        loss_fn=nn.CrossEntropyLoss(),
        max_epochs=2,
        batch_size=16,
        generator=torch.Generator().manual_seed(0),
    )

    def batches(gen: torch.Generator, start: int):
        order = torch.randperm(48, generator=gen)
        for i in range(start * 16, 48, 16):
            yield (x[order[i : i + 16]],), y[order[i : i + 16]]

    classes = ["cat", "dog", "<b>bird</b>"]
    samples = ImageSamples((x[:8],), [classes[i] for i in y[:8].tolist()], "multiclass", classes)
    writer = TensorBoardWriter(tmp_path / "tb", every_steps=1, images=samples)
    train_loop(state, batches, callbacks=[writer])
    tags = _events(tmp_path / "tb").Tags()
    assert {"samples/inputs", "samples/predictions"} <= set(tags["images"])
    assert len(_events(tmp_path / "tb").Scalars("loss/train_step")) == 6  # every step, 2 epochs


@pytest.mark.slow  # TensorBoard takes seconds to start
def test_board_serves_tensorboard_over_http(tmp_path: Path, trained_run: Path):
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trainwise.cli",
            "board",
            str(trained_run.parent),
            "--port",
            str(port),
        ],
        env=SUBPROCESS_ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        body = b""
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as reply:
                    assert reply.status == 200
                    body = reply.read()
                    break
            except OSError:
                time.sleep(0.5)
        assert b"TensorBoard" in body or b"tensorboard" in body, proc.poll()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    # stopping the command stops TensorBoard: nothing serves the port any more
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).close()
        except OSError:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"TensorBoard still serves port {port} after `trainwise board` stopped")


def test_board_on_a_missing_folder_is_one_clear_error(run_cli, tmp_path: Path):
    proc = run_cli("board", str(tmp_path / "nope"), cwd=tmp_path)
    assert proc.returncode == 2
    assert "not a folder" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow  # TensorBoard takes seconds to start
def test_board_served_from_a_worker_thread_returns_when_tensorboard_stops(tmp_path: Path):
    """Only the main thread may install a SIGTERM handler: from another thread the board runs
    without one instead of failing."""
    import threading

    from trainwise.report.tensorboard import serve_board

    port = free_port()
    outcome: dict[str, object] = {}

    def serve() -> None:
        try:
            outcome["code"] = serve_board(tmp_path, port)
        except Exception as error:  # the failure this test is about
            outcome["error"] = error

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and "error" not in outcome:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).close()
            break
        except OSError:
            time.sleep(0.5)
    subprocess.run(["pkill", "-f", "--", f"--port {port}"], check=False)  # stop TensorBoard
    thread.join(30)
    assert "error" not in outcome, outcome
    assert not thread.is_alive() and "code" in outcome
