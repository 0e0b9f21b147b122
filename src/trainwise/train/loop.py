"""The training loop. It reads top to bottom; everything optional hangs off a callback.

Hazard: each step's loss is kept as a device tensor (`StepLosses`) and read once per epoch. A
`.item()` per step would force the device to finish its queue every step and cost throughput on
GPUs; a running sum with a finiteness check would cost several small operations per step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import torch

from trainwise.train.callbacks import Callback, CallbackList
from trainwise.train.state import TrainState
from trainwise.train.step import train_step
from trainwise.train.step_losses import StepLosses

# batches(generator, start_batch): the epoch's batches in the generator's order, from start_batch
Batches = Callable[[torch.Generator, int], Iterator[tuple[tuple[torch.Tensor, ...], torch.Tensor]]]
Validate = Callable[[], dict[str, float]]


def fit(
    state: TrainState,
    batches: Batches,
    validate: Validate | None = None,
    step: Callable = train_step,
    callbacks: Iterable[Callback] = (),
) -> TrainState:
    """Train until `max_epochs` or until a callback sets `state.stop_reason`."""
    cbs = CallbackList(callbacks)
    cbs.on_fit_start(state)
    try:
        while state.epoch < state.max_epochs and state.stop_reason is None:
            if state.batch_in_epoch == 0:  # a fresh epoch (not one resumed mid-way)
                state.epoch_rng = state.generator.get_state()
                state.step_losses = StepLosses(state.step)
                cbs.on_epoch_start(state)
            else:  # replay this epoch's batch order, then skip the batches already done
                state.generator.set_state(state.epoch_rng)
                if state.step_losses is None:  # a checkpoint without the epoch's losses so far
                    state.step_losses = StepLosses(state.step - state.batch_in_epoch)
            state.model.train()
            for inputs, y in batches(state.generator, state.batch_in_epoch):
                out = step(state, inputs, y, cbs)
                state.step_losses.append(out.loss)
                state.batch_in_epoch += 1
                cbs.on_batch_end(state, out)
                if state.stop_reason is not None:  # a signal or a fault: stop mid-epoch
                    break
            else:
                losses = state.step_losses.read()  # the epoch's one host sync
                state.first_nonfinite_step = losses.first_nonfinite_step
                logs = {
                    "epoch": state.epoch + 1,
                    "lr": state.lr,
                    "loss": losses.mean,  # non-finite steps are counted, not averaged in
                    "nonfinite_steps": losses.nonfinite,
                }
                if validate is not None:
                    logs |= validate()
                _step_epoch_scheduler(state, logs)
                state.history.append(logs)
                state.epoch += 1
                state.batch_in_epoch = 0
                cbs.on_epoch_end(state, logs)
        if state.stop_reason is None:
            state.stop_reason = "max_epochs"
    finally:
        cbs.on_fit_end(state)
    return state


def _step_epoch_scheduler(state: TrainState, logs: dict[str, float]) -> None:
    if state.scheduler is None:
        return
    if state.schedule_per == "plateau":
        state.scheduler.step(logs.get("val_loss", logs["loss"]))
    elif state.schedule_per == "epoch":
        state.scheduler.step()
