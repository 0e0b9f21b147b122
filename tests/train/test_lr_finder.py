"""The LR range test: a sensible suggestion on a known case, the model left untouched, and
`train.lr=auto` wired through a run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

import trainwise
from trainwise.errors import Interrupted, SpecError
from trainwise.spec.io import spec_from_kwargs
from trainwise.train.callbacks import Callback
from trainwise.train.lr_finder import lr_range_test
from trainwise.train.state import TrainState


def _two_moons_like(n: int = 512, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two noisy interleaved classes in 8 dimensions: learnable, not trivial."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    y = ((x[:, 0] * x[:, 1] + 0.5 * x[:, 2]) > 0).float()
    return x, y


def _state(optimizer: str = "adam") -> TrainState:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1)
    )
    opt = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}[optimizer](model.parameters(), lr=1e-3)
    loss = nn.BCEWithLogitsLoss()
    return TrainState(
        model=model,
        optimizer=opt,
        loss_fn=lambda out, y: loss(out.squeeze(-1), y),
        max_epochs=1,
        batch_size=32,
        generator=torch.Generator().manual_seed(1),
    )


def _batches(x: torch.Tensor, y: torch.Tensor, size: int = 32):
    def batches(gen: torch.Generator, start: int):
        order = torch.randperm(len(y), generator=gen)
        for i in range(start * size, len(y), size):
            idx = order[i : i + size]
            yield (x[idx],), y[idx]

    return batches


def test_adam_on_a_small_mlp_gets_a_sensible_suggestion_and_the_sweep_stops_at_divergence():
    x, y = _two_moons_like()
    result = lr_range_test(_state("adam"), _batches(x, y))
    assert 1e-4 <= result.suggestion <= 1e-1
    assert result.suggestion == pytest.approx(result.minimum_lr / 10)
    assert "diverged" in result.stopped or "became" in result.stopped
    assert result.lrs[-1] < 10.0  # stopped before the end of the range
    # the curve fell: the smoothed minimum is well below the starting loss
    assert min(result.smoothed) < 0.8 * result.smoothed[0]
    assert len(result.lrs) == len(result.losses) == len(result.smoothed)
    assert all(b > a for a, b in zip(result.lrs, result.lrs[1:], strict=False))


def test_weights_optimizer_and_random_state_are_restored():
    x, y = _two_moons_like()
    state = _state("adam")
    weights = {k: v.clone() for k, v in state.model.state_dict().items()}
    generator_state = state.generator.get_state()
    torch.manual_seed(123)
    expected_draw = torch.rand(3)
    torch.manual_seed(123)
    lr_range_test(state, _batches(x, y), steps=40)
    assert torch.equal(torch.rand(3), expected_draw)  # global RNG (dropout) untouched
    assert torch.equal(state.generator.get_state(), generator_state)
    for name, value in state.model.state_dict().items():
        assert torch.equal(value, weights[name]), name
    assert state.optimizer.param_groups[0]["lr"] == 1e-3
    assert not state.optimizer.state  # Adam's moments from the sweep are gone


def test_sgd_suggests_a_larger_lr_than_adam():
    """Plain SGD needs larger steps than Adam: the test must see the optimizer, not a constant."""
    x, y = _two_moons_like()
    adam = lr_range_test(_state("adam"), _batches(x, y))
    sgd = lr_range_test(_state("sgd"), _batches(x, y))
    assert sgd.suggestion > adam.suggestion


def test_lr_auto_trains_to_a_good_score_and_records_the_choice(tmp_path: Path):
    out = tmp_path / "run"
    result = trainwise.fit(
        "breast_cancer",
        lr="auto",
        hidden=[32],
        epochs=15,
        progress=False,
        report=False,
        tensorboard=False,
        output={"dir": str(out)},
    )
    assert result.metrics["test"]["accuracy"] >= 0.93
    found = json.loads((out / "lr_finder.json").read_text())
    assert 1e-4 <= found["suggestion"] <= 1e-1
    assert result.history[0]["lr"] == pytest.approx(found["suggestion"])
    assert json.loads((out / "run.json").read_text())["lr"] == pytest.approx(found["suggestion"])
    assert "lr: auto" in (out / "spec.yaml").read_text()  # rerunning it searches again


def test_lr_auto_trains_exactly_like_the_suggested_lr_given_by_hand():
    common = {"hidden": [16], "epochs": 3, "progress": False, "save": False}
    auto = trainwise.fit("iris", lr="auto", **common)
    lr = auto.history[0]["lr"]
    manual = trainwise.fit("iris", lr=lr, **common)
    assert [h["loss"] for h in auto.history] == [h["loss"] for h in manual.history]


def test_lr_accepts_auto_or_a_positive_number_only():
    assert spec_from_kwargs(lr="auto").train.lr == "auto"
    assert spec_from_kwargs(lr=0.01).train.lr == 0.01
    for bad in ("fast", -1.0, 0):
        with pytest.raises(SpecError):
            spec_from_kwargs(lr=bad)


def test_lr_find_cli_prints_the_suggestion_and_writes_the_plot(run_cli, tmp_path: Path):
    proc = run_cli(
        "lr-find", "--data", "iris", "model.hidden=[16]", "--plot", "curve.png", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    line = next(s for s in proc.stdout.splitlines() if s.startswith("suggested lr:"))
    suggestion = float(line.split()[2])
    assert 1e-5 <= suggestion <= 1.0 and math.isfinite(suggestion)
    png = (tmp_path / "curve.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    assert not (tmp_path / "runs").exists()  # the range test saves nothing else


def test_lr_find_cli_rejects_a_plot_it_cannot_write(run_cli, tmp_path: Path):
    proc = run_cli("lr-find", "--data", "iris", "--plot", "curve.txt", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "--plot" in proc.stderr


class _StopAfterTwoEpochs(Callback):
    def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None:
        if state.epoch == 2:
            state.stop_reason = "interrupted by a test"


def test_a_resumed_auto_run_reuses_its_saved_lr_instead_of_searching_again(tmp_path: Path):
    out = tmp_path / "run"
    settings = {"hidden": [16], "progress": False, "report": False, "tensorboard": False}
    with pytest.raises(Interrupted):
        trainwise.fit(
            "iris",
            lr="auto",
            epochs=4,
            output={"dir": str(out)},
            callbacks=[_StopAfterTwoEpochs()],
            **settings,
        )
    saved = json.loads((tmp_path / "run.partial" / "lr_finder.json").read_text())
    lines: list[str] = []
    result = trainwise.fit(resume=out, log=lines.append)
    assert not any(line.startswith("lr-find:") for line in lines)
    assert len(result.history) == 4
    assert result.history[-1]["lr"] == pytest.approx(saved["suggestion"])
