"""One optimisation step: forward, loss, backward, clip, update.

This is the third extension point: a custom objective, mixup or DP-SGD passes its own function
with the same signature to `fit(step=...)`.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch

from trainwise.train.callbacks import Callback
from trainwise.train.state import StepOutput, TrainState


def train_step(
    state: TrainState, inputs: tuple[torch.Tensor, ...], y: torch.Tensor, cbs: Callback
) -> StepOutput:
    # a disabled autocast context still costs ~5 us to enter and leave: only enter a real one
    precision = (
        torch.autocast(y.device.type, state.autocast_dtype)
        if state.autocast_dtype is not None
        else nullcontext()
    )
    with precision:
        output = state.model(*inputs)
        loss = state.loss_fn(output.float(), y)
    if state.l1:
        loss = loss + state.l1 * sum(p.abs().sum() for p in state.penalised_parameters())
    state.step_loss = loss.detach()
    state.zero_grad()
    scaler = state.scaler
    (scaler.scale(loss) if scaler is not None else loss).backward()
    if scaler is not None:
        scaler.unscale_(state.optimizer)  # clipping and probes see true gradients
    cbs.on_after_backward(state)
    if state.clip_value is not None:
        torch.nn.utils.clip_grad_value_(state.model.parameters(), state.clip_value)
    if state.clip_norm is not None:
        torch.nn.utils.clip_grad_norm_(state.model.parameters(), state.clip_norm, foreach=True)
    if scaler is not None:
        scaler.step(state.optimizer)  # skips the step if fp16 gradients overflowed
        scaler.update()
    else:
        state.optimizer_step()
    if state.schedule_per == "step" and state.scheduler is not None:
        state.scheduler.step()
    state.step += 1
    return StepOutput(state.step_loss, output.detach(), y)
