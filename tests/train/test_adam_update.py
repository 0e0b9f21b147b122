"""The direct fused Adam/AdamW update: the library's step to the bit, and the library's step
itself wherever anything is unusual."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from trainwise.train.adam_update import DirectAdamUpdate


def _pair(kind: type[torch.optim.Optimizer], **options: object):  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    twin = copy.deepcopy(model)

    def groups(m: nn.Module) -> list[dict]:
        return [
            {"params": [p for p in m.parameters() if p.ndim > 1], "weight_decay": 0.05},
            {"params": [p for p in m.parameters() if p.ndim <= 1], "weight_decay": 0.0},
        ]

    reference = kind(groups(model), lr=0.01, fused=True, **options)
    direct = kind(groups(twin), lr=0.01, fused=True, **options)
    return model, reference, twin, direct


def _gradients(model: nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(16, 6, generator=gen)
    for p in model.parameters():
        p.grad = None
    model(x).pow(2).mean().backward()


def _step_both(  # type: ignore[no-untyped-def]
    model, reference, twin, update, step: int, between=None
) -> None:
    """The same gradients on both models, `between(step)` (what a callback does before the
    update), then the library's step and the direct one."""
    _gradients(model, step)
    _gradients(twin, step)
    if between is not None:
        between(step)
    reference.step()
    update()


def _same(a: nn.Module, b: nn.Module) -> None:
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize("kind", [torch.optim.Adam, torch.optim.AdamW])
def test_direct_updates_are_the_library_steps_bit_for_bit(kind: type) -> None:
    model, reference, twin, direct = _pair(kind)
    update = DirectAdamUpdate(direct)
    schedule = torch.optim.lr_scheduler.LambdaLR(direct, lambda step: 1 / (1 + step))
    reference_schedule = torch.optim.lr_scheduler.LambdaLR(reference, lambda step: 1 / (1 + step))
    for step in range(6):
        _gradients(model, step)
        _gradients(twin, step)
        reference.step()
        update()
        reference_schedule.step()
        schedule.step()
        _same(model, twin)
    assert update.direct_steps == 5  # the first step created the state through the library
    for p, q in zip(reference.state.values(), direct.state.values(), strict=True):
        assert all(torch.equal(p[k], q[k]) for k in ("exp_avg", "exp_avg_sq", "step"))


def test_a_restored_checkpoint_is_what_the_next_direct_update_starts_from() -> None:
    model, reference, twin, direct = _pair(torch.optim.AdamW)
    update = DirectAdamUpdate(direct)
    for step in range(3):
        _step_both(model, reference, twin, update, step)
    saved_model, saved_opt = copy.deepcopy(twin.state_dict()), copy.deepcopy(direct.state_dict())
    for step in range(3, 5):  # steps that the restore throws away
        _gradients(twin, step)
        update()
    twin.load_state_dict(saved_model)
    direct.load_state_dict(saved_opt)
    for step in range(3, 6):
        _step_both(model, reference, twin, update, step)
        _same(model, twin)


def test_a_parameter_without_a_gradient_steps_through_the_library() -> None:
    model, reference, twin, direct = _pair(torch.optim.AdamW)
    update = DirectAdamUpdate(direct)

    def drop_a_gradient(step: int) -> None:
        if step == 2:  # the last layer's bias gets no gradient this step
            model[2].bias.grad = None
            twin[2].bias.grad = None

    for step in range(4):
        _step_both(model, reference, twin, update, step, drop_a_gradient)
        _same(model, twin)
    assert update.direct_steps == 2  # steps 1 and 3


def test_hooks_options_and_other_optimizers_keep_the_library_step() -> None:
    calls: list[int] = []
    model, reference, twin, direct = _pair(torch.optim.AdamW)
    direct.register_step_post_hook(lambda *_: calls.append(1))
    update = DirectAdamUpdate(direct)
    for step in range(3):
        _gradients(twin, step)
        update()
    assert calls == [1, 1, 1] and update.direct_steps == 0

    for kind, options in (
        (torch.optim.AdamW, {"amsgrad": True}),
        (torch.optim.Adam, {"maximize": True}),
        (torch.optim.SGD, {"momentum": 0.9}),
    ):
        model, reference, twin, direct = _pair(kind, **options)
        update = DirectAdamUpdate(direct)
        for step in range(3):
            _step_both(model, reference, twin, update, step)
            _same(model, twin)
        assert update.direct_steps == 0, kind


def test_the_state_clears_gradients_and_leaves_an_optimizers_own_zero_grad_to_it() -> None:
    from trainwise.train.state import TrainState

    class ClearsMore(torch.optim.SGD):
        cleared = 0

        def zero_grad(self, set_to_none: bool = True) -> None:
            ClearsMore.cleared += 1
            super().zero_grad(set_to_none)

    model, _, twin, direct = _pair(torch.optim.AdamW)
    for net, opt in ((twin, direct), (model, ClearsMore(model.parameters(), lr=0.1))):
        state = TrainState(net, opt, nn.functional.mse_loss, 1, 16, torch.Generator())
        _gradients(net, 0)
        state.zero_grad()
        assert all(p.grad is None for p in net.parameters())
    assert ClearsMore.cleared == 1


def test_state_reset_in_place_is_seen_and_the_update_starts_afresh() -> None:
    model, reference, twin, direct = _pair(torch.optim.AdamW)
    update = DirectAdamUpdate(direct)

    def reset_state(step: int) -> None:
        if step == 3:  # a callback that restarts the moments
            reference.state.clear()
            direct.state.clear()
        if step == 4:
            reference.state[next(iter(model.parameters()))] = {}
            direct.state[next(iter(twin.parameters()))] = {}

    for step in range(6):
        _step_both(model, reference, twin, update, step, reset_state)
        _same(model, twin)
    assert len(direct.state) == len(reference.state)


def test_a_schedule_created_after_the_state_steps_without_a_warning() -> None:
    """As when a compiled step made the state before its compile failed: the first update of
    the schedule's life is a direct one, and PyTorch warns about schedules stepped before any
    optimizer step (which the test suite turns into an error)."""
    _, _, twin, direct = _pair(torch.optim.AdamW)
    _gradients(twin, 0)
    direct.step()  # creates the state
    schedule = torch.optim.lr_scheduler.LambdaLR(direct, lambda step: 0.5**step)
    update = DirectAdamUpdate(direct)
    _gradients(twin, 1)
    update()
    schedule.step()
    assert update.direct_steps == 1
