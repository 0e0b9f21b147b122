"""The whole-step compile (`train.compile`): the same updates as the eager step, in one graph."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from trainwise.train.callbacks import Callback, CallbackList
from trainwise.train.compiled_step import CompiledStep, compile_blocker
from trainwise.train.conv_as_matmul import conv1d_as_matmul, convs_as_matmul, plain_conv1d
from trainwise.train.state import TrainState
from trainwise.train.step import train_step


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Unflatten(1, (1, 24)),
        nn.Conv1d(1, 6, 5, stride=2, padding=2),
        nn.ReLU(),
        nn.Conv1d(6, 6, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(36, 3),
    )


def _state(model: nn.Module, optimizer: str = "adamw", **kw: object) -> TrainState:
    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    cls = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam, "sgd": torch.optim.SGD}[optimizer]
    groups = [{"params": decay, "weight_decay": 0.05}, {"params": rest, "weight_decay": 0.0}]
    opt = cls(groups, lr=0.01)
    return TrainState(
        model=model,
        optimizer=opt,
        loss_fn=nn.functional.cross_entropy,
        max_epochs=1,
        batch_size=16,
        generator=torch.Generator().manual_seed(0),
        **kw,
    )


class WatchStep(Callback):
    """Asks for one given step to run eagerly and records the gradient it saw there."""

    def __init__(self, at: int) -> None:
        self.at = at
        self.seen: list[int] = []

    def needs_eager_step(self, state: TrainState) -> bool:
        return state.step == self.at

    def on_after_backward(self, state: TrainState) -> None:
        self.seen.append(state.step)


def _batches(n: int) -> list[tuple[tuple[torch.Tensor], torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    return [
        ((torch.randn(16, 24, generator=g),), torch.randint(0, 3, (16,), generator=g))
        for _ in range(n)
    ]


@pytest.mark.parametrize("padding,stride", [(0, 1), (2, 2), (1, 3)])
def test_a_convolution_as_a_matrix_product_equals_the_library_convolution(padding, stride):
    x, w, b = torch.randn(4, 3, 17), torch.randn(5, 3, 3), torch.randn(5)
    expected = nn.functional.conv1d(x, w, b, stride=stride, padding=padding)
    torch.testing.assert_close(conv1d_as_matmul(x, w, b, stride, padding), expected)
    conv = nn.Conv1d(3, 5, 3, stride=stride, padding=padding)
    grouped = nn.Conv1d(6, 6, 3, groups=3)
    assert plain_conv1d(conv) and not plain_conv1d(grouped)
    with torch.no_grad():
        conv.weight.copy_(w), conv.bias.copy_(b)
    with convs_as_matmul([conv]):
        assert "_conv_forward" in vars(conv)
        torch.testing.assert_close(conv(x), expected)
        torch.testing.assert_close(conv(x[0]), expected[0])  # unbatched input
    assert "_conv_forward" not in vars(conv)  # the module is itself again


def test_compiled_steps_make_the_eager_steps_updates_and_let_watched_steps_run_eagerly():
    batches = _batches(6)
    eager = _state(_net(), clip_norm=0.5)
    compiled = _state(_net(), clip_norm=0.5)
    schedule = torch.optim.lr_scheduler.StepLR  # a schedule moving the lr between steps
    for st in (eager, compiled):
        st.scheduler, st.schedule_per = schedule(st.optimizer, step_size=2, gamma=0.5), "step"
    for inputs, y in batches:
        train_step(eager, inputs, y, CallbackList())
    step, watch = CompiledStep(), WatchStep(at=3)
    losses = [step(compiled, inputs, y, CallbackList([watch])).loss for inputs, y in batches]
    assert step.reason is None and step.compiled_steps == 5 and watch.seen == [3]
    assert compiled.step == eager.step == 6 and compiled.lr == eager.lr
    assert all(loss.requires_grad is False and loss.ndim == 0 for loss in losses)
    for a, b in zip(eager.model.parameters(), compiled.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    for p_e, p_c in zip(eager.model.parameters(), compiled.model.parameters(), strict=True):
        s_e, s_c = eager.optimizer.state[p_e], compiled.optimizer.state[p_c]
        torch.testing.assert_close(s_e["exp_avg_sq"], s_c["exp_avg_sq"], rtol=1e-4, atol=1e-8)
        assert float(s_c["step"]) == 6.0


def test_a_short_last_batch_steps_eagerly_instead_of_compiling_again():
    state, step = _state(_net()), CompiledStep()
    (inputs, y), (more, y2) = _batches(2)
    step(state, (inputs[0][:5],), y[:5], CallbackList())  # short batch first, as on a resume
    step(state, inputs, y, CallbackList())
    step(state, more, y2, CallbackList())
    step(state, (more[0][:7],), y2[:7], CallbackList())
    assert step.compiled_steps == 2 and state.step == 4


def test_a_restored_checkpoint_is_what_the_compiled_step_carries_on_from():
    batches = _batches(4)
    state, step = _state(_net()), CompiledStep()
    for inputs, y in batches[:2]:
        step(state, inputs, y, CallbackList())
    saved = copy.deepcopy(state.state_dict())
    for inputs, y in batches[2:]:
        step(state, inputs, y, CallbackList())
    after = [p.detach().clone() for p in state.model.parameters()]
    state.load_state_dict(saved)  # as resume and roll-back do: new optimizer tensors
    for inputs, y in batches[2:]:
        step(state, inputs, y, CallbackList())
    for a, b in zip(after, state.model.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    assert step.compiled_steps == 6


def test_runs_the_compiled_step_cannot_serve_are_named_and_step_eagerly():
    state = _state(_net(), optimizer="sgd")
    assert "SGD" in compile_blocker(state)
    step = CompiledStep()
    inputs, y = _batches(1)[0]
    out = step(state, inputs, y, CallbackList())
    assert step.compiled_steps == 0 and state.step == 1 and out.loss.ndim == 0
    assert "Adam" in step.reason
    assert "l1" in compile_blocker(_state(_net(), l1=1e-4))


def test_batch_norm_statistics_update_in_the_compiled_step_as_in_the_eager_one():
    def net() -> nn.Module:
        torch.manual_seed(0)
        # no bias before the norm: its gradient is zero up to rounding, which Adam's
        # normalised step turns into +-lr either way
        return nn.Sequential(
            nn.Linear(24, 8, bias=False), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)
        )

    eager, compiled, step = _state(net()), _state(net()), CompiledStep()
    for inputs, y in _batches(3):
        train_step(eager, inputs, y, CallbackList())
        step(compiled, inputs, y, CallbackList())
    assert step.compiled_steps == 3
    for a, b in zip(eager.model.buffers(), compiled.model.buffers(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    assert int(compiled.model[1].num_batches_tracked) == 3


def test_a_callback_reading_gradients_gets_every_step_eagerly_unless_it_says_otherwise():
    class ReadsGradients(Callback):
        def on_after_backward(self, state: TrainState) -> None:
            self.norm = sum(float(p.grad.norm()) for p in state.model.parameters())

    class OnlyLogs(Callback):
        def on_epoch_end(self, state: TrainState, logs: dict[str, float]) -> None: ...

    state = _state(_net())
    assert ReadsGradients().needs_eager_step(state)
    assert not OnlyLogs().needs_eager_step(state)
    assert CallbackList([OnlyLogs(), ReadsGradients()]).needs_eager_step(state)
    assert not WatchStep(at=5).needs_eager_step(state)
