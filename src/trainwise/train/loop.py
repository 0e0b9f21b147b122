"""The training loop. It reads top to bottom; everything optional hangs off a callback.

Hazard: the loss is accumulated as a device tensor and read once per epoch. A `.item()` per step
would force the device to finish its queue every step and cost throughput on GPUs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import torch

from trainwise.train.callbacks import Callback, CallbackList
from trainwise.train.state import TrainState
from trainwise.train.step import train_step

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
                state.epoch_loss = torch.zeros(2, device=state.device)  # sum, finite steps
                cbs.on_epoch_start(state)
            else:  # replay this epoch's batch order, then skip the batches already done
                state.generator.set_state(state.epoch_rng)
            state.model.train()
            for inputs, y in batches(state.generator, state.batch_in_epoch):
                out = step(state, inputs, y, cbs)
                finite = torch.isfinite(out.loss)  # NaN steps are counted, not averaged in
                state.epoch_loss += torch.stack([torch.where(finite, out.loss, 0.0), finite])
                state.batch_in_epoch += 1
                cbs.on_batch_end(state, out)
                if state.stop_reason is not None:  # a signal or a fault: stop mid-epoch
                    break
            else:
                loss_sum, n_finite = state.epoch_loss.tolist()  # the epoch's one host sync
                logs = {
                    "epoch": state.epoch + 1,
                    "lr": state.lr,
                    "loss": loss_sum / n_finite if n_finite else float("nan"),
                    "nonfinite_steps": state.batch_in_epoch - int(n_finite),
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
